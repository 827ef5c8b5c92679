"""The operator's doors to money moved back and out through the provider (B11, D23, D24):
creators' onboarding links (Stripe Connect), deposit refunds, an invoice's void and credit notes,
the disputes of an account's payments, and the paid invoices the provider does not list yet.

Every route only parses, calls the engine and renders; the rules live in
``meterstack.services.payments`` and ``meterstack.services.wallet``. A provider that could not
be reached answers 503 with nothing recorded, or with the refund recorded and pending (it is
sent again by the next attempt, never twice).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from meterstack.server.auth import EngineDep, OperatorDep, operator_actor
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.money_schemas import (
    CreditNoteBody,
    DepositRefundBody,
    DepositRefundOut,
    DisputeOut,
    DisputesOut,
    InvoiceMirrorOut,
    InvoiceMirrorsOut,
    OnboardingLinkBody,
    OnboardingLinkOut,
    RefundOut,
    RefundsOut,
)
from meterstack.server.operator import BODY, OPERATOR, PATH
from meterstack.server.operator_schemas import OperatorInvoiceOut

router = APIRouter(prefix="/v1", route_class=DoorRoute)

AccountId = Annotated[str, Path(min_length=1, max_length=80)]
EntryId = Annotated[str, Path(min_length=1, max_length=40)]
Number = Annotated[str, Path(min_length=1, max_length=40)]


@router.post(
    "/marketplace/creators/{account_id}/onboarding-link",
    response_model=OnboardingLinkOut,
    responses=errors(*OPERATOR, *BODY, 404, 409),
)
def onboarding_link(
    account_id: AccountId, body: OnboardingLinkBody, _: OperatorDep, engine: EngineDep
) -> OnboardingLinkOut:
    """B11: the creator's link to the provider's onboarding (its account opened on first
    need); 409 ``onboarding_not_needed`` for a provider that pays creators as they are."""
    url = engine.onboarding_link(
        account_id,
        refresh_url=body.refresh_url,
        return_url=body.return_url,
        actor=operator_actor(),
    )
    account = engine.creator_account(account_id)
    assert account is not None, "the link opened the account"
    return OnboardingLinkOut.of(url, account)


@router.post(
    "/wallet/deposits/{entry_id}/refund",
    response_model=DepositRefundOut,
    responses=errors(*OPERATOR, *BODY, 402, 404, 409),
)
def refund_deposit(
    entry_id: EntryId, body: DepositRefundBody, _: OperatorDep, engine: EngineDep
) -> DepositRefundOut:
    """D24: give a deposit back through the provider, once, at most the unspent balance."""
    balance = engine.refund_deposit(entry_id, body.amount, actor=operator_actor())
    [refund] = engine.refunds("deposit", entry_id)
    return DepositRefundOut(
        account_id=refund.account_id, balance=str(balance), refund=RefundOut.of(refund)
    )


@router.post(
    "/invoices/{number}/void",
    response_model=OperatorInvoiceOut,
    responses=errors(*OPERATOR, *PATH, 404, 409),
)
def void_invoice(number: Number, _: OperatorDep, engine: EngineDep) -> OperatorInvoiceOut:
    """Void an invoice; a paid one's collected money (less its credit notes) is refunded."""
    return OperatorInvoiceOut.of(engine.void_invoice(number, actor=operator_actor()))


@router.post(
    "/invoices/{number}/credit-notes",
    status_code=201,
    response_model=RefundOut,
    responses=errors(*OPERATOR, *BODY, 404, 409),
)
def credit_invoice(
    number: Number, body: CreditNoteBody, _: OperatorDep, engine: EngineDep
) -> RefundOut:
    """A credit note of a paid invoice: ``amount`` refunded through the provider."""
    note = engine.credit_invoice(number, body.amount, body.reason, actor=operator_actor())
    return RefundOut.of(note.refund)


@router.get(
    "/invoices/{number}/credit-notes",
    response_model=RefundsOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def credit_notes(number: Number, _: OperatorDep, engine: EngineDep) -> RefundsOut:
    return RefundsOut(refunds=[RefundOut.of(refund) for refund in engine.credit_notes(number)])


@router.get(
    "/accounts/{account_id}/disputes",
    response_model=DisputesOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def disputes(account_id: AccountId, _: OperatorDep, engine: EngineDep) -> DisputesOut:
    """The disputes of the account's payments (deposits, reloads, invoices), oldest first."""
    return DisputesOut(disputes=[DisputeOut.of(d) for d in engine.disputes(account_id)])


@router.get("/invoice-mirrors", response_model=InvoiceMirrorsOut, responses=errors(*OPERATOR))
def invoice_mirrors(_: OperatorDep, engine: EngineDep) -> InvoiceMirrorsOut:
    """Invoices a checkout paid whose mirror the provider failed to make (B10: its portal
    lists them once made); the collections runner retries each."""
    return InvoiceMirrorsOut(
        mirrors=[InvoiceMirrorOut.of(m) for m in engine.pending_invoice_mirrors()]
    )
