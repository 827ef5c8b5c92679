"""The payment provider port: hosted checkouts, a customer portal, and payment outcomes.

meterstack's invoice is the invoice of record (D10); a provider only collects. A provider reports
outcomes as :class:`PaymentEvent` objects, each with the provider's own id, and meterstack applies
each one once whatever the number of deliveries (B11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


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
    """A payment outcome: ``checkout.completed`` carries ``checkout_id`` in ``data``."""

    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Collected:
    """The outcome of an off-session collection or a payout, by its idempotency key."""

    paid: bool
    key: str
    reason: str | None = None


@runtime_checkable
class MoneyMover(Protocol):
    """What a provider does for the wallet without the buyer present (D21, D23): collect a
    reload from the saved payment method, pay a creator out. Each call carries an idempotency
    key; the same key asked again must not move money twice."""

    def collect(self, account_id: str, amount: Decimal, currency: str, key: str) -> Collected: ...

    def pay_out(self, account_id: str, amount: Decimal, currency: str, key: str) -> Collected: ...


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


class CustomerDirectory(Protocol):
    """The provider's customer of each account, kept in meterstack's store (B4)."""

    def customer_id(self, account_id: str) -> str | None: ...

    def remember(self, account_id: str, customer_id: str) -> str:
        """Keep the account's customer; answers the one kept (the first, when two raced)."""
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
