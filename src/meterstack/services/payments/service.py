"""Checkouts, the customer portal, and payment events applied once (B8, B10, B11, A6, D30).

A customer's upgrade is a checkout: the plan changes only when the checkout is paid, and the
payment is reported as an event. Applying an event, marking its checkout paid and carrying out
what was bought happen in one transaction, keyed by the event's id: a second delivery of the same
event changes nothing.

What may be checked out is decided here for every door (D30): a plan the customer may choose
(:meth:`Subscriptions.self_serve_change`), a pack the plan may buy, and return URLs on the
server's own origin or an allow-list, so that a checkout cannot send the buyer to a foreign site
(an open redirect) or to a ``javascript:`` URL. Without a provider nothing can be bought: 503
``payments_not_configured``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol
from urllib.parse import urlsplit

from meterstack.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PaymentMethodRequiredError,
    PaymentsNotConfiguredError,
)
from meterstack.money import parse_money
from meterstack.records.audit import PAYMENTS, PYTHON, Actor
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import (
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    AttemptOutcome,
    Checkout,
    CheckoutCharge,
    CheckoutRequest,
    CreatorOnboarding,
    HostedCheckouts,
    PaidInvoiceMirror,
    PaymentDispute,
    PaymentEvent,
    PaymentProvider,
    attempt_outcome_of,
)
from meterstack.records.wallet import CreatorAccount
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.invoicing.purchases import PackPurchase, Purchases
from meterstack.services.levers import Levers
from meterstack.services.payments.disputes import (
    DISPUTE_LOST,
    DISPUTE_OPENED,
    DISPUTE_WON,
    PaymentDisputes,
)
from meterstack.services.payments.local import LocalProvider
from meterstack.services.payments.mirrors import InvoiceMirrors
from meterstack.services.subscriptions import PlanChange, Subscriptions
from meterstack.services.wallet.deposits import Deposits
from meterstack.services.wallet.disputes import LostDispute
from meterstack.store.ports import UnitOfWork

CHECKOUT_COMPLETED = "checkout.completed"
#: The checkout's payment failed (a bank debit refused): it is closed, nothing is bought.
CHECKOUT_FAILED = "checkout.failed"
#: The provider's account of a creator changed: ``provider_account``, ``payouts_enabled``.
CREATOR_UPDATED = "creator.updated"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvoiceOutcomes(Protocol):
    """Where a provider's report of an invoice's collection attempt is carried out (the
    collections service, D29), inside the transaction that records the event; whether it
    changed anything (an attempt recorded already, reported again, changes nothing)."""

    def settle_in(self, tx: UnitOfWork, outcome: AttemptOutcome) -> bool: ...


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    #: False when the event had been applied before, or reported an outcome known already:
    #: nothing changed.
    applied: bool
    plan_change: PlanChange | None = None
    purchase: PackPurchase | None = None
    #: The wallet's balance after a deposit was credited (D24).
    deposit_balance: Decimal | None = None
    #: What a lost dispute took from the wallet and left owed (a deposit's, a reload's).
    dispute: LostDispute | None = None
    #: The dispute a dispute event recorded or decided.
    payment_dispute: PaymentDispute | None = None
    #: The creator whose provider account changed.
    creator_id: str | None = None
    #: The collection attempt an ``invoice.paid`` or ``invoice.payment_failed`` event reported.
    attempt: AttemptOutcome | None = None


class Payments:
    def __init__(
        self,
        ctx: ServiceContext,
        provider: PaymentProvider | None,
        subscriptions: Subscriptions,
        purchases: Purchases,
        levers: Levers,
        *,
        return_url_origins: Iterable[str] = (),
        deposits: Deposits | None = None,
        disputes: PaymentDisputes | None = None,
        collections: InvoiceOutcomes | None = None,
        mirrors: InvoiceMirrors | None = None,
    ) -> None:
        self.ctx = ctx
        self.collections = collections
        self._provider = provider
        self.mirrors = mirrors or InvoiceMirrors(
            ctx, provider if isinstance(provider, PaidInvoiceMirror) else None
        )
        self.disputes = disputes
        self.subscriptions = subscriptions
        self.purchases = purchases
        self.levers = levers
        self.deposits = deposits
        origins = list(return_url_origins)
        if isinstance(provider, LocalProvider):
            # The local provider's pages are served by meterstack: that is the server's origin.
            origins.append(provider.public_url)
        self.return_url_origins = frozenset(origin_of(url, "return URL origin") for url in origins)

    @property
    def configured(self) -> bool:
        return self._provider is not None

    @property
    def provider(self) -> PaymentProvider:
        """The configured provider; 503 ``payments_not_configured`` without one."""
        if self._provider is None:
            raise PaymentsNotConfiguredError(
                "no payment provider is configured, so nothing can be bought here; "
                "the operator can start the service with one (meterstack serve --payments local)"
            )
        return self._provider

    def checkout(self, request: CheckoutRequest) -> Checkout:
        """A hosted checkout for an upgrade (tier and interval) or a pack (D30)."""
        provider = self.provider
        for name, url in (("success_url", request.success_url), ("cancel_url", request.cancel_url)):
            self._check_return_url(name, url)
        if request.purpose == "plan":
            if request.plan_id is None:
                raise InvalidInputError("a plan checkout needs the tier")
            change = self.subscriptions.self_serve_change(
                request.account_id, request.plan_id, request.billing_interval
            )
            if not change.upgrade:
                raise ConflictError(
                    "a checkout is for upgrades; downgrades and cancellations need no payment",
                    plan=request.plan_id,
                )
            request = replace(request, billing_interval=change.interval)
        elif request.purpose == "pack":
            if request.pack_id is None:
                raise InvalidInputError("a pack checkout needs the pack")
            self.purchases.check_pack(request.account_id, request.pack_id)
        else:
            raise InvalidInputError(f"purpose must be 'plan' or 'pack', got {request.purpose!r}")
        checkout_id = new_id("cs")
        page = None
        charge = None
        if isinstance(provider, HostedCheckouts):
            charge = self._charge(request)
            page = provider.open_checkout(checkout_id, request, charge)
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, request.account_id)
            made = tx.payments.insert_checkout(
                checkout_id, request, self._page(checkout_id), self.ctx.now(), provider_url=page
            )
        if charge is not None and charge.amount <= 0:
            # The account's credit pays the whole upgrade: there is nothing to collect, so the
            # checkout is paid at once (its invoice of zero due) and its URL is the return page.
            self.apply(
                PaymentEvent(
                    f"credit:{checkout_id}:paid", CHECKOUT_COMPLETED, {"checkout_id": checkout_id}
                )
            )
            return self.checkout_of(checkout_id)
        return made

    def _charge(self, request: CheckoutRequest) -> CheckoutCharge:
        """What a provider's own checkout page asks the buyer to pay."""
        if request.purpose == "plan":
            assert request.plan_id is not None
            return self.subscriptions.upgrade_charge(
                request.account_id, request.plan_id, request.billing_interval
            )
        assert request.pack_id is not None
        return self.purchases.pack_charge(request.account_id, request.pack_id)

    def _page(self, checkout_id: str) -> str:
        """The checkout's URL when the provider computes it; a provider with pages of its own
        gave its URL when the checkout was opened, and the store keeps that one."""
        provider = self.provider
        return "" if isinstance(provider, HostedCheckouts) else provider.checkout_url(checkout_id)

    def deposit(
        self,
        account_id: str,
        amount: object,
        *,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> Checkout:
        """A hosted checkout of a wallet deposit (D24), its return URLs checked as above."""
        provider = self.provider
        assert self.deposits is not None, "the engine gives payments its deposits"
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            self._check_return_url(name, url)
        self.deposits.check_allowed(account_id)
        checkout_id = new_id("cs")
        request = CheckoutRequest(
            account_id, "deposit", success_url=success_url, cancel_url=cancel_url
        )
        page = None
        if isinstance(provider, HostedCheckouts):
            charge = self.deposits.charge(account_id, amount)
            page = provider.open_checkout(checkout_id, request, charge)
        with self.ctx.store.transaction() as tx:
            return self.deposits.open(
                tx, amount, request, checkout_id, self._page(checkout_id), provider_url=page
            )

    def _check_return_url(self, name: str, url: str | None) -> None:
        if url is None:
            return
        allowed = ", ".join(sorted(self.return_url_origins)) or "none configured"
        try:
            origin = origin_of(url, name)
        except InvalidInputError as error:
            raise InvalidInputError(f"{error.message}; allowed origins: {allowed}") from None
        if origin not in self.return_url_origins:
            raise InvalidInputError(
                f"{name} must be on this service's origin or an allowed one ({allowed}), "
                f"not {origin}",
                field=name,
            )

    def switch_overage(
        self,
        account_id: str,
        enabled: bool,
        *,
        meter: str | None = None,
        project_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> None:
        """The customer's overage switch (A5, D3), for the account, a project or one meter.

        Overage is invoiced after the fact, so with a real provider (not the local one)
        turning it on needs a payment method on file: 402 ``payment_method_required``.
        """
        provider = self._provider
        if enabled and provider is not None and not isinstance(provider, LocalProvider):
            with self.ctx.store.transaction() as tx:
                self.ctx.state(tx, account_id)
            if not provider.has_payment_method(account_id):
                raise PaymentMethodRequiredError(
                    "overage is charged after the fact: add a payment method in the billing "
                    "portal before turning it on",
                    account_id=account_id,
                )
        self.levers.set_overage(
            account_id, enabled, meter=meter, project_id=project_id, actor=actor
        )

    def checkout_of(self, checkout_id: str) -> Checkout:
        with self.ctx.store.transaction() as tx:
            found = tx.payments.checkout(checkout_id, self._page(checkout_id))
        if found is None:
            raise NotFoundError(f"no checkout {checkout_id!r}", checkout_id=checkout_id)
        return found

    def customer_id(self, account_id: str, provider: str) -> str | None:
        """The provider's customer of the account, once made (B4); 404 for an unknown account."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return tx.payments.customer_id(account_id, provider)

    def portal_url(self, account_id: str) -> str:
        provider = self.provider
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
        if isinstance(provider, LocalProvider):
            return provider.portal_link(account_id, self.ctx.now())
        return provider.portal_url(account_id)

    def local_portal(self, account_id: str, token: str | None) -> None:
        """The local provider's portal page, opened through a link it gave that has not
        expired; 404 otherwise, as for an unknown account."""
        provider = self.provider
        if not isinstance(provider, LocalProvider) or not provider.accepts_portal_token(
            account_id, token, self.ctx.now()
        ):
            raise NotFoundError("no such portal page")

    def local_checkout(self, checkout_id: str, secret: str | None) -> Checkout:
        """A checkout of the local provider, seen through its URL's secret; 404 otherwise."""
        provider = self.provider
        if not isinstance(provider, LocalProvider):
            raise ConflictError(
                "this provider takes payments on its own pages and reports them as events",
                checkout_id=checkout_id,
            )
        if not provider.accepts_checkout_secret(checkout_id, secret):
            # The same answer as an unknown checkout: a guessed id learns nothing.
            raise NotFoundError(f"no checkout {checkout_id!r}", checkout_id=checkout_id)
        return self.checkout_of(checkout_id)

    def pay(self, checkout_id: str, secret: str | None) -> EventOutcome:
        """The local provider's payment page: paying fires ``checkout.completed``.

        Only with the secret the checkout's URL carries; anything else is 404 and changes nothing.
        """
        self.local_checkout(checkout_id, secret)
        return self.apply(
            PaymentEvent(f"evt_{checkout_id}", CHECKOUT_COMPLETED, {"checkout_id": checkout_id})
        )

    #: The payment event types :meth:`apply` carries out.
    event_types = frozenset(
        {
            CHECKOUT_COMPLETED,
            CHECKOUT_FAILED,
            INVOICE_PAID,
            INVOICE_PAYMENT_FAILED,
            DISPUTE_OPENED,
            DISPUTE_WON,
            DISPUTE_LOST,
            CREATOR_UPDATED,
        }
    )

    def apply(self, event: PaymentEvent) -> EventOutcome:
        """Apply a provider's payment event once, whatever the number of deliveries."""
        if event.type in (INVOICE_PAID, INVOICE_PAYMENT_FAILED):
            return self._apply_attempt(event)
        if event.type not in self.event_types:
            raise InvalidInputError(
                f"unsupported payment event type {event.type!r}; known: "
                + ", ".join(sorted(self.event_types))
            )
        if event.type in (DISPUTE_OPENED, DISPUTE_WON, DISPUTE_LOST, CREATOR_UPDATED):
            return self._money_event(event)
        checkout_id = event.data.get("checkout_id")
        if not isinstance(checkout_id, str):
            raise InvalidInputError(f"a {event.type} event needs data.checkout_id")
        page = self._page(checkout_id)  # 503 without a provider, before anything is written
        with self.ctx.store.transaction() as tx:
            if not tx.payments.record_event(event, self.ctx.now()):
                return EventOutcome(event.id, applied=False)
            found = tx.payments.checkout(checkout_id, page)
            if found is None:
                raise NotFoundError(f"no checkout {checkout_id!r}", checkout_id=checkout_id)
            if event.type == CHECKOUT_FAILED:
                # A failure after the checkout was paid or closed changes nothing.
                tx.payments.close_checkout(checkout_id, "failed")
                return EventOutcome(event.id, applied=True)
            if not tx.payments.close_checkout(checkout_id, "paid"):
                raise ConflictError(
                    f"checkout {checkout_id} is {found.status}, not open", checkout_id=checkout_id
                )
            if found.purpose == "deposit" and self.deposits is not None:
                payment = event.data.get("payment")
                if isinstance(payment, str) and payment:
                    tx.movements.set_deposit_payment(checkout_id, payment)
                balance = self.deposits.credit_in(tx, found)
                return EventOutcome(event.id, applied=True, deposit_balance=balance)
            if found.purpose == "plan":
                assert found.plan_id is not None
                change = self.subscriptions.change_plan_in(
                    tx,
                    found.account_id,
                    found.plan_id,
                    found.billing_interval,
                    paid=True,
                    collected=_collected(event),
                    actor=PAYMENTS,
                )
                self._paid_in(tx, event, found, change.invoice)
                return EventOutcome(event.id, applied=True, plan_change=change)
            assert found.pack_id is not None
            purchase = self.purchases.buy_pack_in(
                tx, found.account_id, found.pack_id, actor=PAYMENTS
            )
            self._paid_in(tx, event, found, purchase.invoice)
            return EventOutcome(event.id, applied=True, purchase=purchase)

    def _paid_in(
        self, tx: UnitOfWork, event: PaymentEvent, checkout: Checkout, invoice: Invoice | None
    ) -> None:
        """What a checkout's invoice keeps of its payment: the provider's payment (what a void
        or a credit note refunds, and what a dispute names) and its mirror to send."""
        if invoice is None or invoice.number is None:
            return
        payment = event.data.get("payment")
        if isinstance(payment, str) and payment:
            tx.payments.set_invoice_payment(
                invoice.number, checkout.account_id, payment, checkout.id, self.ctx.now()
            )
        self.mirrors.record_in(tx, invoice)

    def _apply_attempt(self, event: PaymentEvent) -> EventOutcome:
        outcome = attempt_outcome_of(event)
        if self.collections is None:
            raise InvalidInputError(f"this engine collects no invoices: {event.type!r} unused")
        with self.ctx.store.transaction() as tx:
            if not tx.payments.record_event(event, self.ctx.now()):
                return EventOutcome(event.id, applied=False, attempt=outcome)
            applied = self.collections.settle_in(tx, outcome)
        return EventOutcome(event.id, applied=applied, attempt=outcome)

    def _money_event(self, event: PaymentEvent) -> EventOutcome:
        """A dispute or a creator's account changed, applied once by the event's id."""
        if self._provider is None:
            raise PaymentsNotConfiguredError("no payment provider is configured")
        with self.ctx.store.transaction() as tx:
            if not tx.payments.record_event(event, self.ctx.now()):
                return EventOutcome(event.id, applied=False)
            if event.type == CREATOR_UPDATED:
                return self._creator_updated(tx, event)
            return self._dispute(tx, event)

    def _dispute(self, tx: UnitOfWork, event: PaymentEvent) -> EventOutcome:
        assert self.disputes is not None, "the engine gives payments its disputes"
        change = self.disputes.apply_in(tx, event.type, event.data)
        if change is None:
            return EventOutcome(event.id, applied=False)
        return EventOutcome(
            event.id, applied=True, dispute=change.lost, payment_dispute=change.dispute
        )

    def _creator_updated(self, tx: UnitOfWork, event: PaymentEvent) -> EventOutcome:
        account, enabled = event.data.get("provider_account"), event.data.get("payouts_enabled")
        if not isinstance(account, str) or not isinstance(enabled, bool):
            raise InvalidInputError(
                "a creator.updated event needs data.provider_account and data.payouts_enabled"
            )
        if not tx.movements.set_payouts_enabled(account, enabled, self.ctx.now()):
            return EventOutcome(event.id, applied=False)  # not one of our creators
        creator = tx.movements.creator_by_provider(account)
        return EventOutcome(
            event.id, applied=True, creator_id=None if creator is None else creator.creator_id
        )

    def onboarding_link(
        self, creator_id: str, refresh_url: str, return_url: str, *, actor: Actor = PYTHON
    ) -> str:
        """Where a creator sets up the provider account that payouts are paid to (Connect):
        opened on first need, once per creator (``marketplace.creator_registered`` in the
        audit log). A provider that pays creators as they are (the local one) has nothing to
        set up: 409 ``onboarding_not_needed``."""
        provider = self.provider
        for name, url in (("refresh_url", refresh_url), ("return_url", return_url)):
            if url is None:
                raise InvalidInputError(f"{name} is required", field=name)
            self._check_return_url(name, url)
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, creator_id)
            known = tx.movements.creator_account(creator_id)
            row = tx.accounts.get(creator_id)
            email = None if row is None else row.email
        if not isinstance(provider, CreatorOnboarding):
            raise OnboardingNotNeededError(
                "this payment provider pays creators without an account of their own",
                creator_id=creator_id,
            )
        if known is None:
            provider_account = provider.connect_creator(creator_id, email)
            with self.ctx.store.transaction() as tx:
                opened = CreatorAccount(creator_id, provider_account, False, self.ctx.now())
                tx.movements.insert_creator_account(opened)
                record(
                    tx,
                    opened.updated_at,
                    actor,
                    creator_id,
                    "marketplace.creator_registered",
                    after={"provider_account": provider_account, "payouts_enabled": False},
                )
                known = tx.movements.creator_account(creator_id)
            assert known is not None
        return provider.onboarding_link(known.provider_account, refresh_url, return_url)

    def creator_account(self, creator_id: str) -> CreatorAccount | None:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, creator_id)
            return tx.movements.creator_account(creator_id)


class OnboardingNotNeededError(ConflictError):
    code = "onboarding_not_needed"


def _collected(event: PaymentEvent) -> Decimal | None:
    """What the checkout took, when the provider's event says (``data.amount_paid``)."""
    amount = event.data.get("amount_paid")
    if amount is None:
        return None
    if not isinstance(amount, str):
        raise InvalidInputError("data.amount_paid is a decimal string")
    try:
        return parse_money(amount)
    except ValueError:
        raise InvalidInputError(f"data.amount_paid is not an amount: {amount[:40]!r}") from None


def origin_of(url: str, name: str) -> str:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower case, default port dropped.

    Anything else (``javascript:``, a relative or protocol-relative URL, credentials in the
    authority, a backslash or control character a browser may read differently) is 422.
    """
    problem = None
    if any(ord(char) < 0x21 or char == "\\" for char in url):
        problem = "must not contain spaces, control characters or backslashes"
    else:
        parts = urlsplit(url)
        if parts.scheme.lower() not in _DEFAULT_PORTS:
            problem = "must be an http or https URL"
        elif not parts.hostname or parts.username is not None or parts.password is not None:
            problem = "must name a host, without credentials"
    if problem is not None:
        raise InvalidInputError(f"{name} {problem}, got {url[:200]!r}", field=name)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise InvalidInputError(f"{name} has an invalid port, got {url[:200]!r}") from None
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    suffix = "" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}"
    return f"{scheme}://{host}{suffix}"
