"""The bodies and answers of the doors that move money back and out through the provider:
creators' onboarding links, deposit refunds, credit notes, disputes and the mirrors of paid
invoices (D15: money as decimal strings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from meterstack.bounds import MAX_AMOUNT
from meterstack.money import in_currency_places
from meterstack.records.payments import InvoiceMirror, MoneyRefund, PaymentDispute
from meterstack.records.wallet import CreatorAccount
from meterstack.server.bodies import Body, DecimalText

Url = Annotated[str, Field(min_length=1, max_length=2000)]
#: Bounds as ints: pydantic's refusal then reads ``less than or equal to 1000000000000`` as a
#: person writes it, where a Decimal bound reads ``Decimal('1000000000000')``.
Positive = Annotated[DecimalText, Field(gt=0, le=int(MAX_AMOUNT), decimal_places=6)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class OnboardingLinkBody(Body):
    #: Where Stripe sends a creator whose link expired (ask for a new one there), and where it
    #: sends one who finished; both on the service's origin or an allowed one (D30).
    refresh_url: Url
    return_url: Url


class OnboardingLinkOut(BaseModel):
    """Where the creator sets up the account payouts are paid to (a short-lived link)."""

    url: str
    creator_id: str
    provider_account: str
    #: Whether the provider can pay the account yet (``account.updated`` says when).
    payouts_enabled: bool

    @classmethod
    def of(cls, url: str, account: CreatorAccount) -> OnboardingLinkOut:
        return cls(
            url=url,
            creator_id=account.creator_id,
            provider_account=account.provider_account,
            payouts_enabled=account.payouts_enabled,
        )


class DepositRefundBody(Body):
    #: Part of the deposit; the whole of it when absent. At most the unspent balance (402).
    amount: Positive | None = None


class CreditNoteBody(Body):
    #: Whole minor units of the invoice's currency, at most what is left to credit.
    amount: Positive
    reason: Reason


class RefundOut(BaseModel):
    """Money given back through the provider: ``pending`` until the provider confirms it."""

    id: str
    account_id: str
    source: str
    reference: str
    amount: str
    currency: str
    status: str
    attempts: int
    reason: str | None
    failure: str | None
    created_at: str
    settled_at: str | None

    @classmethod
    def of(cls, refund: MoneyRefund) -> RefundOut:
        return cls(
            id=refund.id,
            account_id=refund.account_id,
            source=refund.source,
            reference=refund.reference,
            amount=str(refund.amount),
            currency=refund.currency,
            status=str(refund.status),
            attempts=refund.attempts,
            reason=refund.reason,
            failure=refund.failure,
            created_at=refund.created_at.isoformat(),
            settled_at=None if refund.settled_at is None else refund.settled_at.isoformat(),
        )


class DepositRefundOut(BaseModel):
    account_id: str
    #: The balance after the refund was taken off it.
    balance: str
    refund: RefundOut


class RefundsOut(BaseModel):
    refunds: list[RefundOut]


class DisputeOut(BaseModel):
    """A dispute of a payment: ``open`` while the bank decides, then ``won`` or ``lost``."""

    id: str
    account_id: str
    #: ``deposit``, ``reload`` or ``invoice``; ``reference``: its checkout, reload or number.
    source: str
    reference: str
    amount: str
    currency: str
    status: str
    opened_at: str
    closed_at: str | None

    @classmethod
    def of(cls, dispute: PaymentDispute) -> DisputeOut:
        return cls(
            id=dispute.id,
            account_id=dispute.account_id,
            source=dispute.source,
            reference=dispute.reference,
            amount=str(in_currency_places(dispute.amount, dispute.currency)),
            currency=dispute.currency,
            status=dispute.status,
            opened_at=dispute.opened_at.isoformat(),
            closed_at=None if dispute.closed_at is None else dispute.closed_at.isoformat(),
        )


class DisputesOut(BaseModel):
    disputes: list[DisputeOut]


class InvoiceMirrorOut(BaseModel):
    """An invoice a checkout paid that the provider does not list yet: ``failure`` says why
    its last attempt did not go through; each collections pass asks again."""

    number: str
    account_id: str
    status: str
    attempts: int
    failure: str | None
    created_at: str

    @classmethod
    def of(cls, mirror: InvoiceMirror) -> InvoiceMirrorOut:
        return cls(
            number=mirror.number,
            account_id=mirror.account_id,
            status=mirror.status,
            attempts=mirror.attempts,
            failure=mirror.failure,
            created_at=mirror.created_at.isoformat(),
        )


class InvoiceMirrorsOut(BaseModel):
    mirrors: list[InvoiceMirrorOut]
