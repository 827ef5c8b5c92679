"""Stripe's webhooks in (B11): verified, translated to payment events, each applied once.

A delivery is believed only when its ``Stripe-Signature`` verifies (the library's HMAC check)
and was made within the tolerance of meterstack's clock: a signature captured and replayed
later is refused, and a refused delivery changes nothing (400). A verified event is translated
to a meterstack :class:`~meterstack.records.payments.PaymentEvent` whose id is the
outcome's own, not the delivery's: a paid Checkout Session is ``stripe:<session>:paid``
whether ``checkout.session.completed`` or ``checkout.session.async_payment_succeeded`` says so,
and however many times and in whatever order they come, so the plan changes once. A completion
that is not paid yet (a bank debit) changes nothing; its later outcome does. Types meterstack
does not use are acknowledged so that Stripe stops sending them.
"""

from __future__ import annotations

import json
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import stripe

from meterstack.clock import Clock
from meterstack.errors import (
    ConflictError,
    InvalidSignatureError,
    NotFoundError,
)
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import (
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    PaymentEvent,
)
from meterstack.services.payments.disputes import DISPUTE_LOST, DISPUTE_OPENED, DISPUTE_WON
from meterstack.services.payments.service import (
    CHECKOUT_COMPLETED,
    CHECKOUT_FAILED,
    CREATOR_UPDATED,
    EventOutcome,
    Payments,
)
from meterstack.services.payments.stripe_amounts import from_stripe_amount
from meterstack.services.payments.stripe_calls import (
    ATTEMPT_KEY,
    CHECKOUT_KEY,
    COLLECTION_KEY,
    metadata_of,
    provider_call,
)
from meterstack.services.payments.stripe_invoices import INVOICE_KEY
from meterstack.services.payments.stripe_provider import StripeProvider

log = logging.getLogger(__name__)
#: The dispute events meterstack applies, by the dispute's state (Stripe's ``status`` once it
#: is closed).
_DISPUTE_EVENTS = {"opened": DISPUTE_OPENED, "won": DISPUTE_WON, "lost": DISPUTE_LOST}


@dataclass(frozen=True)
class WebhookReceipt:
    """What one delivery did."""

    event_id: str
    type: str
    #: Whether meterstack acts on events of this type.
    used: bool
    #: Whether this delivery changed anything (False for a repeat, or an outcome still pending).
    applied: bool


def translate(event: dict[str, Any]) -> PaymentEvent | None:
    """The meterstack payment event a Stripe event stands for; None when it stands for none."""
    kind = str(event.get("type"))
    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    metadata: dict[str, Any] = obj.get("metadata") or {}
    if kind.startswith("checkout.session."):
        checkout_id = obj.get("client_reference_id") or metadata.get(CHECKOUT_KEY)
        if not isinstance(checkout_id, str):
            return None
        data: dict[str, Any] = {"checkout_id": checkout_id, "session": obj.get("id")}
        amount, currency = obj.get("amount_total"), obj.get("currency")
        if isinstance(amount, int) and isinstance(currency, str):
            # A currency meterstack does not price in is no checkout of its own: no amount.
            with suppress(ValueError):
                data["amount_paid"] = str(from_stripe_amount(amount, currency))
        if isinstance(obj.get("payment_intent"), str):
            data["payment"] = obj["payment_intent"]
        paid = kind == "checkout.session.async_payment_succeeded" or (
            kind == "checkout.session.completed" and obj.get("payment_status") == "paid"
        )
        if paid:
            return PaymentEvent(f"stripe:{obj.get('id')}:paid", CHECKOUT_COMPLETED, data)
        if kind == "checkout.session.async_payment_failed":
            return PaymentEvent(f"stripe:{obj.get('id')}:failed", CHECKOUT_FAILED, data)
        return None
    if kind in {"invoice.paid", "invoice.payment_failed"}:
        # Only an attempt meterstack made is reported: a twin mirrored as paid after a
        # checkout carries no attempt, and its invoice is settled already.
        number, attempt = metadata.get(INVOICE_KEY), str(metadata.get(ATTEMPT_KEY, ""))
        if not isinstance(number, str) or not attempt.isdigit() or int(attempt) < 1:
            return None
        reason = None
        if kind == "invoice.payment_failed":
            reason = f"Stripe could not collect invoice {number} (attempt {attempt})"
        return PaymentEvent(
            str(event.get("id")),
            INVOICE_PAID if kind == "invoice.paid" else INVOICE_PAYMENT_FAILED,
            {"invoice_number": number, "attempt": int(attempt), "reason": reason},
        )
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        status = "opened" if kind == "charge.dispute.created" else obj.get("status")
        if status not in _DISPUTE_EVENTS or not isinstance(obj.get("payment_intent"), str):
            return None  # an inquiry closed without a chargeback (warning_closed)
        currency = str(obj.get("currency") or "usd")
        amount = from_stripe_amount(int(obj.get("amount") or 0), currency)
        return PaymentEvent(
            f"stripe:{obj.get('id')}:{status}",
            _DISPUTE_EVENTS[str(status)],
            {
                "payment": obj["payment_intent"],
                "dispute_id": obj.get("id"),
                "amount": str(amount),
            },
        )
    if kind == "account.updated" and isinstance(obj.get("id"), str):
        return PaymentEvent(
            f"stripe:{event.get('id')}",
            CREATOR_UPDATED,
            {"provider_account": obj["id"], "payouts_enabled": bool(obj.get("payouts_enabled"))},
        )
    return None


class StripeWebhooks:
    def __init__(self, payments: Payments, provider: StripeProvider, clock: Clock) -> None:
        self.payments = payments
        self.provider = provider
        self.clock = clock

    def verified(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event of a delivery whose signature verifies and is recent; 400 otherwise."""
        settings = self.provider.settings
        secrets = [settings.webhook_secret]
        if settings.connect_webhook_secret:
            # Connect events (a creator's account) come from an endpoint of their own.
            secrets.append(settings.connect_webhook_secret)
        failure: stripe.SignatureVerificationError | None = None
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, signature, secret)
            except stripe.SignatureVerificationError as error:
                failure = error
                continue
            failure = None
            break
        if failure is not None:
            raise InvalidSignatureError(f"the Stripe-Signature does not verify: {failure}")
        signed_at = _timestamp(signature or "")
        age = self.clock.now().timestamp() - signed_at
        tolerance = self.provider.settings.webhook_tolerance
        if abs(age) > tolerance:
            raise InvalidSignatureError(
                f"the Stripe-Signature was made {int(age)} seconds from now, beyond the "
                f"{tolerance} seconds a delivery is accepted (a replay)"
            )
        try:
            event = json.loads(payload)
        except ValueError:
            raise InvalidSignatureError("the signed payload is not a JSON event") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise InvalidSignatureError("the signed payload is not a Stripe event")
        return event

    def receive(self, payload: bytes, signature: str | None) -> WebhookReceipt:
        """Verify a delivery and apply the outcome it reports, once."""
        event = self.verified(payload, signature)
        event_id, kind = str(event["id"]), str(event.get("type"))
        translated = translate(event)
        if translated is not None and translated.type == CREATOR_UPDATED:
            translated = self._current(translated)
        elif translated is not None and translated.type in _DISPUTE_EVENTS.values():
            translated = self._disputed(translated)
        used = kind.startswith("checkout.session.") or translated is not None
        if translated is None or translated.type not in self.payments.event_types:
            return WebhookReceipt(event_id, kind, used=used, applied=False)
        try:
            outcome = self.payments.apply(translated)
        except (ConflictError, NotFoundError) as refused:
            # A checkout meterstack did not open (another integration on the same account),
            # or one closed already: nothing to do, and nothing Stripe should send again.
            log.warning("Stripe event %s (%s) not applied: %s", event_id, kind, refused.message)
            return WebhookReceipt(event_id, kind, used=True, applied=False)
        if outcome.applied:
            self._mirror(outcome)
        return WebhookReceipt(event_id, kind, used=True, applied=outcome.applied)

    def _current(self, event: PaymentEvent) -> PaymentEvent:
        """A Connect account's state as Stripe holds it now: ``account.updated`` events may
        come in any order, so the newest state is read rather than the event's snapshot, and
        an old event delivered late cannot undo a newer one."""
        account_id = str(event.data["provider_account"])
        account = provider_call(lambda: self.provider.client.v1.accounts.retrieve(account_id))
        return PaymentEvent(
            event.id,
            event.type,
            {"provider_account": account_id, "payouts_enabled": bool(account.payouts_enabled)},
        )

    def _disputed(self, event: PaymentEvent) -> PaymentEvent:
        """What the disputed PaymentIntent paid, in meterstack's terms: a reload is named by
        its id (the intent's ``meterstack_key``); an invoice collected through its Stripe twin
        by its number (the twin's ``meterstack_invoice``, found through the invoice payment of
        the intent). A checkout's intent (a deposit's, a plan's, a pack's) is kept by
        meterstack already and stays as it is."""
        intent_id = str(event.data["payment"])
        client = self.provider.client
        intent = provider_call(lambda: client.v1.payment_intents.retrieve(intent_id))
        metadata = metadata_of(intent)
        data = dict(event.data)
        if COLLECTION_KEY in metadata:
            data["payment"] = metadata[COLLECTION_KEY]
        elif CHECKOUT_KEY not in metadata:
            listed = provider_call(
                lambda: client.v1.invoice_payments.list(
                    params={"payment": {"type": "payment_intent", "payment_intent": intent_id}}
                )
            )
            for payment in listed.data:
                twin_id = payment.invoice if isinstance(payment.invoice, str) else None
                if twin_id is None:
                    continue
                twin = provider_call(lambda: client.v1.invoices.retrieve(twin_id))  # noqa: B023
                number = metadata_of(twin).get(INVOICE_KEY)
                if number is not None:
                    data["invoice_number"] = number
                    break
        return PaymentEvent(event.id, event.type, data)

    def _mirror(self, outcome: EventOutcome) -> None:
        """The invoice a paid checkout issued, mirrored on Stripe as paid so the portal lists
        it. The payment is recorded in meterstack already and stands; a mirror Stripe cannot
        make now stays pending, and the collections worker asks again."""
        invoice: Invoice | None = None
        if outcome.plan_change is not None:
            invoice = outcome.plan_change.invoice
        elif outcome.purchase is not None:
            invoice = outcome.purchase.invoice
        if invoice is not None and invoice.number is not None:
            self.payments.mirrors.send(invoice.number)


def _timestamp(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` the library verified."""
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    raise InvalidSignatureError("the Stripe-Signature names no timestamp")
