"""The payment provider port: hosted checkouts, a customer portal, and payment outcomes.

meterstack's invoice is the invoice of record (D10); a provider only collects. A provider reports
outcomes as :class:`PaymentEvent` objects, each with the provider's own id, and meterstack applies
each one once whatever the number of deliveries (B11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import Invoice

#: A provider's report that an invoice's collection attempt was paid (D10, D29).
INVOICE_PAID = "invoice.paid"
#: A provider's report that an invoice's collection attempt failed (D29): it starts or goes on
#: with dunning.
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
#: The reason a collector answers when an attempt's outcome comes later, as one of the events
#: above (``Collected(paid=False, key, PENDING_REASON)``).
PENDING_REASON = "pending"


@dataclass(frozen=True)
class CheckoutRequest:
    account_id: str
    #: ``plan`` (an upgrade, B8) or ``pack`` (A6).
    purpose: str
    plan_id: str | None = None
    billing_interval: str | None = None
    pack_id: str | None = None
    success_url: str | None = None
    cancel_url: str | None = None


@dataclass(frozen=True)
class Checkout:
    id: str
    account_id: str
    url: str
    purpose: str
    status: str
    created_at: datetime
    plan_id: str | None = None
    billing_interval: str | None = None
    pack_id: str | None = None
    success_url: str | None = None
    cancel_url: str | None = None


@dataclass(frozen=True)
class PaymentEvent:
    """A payment outcome: ``checkout.completed`` carries ``checkout_id`` in ``data``;
    ``invoice.paid`` and ``invoice.payment_failed`` carry ``invoice_number``, ``attempt`` (the
    collection attempt, from 1) and ``reason`` (why it failed; None when paid)."""

    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Collected:
    """The outcome of an off-session collection or a payout, by its idempotency key."""

    paid: bool
    key: str
    reason: str | None = None


@dataclass(frozen=True)
class PayoutRequest:
    """A payment of a creator's earnings (D23). ``key`` is the payout's id: the provider pays
    it at most once, whatever the attempts; ``attempt`` numbers this request (a provider whose
    idempotency keys expire, as Stripe's do after 24 hours, looks for a payment already made
    under ``key`` before a new attempt). ``destination`` is the creator's provider account."""

    creator_id: str
    amount: Decimal
    currency: str
    key: str
    attempt: int = 1
    destination: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    """Money given back to whoever paid it: a deposit's refund (D24) or a credit note of a
    paid invoice. ``payment`` is what was paid (the deposit's checkout, or the provider's own
    payment id when it reported one; the invoice's number); ``key`` the refund's id, refunded
    at most once whatever the attempts (numbered by ``attempt``, as for payouts)."""

    account_id: str
    #: ``deposit`` or ``invoice``.
    source: str
    payment: str
    amount: Decimal
    currency: str
    key: str
    attempt: int = 1
    reason: str | None = None


class RefundStatus(StrEnum):
    PENDING = "pending"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class MoneyRefund:
    """A refund as meterstack records it, before the provider is asked and after."""

    id: str
    account_id: str
    #: ``deposit`` (``reference``: the deposit's ledger entry) or ``invoice`` (its number).
    source: str
    reference: str
    #: What the provider is asked to refund (see :class:`RefundRequest`).
    payment: str
    amount: Decimal
    currency: str
    status: RefundStatus
    created_at: datetime
    reason: str | None = None
    attempts: int = 0
    settled_at: datetime | None = None
    #: Why the provider's last attempt did not refund it, while it is pending.
    failure: str | None = None


@dataclass(frozen=True)
class InvoiceMirror:
    """An invoice a checkout paid, to be listed as paid by the provider (Stripe's portal):
    ``pending`` until the provider has it (``failure`` says why the last attempt did not),
    then ``mirrored``."""

    number: str
    account_id: str
    status: str
    attempts: int
    created_at: datetime
    failure: str | None = None
    mirrored_at: datetime | None = None


@runtime_checkable
class PaidInvoiceMirror(Protocol):
    """A provider that lists meterstack's invoices (Stripe's portal), so an invoice a checkout
    paid is mirrored there as paid; the same invoice asked again is not mirrored twice."""

    def record_paid(self, invoice: Invoice) -> None: ...


@dataclass(frozen=True)
class PaymentDispute:
    """A dispute of a payment as meterstack records it: opened, then won or lost."""

    #: The provider's id of the dispute.
    id: str
    account_id: str
    #: ``deposit`` (``reference``: its checkout), ``reload`` (its id) or ``invoice`` (its number).
    source: str
    reference: str
    #: The provider's id of the payment disputed.
    payment: str
    amount: Decimal
    currency: str
    #: ``open``, ``won`` or ``lost``.
    status: str
    opened_at: datetime
    closed_at: datetime | None = None


@runtime_checkable
class MoneyMover(Protocol):
    """What a provider does without the buyer present (D21, D23, D24): collect a reload from
    the saved payment method, pay a creator out, give a payment back. Each call carries an
    idempotency key; the same key asked again must not move money twice."""

    def collect(self, account_id: str, amount: Decimal, currency: str, key: str) -> Collected: ...

    def pay_out(self, request: PayoutRequest) -> Collected: ...

    def refund(self, request: RefundRequest) -> Collected: ...


@runtime_checkable
class CreatorOnboarding(Protocol):
    """A provider whose creators must open an account with it before they can be paid (Stripe
    Connect). A provider without it (the local one) pays every creator as it is."""

    def connect_creator(self, creator_id: str, email: str | None) -> str:
        """Open the creator's account with the provider (once per creator: ``creator_id`` is
        the idempotency key); its id."""
        ...

    def onboarding_link(self, provider_account: str, refresh_url: str, return_url: str) -> str:
        """Where the creator finishes setting the account up (a short-lived link)."""
        ...


@dataclass(frozen=True)
class CheckoutCharge:
    """What a hosted checkout asks the buyer to pay, in the catalog's currency."""

    description: str
    amount: Decimal
    currency: str


@runtime_checkable
class HostedCheckouts(Protocol):
    """A provider whose checkouts are pages of its own (Stripe Checkout): each is opened with
    what it charges, and its URL is the provider's, kept with the checkout."""

    def open_checkout(
        self, checkout_id: str, request: CheckoutRequest, charge: CheckoutCharge
    ) -> str:
        """Open the provider's checkout page for ``charge``; its URL."""
        ...


@dataclass(frozen=True)
class CustomerDetails:
    """Who an account is, as a provider's customer shows it (receipts, the portal)."""

    email: str | None = None
    name: str | None = None


class CustomerDirectory(Protocol):
    """The provider's customer of each account, kept in meterstack's store (B4)."""

    def customer_id(self, account_id: str) -> str | None: ...

    def remember(self, account_id: str, customer_id: str) -> str:
        """Keep the account's customer; answers the one kept (the first, when two raced)."""
        ...

    def details(self, account_id: str) -> CustomerDetails:
        """The account's email and name as meterstack knows them now."""
        ...

    def sent_details(self, account_id: str) -> CustomerDetails | None:
        """What the account's customer was last given; None before a customer is kept."""
        ...

    def details_sent(self, account_id: str, details: CustomerDetails) -> None:
        """Remember that the provider's customer now has ``details``."""
        ...


@runtime_checkable
class ProviderSetup(Protocol):
    """A provider that keeps state in meterstack's store: the engine builds it, giving it the
    store-backed directory of its customers."""

    @property
    def name(self) -> str:
        """The provider's name, under which its customers are kept (``stripe``)."""
        ...

    def build(self, customers: CustomerDirectory) -> PaymentProvider: ...


@dataclass(frozen=True)
class AttemptOutcome:
    """How one collection attempt of an invoice ended, as a provider's event reports it."""

    invoice_number: str
    attempt: int
    paid: bool
    reason: str | None = None


def attempt_outcome_of(event: PaymentEvent) -> AttemptOutcome:
    """The attempt an ``invoice.paid`` or ``invoice.payment_failed`` event reports; 422 for an
    event of another type or with data of the wrong shape."""
    if event.type not in (INVOICE_PAID, INVOICE_PAYMENT_FAILED):
        raise InvalidInputError(f"{event.type!r} is not an invoice payment event")
    number = event.data.get("invoice_number")
    attempt = event.data.get("attempt")
    reason = event.data.get("reason")
    if not isinstance(number, str) or not number:
        raise InvalidInputError(f"an {event.type} event needs data.invoice_number")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= 1000:
        raise InvalidInputError(f"an {event.type} event needs data.attempt, a number from 1")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInputError(f"data.reason of an {event.type} event must be a string")
    paid = event.type == INVOICE_PAID
    if not paid and not reason:
        reason = "payment_failed"
    return AttemptOutcome(number, attempt, paid, None if paid else reason)


def attempt_key(invoice_number: str, attempt: int) -> str:
    """The idempotency key of one collection attempt of an invoice: its number and the attempt
    number, so a retry (a new attempt) is a new charge and the same attempt asked again is not."""
    if attempt < 1:
        raise ValueError(f"attempts are numbered from 1, got {attempt}")
    return f"{invoice_number}:attempt-{attempt}"


@runtime_checkable
class InvoiceCollector(Protocol):
    """What a provider does to collect a finalized invoice off-session (D10, D29): charge the
    account's saved payment method for the invoice's total, under the attempt's idempotency key
    (:func:`attempt_key`). The answer is the attempt's outcome; a provider that learns the
    outcome later answers ``paid=False`` with reason :data:`PENDING_REASON` and reports it as an
    ``invoice.paid`` or ``invoice.payment_failed`` event."""

    def collect_invoice(self, invoice: Invoice, attempt: int) -> Collected: ...


class PaymentProvider(Protocol):
    #: Whether the buyer must be present to pay (a hosted page): purchases return a checkout.
    needs_buyer_present: bool

    def checkout_url(self, checkout_id: str) -> str:
        """Where the buyer pays the checkout."""
        ...

    def portal_url(self, account_id: str) -> str:
        """The customer portal (B10)."""
        ...

    def has_payment_method(self, account_id: str) -> bool:
        """Whether the provider can charge the account later (a card on file): what turning
        overage on needs, since overage is invoiced after the fact."""
        ...
