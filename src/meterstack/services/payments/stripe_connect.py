"""Stripe Connect for the marketplace (B11, D23): creators' Express accounts, their onboarding
links, and payouts as transfers.

A creator is paid to a connected Express account of the platform. The account is opened on the
creator's first onboarding link (named by ``meterstack_creator`` in its metadata) and can take
transfers once its owner finished Stripe's hosted onboarding, which Stripe reports with
``account.updated`` (``payouts_enabled``). A payout is one transfer whose ``transfer_group`` is
the payout's id. Stripe forgets idempotency keys after 24 hours, so before any attempt the
transfers of that group are listed (a list, not a search: it sees a transfer at once): a payout
already transferred is settled without a second transfer, however long after the first attempt
the retry comes. Each attempt's idempotency key is the payout's id and the attempt's number.
"""

from __future__ import annotations

from typing import Any

import stripe

from meterstack.records.payments import Collected, PayoutRequest
from meterstack.services.payments.stripe_amounts import stripe_currency, to_stripe_amount
from meterstack.services.payments.stripe_calls import metadata_of, provider_call

CREATOR_KEY = "meterstack_creator"
PAYOUT_KEY = "meterstack_payout"


def connect_account(client: stripe.StripeClient, creator_id: str, email: str | None) -> str:
    """The creator's Express account: found by its metadata, else opened (once per creator
    while Stripe keeps the key), asking for the ``transfers`` capability."""
    listed = provider_call(lambda: client.v1.accounts.list(params={"limit": 100}))
    for account in listed.auto_paging_iter():
        if metadata_of(account).get(CREATOR_KEY) == creator_id:
            return str(account.id)
    params: Any = {
        "type": "express",
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {CREATOR_KEY: creator_id},
    }
    if email:
        params["email"] = email
    made = provider_call(
        lambda: client.v1.accounts.create(
            params=params, options={"idempotency_key": f"meterstack-creator-{creator_id}"}
        )
    )
    return str(made.id)


def onboarding_link(
    client: stripe.StripeClient, account: str, refresh_url: str, return_url: str
) -> str:
    """A fresh Account Link to Stripe's hosted onboarding (it expires within minutes; the
    ``refresh_url`` asks meterstack for another)."""
    link = provider_call(
        lambda: client.v1.account_links.create(
            params={
                "account": account,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
            }
        )
    )
    return str(link.url)


def transferred(client: stripe.StripeClient, payout_id: str) -> stripe.Transfer | None:
    """The transfer an earlier attempt made for the payout, if any (not reversed)."""
    listed = provider_call(
        lambda: client.v1.transfers.list(params={"transfer_group": payout_id, "limit": 10})
    )
    for transfer in listed.data:
        if metadata_of(transfer).get(PAYOUT_KEY) == payout_id and not transfer.reversed:
            return transfer
    return None


def pay_out(client: stripe.StripeClient, request: PayoutRequest) -> Collected:
    """Transfer the payout to the creator's account, once whatever the attempts."""
    key = request.key
    if request.destination is None:
        return Collected(False, key, "the creator has no connected Stripe account yet")
    if transferred(client, key) is not None:
        return Collected(True, key)
    params: Any = {
        "amount": to_stripe_amount(request.amount, request.currency),
        "currency": stripe_currency(request.currency),
        "destination": request.destination,
        "transfer_group": key,
        "description": f"meterstack payout {key}",
        "metadata": {PAYOUT_KEY: key, CREATOR_KEY: request.creator_id},
    }
    options: Any = {"idempotency_key": f"meterstack-payout-{key}-{request.attempt}"}

    def transfer() -> Collected:
        try:
            client.v1.transfers.create(params=params, options=options)
        except stripe.InvalidRequestError as refused:
            # The account cannot take it (onboarding undone, a capability lost): an outcome,
            # the payout stays pending for the next run.
            return Collected(False, key, refusal(refused))
        return Collected(True, key)

    return provider_call(transfer)


def refusal(error: stripe.StripeError) -> str:
    """``insufficient_capabilities_for_transfer: Your destination account needs…``."""
    detail = error.error
    code = (detail.code if detail else None) or error.code or type(error).__name__
    message = (detail.message if detail else None) or str(error)
    return f"{code}: {message}"[:300]
