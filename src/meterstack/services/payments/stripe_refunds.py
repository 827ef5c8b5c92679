"""Refunds on Stripe: a deposit's (D24), and a paid invoice's that a Checkout Session paid (a
plan's, a pack's), as a Refund of the session's PaymentIntent; an invoice collected through its
Stripe twin's as a credit note of the twin that refunds the charge.

What is refunded carries ``meterstack_refund`` (the refund's id) in its metadata, and before any
attempt the refunds of the PaymentIntent (or the credit notes of the invoice) are listed and
looked through for it: Stripe forgets idempotency keys after 24 hours, and a retry days later
must find the first refund instead of making a second. Each attempt's idempotency key is the
refund's id and the attempt's number. A refund Stripe refuses (a charge disputed meanwhile,
nothing left to refund) is an outcome: it stays pending, with Stripe's reason.
"""

from __future__ import annotations

from typing import Any

import stripe

from meterstack.records.payments import Collected, RefundRequest
from meterstack.services.payments.stripe_amounts import to_stripe_amount
from meterstack.services.payments.stripe_calls import (
    CHECKOUT_KEY,
    COLLECTION_KEY,
    metadata_of,
    metadata_query,
    provider_call,
)
from meterstack.services.payments.stripe_connect import refusal
from meterstack.services.payments.stripe_invoices import find_twin

REFUND_KEY = "meterstack_refund"


def payment_intent_of(client: stripe.StripeClient, payment: str) -> str | None:
    """The PaymentIntent that paid a deposit or a checkout's invoice: named by the checkout's
    webhook (``pi_…``), or found by the checkout's or the reload's id in its metadata."""
    if payment.startswith("pi_"):
        return payment
    query = f"{metadata_query(CHECKOUT_KEY, payment)} OR {metadata_query(COLLECTION_KEY, payment)}"
    found = provider_call(
        lambda: client.v1.payment_intents.search(params={"query": query, "limit": 10})
    )
    for intent in found.data:
        if intent.status == "succeeded":
            return str(intent.id)
    return None


def refund_payment(client: stripe.StripeClient, request: RefundRequest) -> Collected:
    """Refund part or all of a PaymentIntent (a deposit's, a checkout's), once per refund id."""
    key = request.key
    intent = payment_intent_of(client, request.payment)
    if intent is None:
        return Collected(False, key, f"no succeeded Stripe payment of {request.payment}")
    listed = provider_call(
        lambda: client.v1.refunds.list(params={"payment_intent": intent, "limit": 100})
    )
    for made in listed.auto_paging_iter():
        if metadata_of(made).get(REFUND_KEY) == key and made.status != "failed":
            return Collected(True, key)
    params: Any = {
        "payment_intent": intent,
        "amount": to_stripe_amount(request.amount, request.currency),
        "reason": "requested_by_customer",
        "metadata": {REFUND_KEY: key},
    }
    return _made(
        lambda: client.v1.refunds.create(
            params=params,
            options={"idempotency_key": f"meterstack-refund-{key}-{request.attempt}"},
        ),
        key,
    )


def refund_invoice(client: stripe.StripeClient, request: RefundRequest) -> Collected:
    """A credit note of the invoice's paid Stripe twin refunding ``amount`` of its charge."""
    key = request.key
    twin = find_twin(client, request.payment)
    if twin is None or twin.status != "paid":
        return Collected(False, key, f"no paid Stripe invoice mirrors {request.payment}")
    if not twin.amount_paid:
        return Collected(
            False,
            key,
            f"invoice {request.payment} was paid outside its Stripe invoice (by a checkout): "
            "refund that payment from Stripe's dashboard",
        )
    twin_id = str(twin.id)
    listed = provider_call(
        lambda: client.v1.credit_notes.list(params={"invoice": twin_id, "limit": 100})
    )
    for note in listed.auto_paging_iter():
        if metadata_of(note).get(REFUND_KEY) == key and note.status != "void":
            return Collected(True, key)
    amount = to_stripe_amount(request.amount, request.currency)
    params: Any = {
        "invoice": twin_id,
        "amount": amount,
        "refund_amount": amount,
        "metadata": {REFUND_KEY: key},
    }
    if request.reason:
        params["memo"] = request.reason[:500]
    return _made(
        lambda: client.v1.credit_notes.create(
            params=params,
            options={"idempotency_key": f"meterstack-credit-{key}-{request.attempt}"},
        ),
        key,
    )


def refund(client: stripe.StripeClient, request: RefundRequest) -> Collected:
    if request.source == "invoice" and not request.payment.startswith("pi_"):
        return refund_invoice(client, request)
    return refund_payment(client, request)


def _made(create: Any, key: str) -> Collected:
    def attempt() -> Collected:
        try:
            create()
        except stripe.InvalidRequestError as refused:
            return Collected(False, key, refusal(refused))
        return Collected(True, key)

    result: Collected = provider_call(attempt)
    return result
