"""The engine: meterstack's public Python API.

It opens a store by URL, loads and stores the catalog, and wires the services to one clock::

    engine = Engine.open("sqlite:///billing.db", catalog="agentstack")
    account = engine.create_account(plan="starter")
    decision = engine.consume(account.id, "api_calls", 1, idempotency_key="req-42")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from meterstack import bounds
from meterstack.catalog.loader import LoadedCatalog, load_catalog
from meterstack.catalog.schema import Catalog, Unlimited
from meterstack.clock import Clock, SystemClock
from meterstack.defaults import default_catalog, default_database_url, default_invoice_check
from meterstack.engine_keys import KeysMixin
from meterstack.engine_wallet import WalletMixin
from meterstack.errors import (
    InvalidInputError,
    MeterstackError,
    NotFoundError,
    StoreUnavailableError,
)
from meterstack.records.alerts import AlertView, BudgetView
from meterstack.records.audit import PYTHON, Actor, AuditPage
from meterstack.records.invoicing import Invoice, InvoiceCheck, InvoiceStatus
from meterstack.records.payments import (
    Checkout,
    CheckoutRequest,
    InvoiceCollector,
    InvoiceMirror,
    MoneyMover,
    MoneyRefund,
    PaidInvoiceMirror,
    PaymentDispute,
    PaymentEvent,
    PaymentProvider,
    ProviderSetup,
)
from meterstack.records.webhooks import WebhookPolicy
from meterstack.rules.alerts import AlertKind
from meterstack.rules.decisions import Decision
from meterstack.rules.terms import END_USER_KIND
from meterstack.services.access import Access
from meterstack.services.accounts import Account, Accounts
from meterstack.services.audit.log import AuditLog
from meterstack.services.collections.service import Collections
from meterstack.services.context import DEFAULT_IDEMPOTENCY_RETENTION, ServiceContext
from meterstack.services.directory import Directory
from meterstack.services.entitlements import Entitlements, Lease
from meterstack.services.events import UsageEvent
from meterstack.services.express import Plans
from meterstack.services.features import AccountEntitlements, Features
from meterstack.services.grouping import GroupCommit
from meterstack.services.history import History
from meterstack.services.holds import Holds, Reservation
from meterstack.services.invoicing.close import ClosedPeriods, PeriodClose
from meterstack.services.invoicing.purchases import PackPurchase, Purchases
from meterstack.services.invoicing.service import CreditNote, Invoices
from meterstack.services.keys import Keys
from meterstack.services.levers import Levers, PackGrant
from meterstack.services.metering import PURGE_WINDOW, Metering
from meterstack.services.migration import AccountMigration, Migrations
from meterstack.services.payments.customers import StoredCustomers
from meterstack.services.payments.disputes import PaymentDisputes
from meterstack.services.payments.mirrors import InvoiceMirrors
from meterstack.services.payments.refunds import Refunds
from meterstack.services.payments.service import EventOutcome, Payments
from meterstack.services.payments.stripe_provider import StripeProvider
from meterstack.services.payments.stripe_webhooks import StripeWebhooks, WebhookReceipt
from meterstack.services.resources import ResourceObject, Resources
from meterstack.services.subscriptions import PlanChange, Subscription, Subscriptions
from meterstack.services.usage import Usage, UsageReport
from meterstack.services.wallet.deposits import Deposits
from meterstack.services.wallet.disputes import Disputes
from meterstack.services.wallet.service import Wallets
from meterstack.services.webhooks.service import Webhooks
from meterstack.store.ports import Store
from meterstack.store.rows import CloseFailure
from meterstack.store.sql import SqlStore
from meterstack.store.statements import unavailable

#: The longest hold or lease anyone may ask for (:mod:`meterstack.bounds`).
MAX_TTL_SECONDS = bounds.MAX_TTL_SECONDS


class Engine(KeysMixin, WalletMixin):
    """One store, one catalog, one clock; every door of meterstack goes through here."""

    def __init__(
        self,
        ctx: ServiceContext,
        provider: PaymentProvider | ProviderSetup | None = None,
        *,
        return_url_origins: Iterable[str] = (),
        webhooks: WebhookPolicy | None = None,
        invoice_check: InvoiceCheck | None = None,
        plans: Plans | None = None,
    ) -> None:
        self._ctx = ctx
        if isinstance(provider, ProviderSetup):
            # A provider with state in the store (Stripe's customers) is built on it here.
            provider = provider.build(StoredCustomers(ctx, provider.name))
        self._accounts = Accounts(ctx)
        self._resources = Resources(ctx)
        self._levers = Levers(ctx)
        self._metering = Metering(ctx, plans)
        self._alerts = self._metering.alerts
        self._grouped = GroupCommit(self._metering)
        self._holds = Holds(ctx, self._alerts)
        self._usage = Usage(ctx)
        self._keys = Keys(ctx)
        self._features = Features(ctx, self._keys)
        self._entitlements = Entitlements(ctx)
        self._close = PeriodClose(ctx, check=invoice_check)
        mover = provider if isinstance(provider, MoneyMover) else None
        self._refunds = Refunds(ctx, mover)
        mirrors = InvoiceMirrors(ctx, provider if isinstance(provider, PaidInvoiceMirror) else None)
        self._collections = Collections(
            ctx,
            provider if isinstance(provider, InvoiceCollector) else None,
            None if provider is None else provider.has_payment_method,
            mirrors=mirrors,
        )
        self._invoices = Invoices(ctx, self._refunds, on_moved=self._collections.moved_in)
        self._purchases = Purchases(ctx)
        self._subscriptions = Subscriptions(ctx)
        self._migrations = Migrations(ctx)
        self._deposits = Deposits(ctx, self._features)
        self._payments = Payments(
            ctx,
            provider,
            self._subscriptions,
            self._purchases,
            self._levers,
            return_url_origins=return_url_origins,
            deposits=self._deposits,
            disputes=PaymentDisputes(ctx, Disputes(ctx), self._collections),
            collections=self._collections,
            mirrors=mirrors,
        )
        self._webhooks = Webhooks(ctx, webhooks)
        self._access = Access(ctx)
        self._directory = Directory(ctx)
        self._history = History(ctx)
        self._audit = AuditLog(ctx)
        self._wallets = Wallets(ctx, self._metering, mover, self._refunds)
        self._stripe_webhooks = (
            StripeWebhooks(self._payments, provider, ctx.clock)
            if isinstance(provider, StripeProvider)
            else None
        )

    @classmethod
    def open(
        cls,
        url: str | Path | None = None,
        *,
        catalog: str | Path | LoadedCatalog | None = None,
        clock: Clock | None = None,
        idempotency_retention: timedelta = DEFAULT_IDEMPOTENCY_RETENTION,
        pool_size: int = 20,
        provider: PaymentProvider | ProviderSetup | None = None,
        return_url_origins: Iterable[str] = (),
        webhooks: WebhookPolicy | None = None,
        store_timeout: float | None = None,
        usage_history: bool = True,
        invoice_check: InvoiceCheck | None = None,
        plans: Plans | None = None,
    ) -> Engine:
        """Open (and migrate) the store at ``url`` with ``catalog`` (a built-in name or a path).

        Both fall back to ``METERSTACK_DATABASE_URL`` / ``METERSTACK_CATALOG``, then to
        ``sqlite:///./meterstack.db`` and ``agentstack``.

        ``provider`` collects payments (``LocalProvider`` for development, a ``StripeAccount``
        in production, built here on the store that keeps its customers); without one,
        checkouts, customer pack purchases and the portal answer 503 ``payments_not_configured``.
        ``return_url_origins`` are the origins a checkout's success and cancel URLs may point to,
        besides the local provider's own (D30). ``webhooks`` is the operator's
        webhook settings (default: from ``METERSTACK_WEBHOOKS_…``, see docs/webhooks.md).
        ``store_timeout`` (seconds; default the URL's ``?timeout=``, else 5) bounds every wait
        for the database: past it a request is 503 ``store_unavailable``.
        ``usage_history=False`` keeps no hourly and daily usage buckets (D27; docs/monitoring.md).
        ``invoice_check`` sees each invoice a period close drafts before it is numbered; an
        account whose draft it raises on is left unclosed with the error as the reason (default:
        the ``module:function`` named by ``METERSTACK_INVOICE_CHECK``; docs/invoices.md).
        ``plans`` is the express lane's cache of plans (``services.express.Plans``; an engine
        makes its own): ``Plans(enabled=False)`` plans every request, ``Plans(on_lookup=...)``
        tells whether the lane took each one (docs/engine.md).
        """
        loaded = (
            catalog
            if isinstance(catalog, LoadedCatalog)
            else load_catalog(catalog if catalog is not None else default_catalog())
        )
        store = _open_store(
            str(url) if url is not None else default_database_url(), pool_size, store_timeout
        )
        try:
            return cls.on(
                store,
                catalog=loaded,
                clock=clock,
                idempotency_retention=idempotency_retention,
                provider=provider,
                return_url_origins=return_url_origins,
                webhooks=webhooks,
                usage_history=usage_history,
                invoice_check=invoice_check,
                plans=plans,
            )
        except BaseException:
            store.close()
            raise

    @classmethod
    def on(
        cls,
        store: Store,
        *,
        catalog: LoadedCatalog,
        clock: Clock | None = None,
        idempotency_retention: timedelta = DEFAULT_IDEMPOTENCY_RETENTION,
        provider: PaymentProvider | ProviderSetup | None = None,
        return_url_origins: Iterable[str] = (),
        webhooks: WebhookPolicy | None = None,
        usage_history: bool = True,
        invoice_check: InvoiceCheck | None = None,
        plans: Plans | None = None,
    ) -> Engine:
        """An engine on a store already open: any implementation of the store's ports.

        The other arguments are :meth:`open`'s.
        """
        if idempotency_retention < timedelta(days=35):
            raise InvalidInputError("idempotency keys must be kept at least 35 days (D7)")
        ctx = ServiceContext(
            store=store,
            clock=clock or SystemClock(),
            current=catalog,
            idempotency_retention=idempotency_retention,
            usage_history=usage_history,
        )
        ctx.register_current()
        return cls(
            ctx,
            provider,
            return_url_origins=return_url_origins,
            webhooks=webhooks,
            invoice_check=invoice_check if invoice_check is not None else _configured_check(),
            plans=plans,
        )

    def close(self) -> None:
        self._collections.close()
        self._webhooks.close()
        self._ctx.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def catalog(self) -> Catalog:
        """The catalog new accounts subscribe to."""
        return self._ctx.current.catalog

    @property
    def clock(self) -> Clock:
        return self._ctx.clock

    @property
    def backend(self) -> str:
        return self._ctx.store.backend

    def store_available(self) -> bool:
        """Whether the store answers a read now (within its timeout): the health probe."""
        try:
            with self._ctx.store.transaction() as tx:
                tx.accounts.version("")
        except MeterstackError:
            return False
        return True

    @property
    def collections(self) -> Collections:
        """Collecting finalized invoices and dunning (D29): the runner, each account's
        collections with their attempts, the operator's retry."""
        return self._collections

    @property
    def webhooks(self) -> Webhooks:
        """Outgoing webhooks: endpoints, events, deliveries, replays, the worker (D28)."""
        return self._webhooks

    @property
    def history(self) -> History:
        """Usage history (D27): hourly and daily buckets, read within the plan's analytics
        retention (D9), the operator's per-project breakdown (A11), and the prune."""
        return self._history

    @property
    def access(self) -> Access:
        """Dashboard sign-in: single-use links, passwords, browser sessions."""
        return self._access

    @property
    def directory(self) -> Directory:
        """Pages of accounts (search, filters) and of invoices, newest first."""
        return self._directory

    # ------------------------------------------------------------------ accounts

    def create_account(
        self,
        plan: str | None = None,
        *,
        interval: str = "monthly",
        email: str | None = None,
        name: str | None = None,
        actor: Actor = PYTHON,
    ) -> Account:
        return self._accounts.create_account(
            plan, interval=interval, email=email, name=name, actor=actor
        )

    def account(self, account_id: str) -> Account:
        return self._accounts.account(account_id)

    def create_project(
        self, account_id: str, *, name: str | None = None, active: bool = True
    ) -> ResourceObject:
        """A new project; refused past the plan's project (and active project) limit (A10, D12)."""
        return self._resources.create_resource(account_id, "projects", name=name, active=active)

    def create_resource(
        self,
        account_id: str,
        kind: str,
        *,
        project_id: str | None = None,
        name: str | None = None,
    ) -> ResourceObject:
        return self._resources.create_resource(account_id, kind, project_id=project_id, name=name)

    def delete_resource(self, resource_id: str, *, account_id: str | None = None) -> None:
        """Delete an object; its slot is free at once. With ``account_id``, another
        account's object answers 404."""
        self._resources.delete_resource(resource_id, account_id=account_id)

    delete_project = delete_resource

    def resources(self, account_id: str, kind: str | None = None) -> list[ResourceObject]:
        """The account's objects (of one kind), oldest first."""
        return self._resources.resources(account_id, kind)

    def set_active(
        self, resource_id: str, active: bool, *, actor: Actor = PYTHON
    ) -> ResourceObject:
        """Activate (checking the active limit, D12) or deactivate a project."""
        return self._resources.set_active(resource_id, active, actor=actor)

    def set_read_only(
        self, resource_id: str, read_only: bool, *, actor: Actor = PYTHON
    ) -> ResourceObject:
        return self._resources.set_read_only(resource_id, read_only, actor=actor)

    def check_write(self, resource_id: str) -> Decision:
        """Allowed, or 403 ``read_only`` for an object beyond the plan's limits (D13)."""
        return self._resources.check_write(resource_id)

    def create_end_user(self, account_id: str, *, name: str | None = None) -> ResourceObject:
        """An end user of the account, owner of per-user quantities (JSON storage, A2)."""
        return self._resources.create_resource(account_id, END_USER_KIND, name=name)

    # ------------------------------------------------------------------ gauges and leases

    def set_gauge(
        self, account_id: str, gauge: str, level: int, *, end_user_id: str | None = None
    ) -> Decision:
        """Set a stored quantity (bytes…), checked during the write (A10, D5)."""
        return self._entitlements.set_gauge(account_id, gauge, level, end_user_id=end_user_id)

    def adjust_gauge(
        self, account_id: str, gauge: str, delta: int, *, end_user_id: str | None = None
    ) -> Decision:
        """Move a stored quantity by ``delta``; growth is checked, shrinking always allowed."""
        return self._entitlements.adjust_gauge(account_id, gauge, delta, end_user_id=end_user_id)

    def gauge(
        self, account_id: str, gauge: str, *, end_user_id: str | None = None
    ) -> tuple[int, int]:
        """A gauge's level now and its peak this period (storage overage is on the peak)."""
        return self._entitlements.gauge_peak(account_id, gauge, end_user_id=end_user_id)

    def acquire_lease(
        self, account_id: str, item: str, *, ttl: float | timedelta | None = None
    ) -> Lease:
        """Occupy a concurrency slot for at most the item's longest lease (C6)."""
        return self._entitlements.acquire_lease(account_id, item, ttl=_seconds(ttl))

    def renew_lease(self, lease_id: str, *, ttl: float | timedelta | None = None) -> Reservation:
        return self._entitlements.renew_lease(lease_id, ttl=_seconds(ttl))

    def release_lease(self, lease_id: str) -> Reservation:
        """Free the slot; releasing a lapsed lease changes nothing."""
        return self._holds.release(lease_id)

    def require_feature(self, account_id: str, feature: str, level: str | None = None) -> Decision:
        """Whether the account's tier grants ``feature`` (at ``level``, for levelled features).

        Refused with 402 ``upgrade_required`` (naming the tier in ``extra["upgrade_to"]``) or
        403 ``not_allowed_for_tier`` as the catalog declares (D4).
        """
        return self._features.require_feature(account_id, feature, level)

    def check_payment(self, account_id: str, *, api_key_id: str | None = None) -> Decision:
        """Whether the account may process a payment now (A10), checked before processing one.

        Its tier first (the catalog's ``payments`` feature: 403 ``not_allowed_for_tier`` on
        AgentStack's ANONYMOUS), then, with ``api_key_id``, the key's service caps (403
        ``module_not_allowed``).
        """
        return self._features.check_payment(account_id, api_key_id=api_key_id)

    def entitlements(self, account_id: str) -> AccountEntitlements:
        """What the account's plan grants, with the operator's overrides (A2, A8, D14): every
        feature and level, every limit (packs included), analytics retention and exports,
        support level and uptime SLA."""
        return self._features.entitlements(account_id)

    # ------------------------------------------------------------------ metering

    def consume(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        project_id: str | None = None,
        idempotency_key: str | None = None,
        api_key_id: str | None = None,
        requires: Sequence[str] = (),
        byok: bool = False,
        amount: Decimal | None = None,
    ) -> Decision:
        """Record ``quantity`` of ``meter`` if the limits admit it; the decision either way.

        With ``api_key_id``, the key's own quota on the meter (A8) is one more bound. With
        ``requires``, the features the request needs (C3: managed models): one the tier lacks
        refuses it with the feature's 402/403 decision, and nothing is recorded. ``byok`` marks
        work run on the customer's own model key (the history counts it apart); ``amount`` is
        the transaction's amount on a meter priced by ``percentage`` (rated at period close).
        """
        event = UsageEvent(
            account_id,
            meter,
            quantity,
            project_id,
            idempotency_key,
            api_key_id,
            requires,
            byok,
            amount,
        )
        return self._grouped.consume(event)

    def check(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        project_id: str | None = None,
        requires: Sequence[str] = (),
    ) -> Decision:
        """The decision ``consume`` would make now; nothing is recorded."""
        return self._metering.check(
            UsageEvent(account_id, meter, quantity, project_id, requires=requires)
        )

    def consume_many(
        self, events: Iterable[UsageEvent | Mapping[str, Any]]
    ) -> list[Decision | MeterstackError]:
        """Decide many events in one transaction; one result per event, in order.

        Each result is the event's :class:`Decision`, or the error that event alone met
        (a malformed event, an unknown meter, an idempotency key reused…); the other events are
        unaffected. An event may name the features it ``requires``, as :meth:`consume` does.
        """
        return self._metering.consume_many([_event(event) for event in events])

    def reserve(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        ttl: float | timedelta | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
        requires: Sequence[str] = (),
    ) -> Reservation:
        """Hold ``quantity`` against the limits until committed, released or expired (D6, C6).

        ``ttl`` (seconds) is capped by the meter's longest hold. ``requires`` as for
        :meth:`consume`: a feature the tier lacks refuses the hold, and nothing is held.
        """
        event = UsageEvent(account_id, meter, quantity, project_id, idempotency_key, None, requires)
        decision = self._metering.reserve(event, _seconds(ttl))
        expires = decision.extra.get("expires_at")
        return Reservation(
            id=decision.reservation_id,
            account_id=account_id,
            meter=meter,
            quantity=quantity,
            project_id=project_id,
            status="open" if decision.allowed else "refused",
            expires_at=None if expires is None else _parse_time(expires),
            decision=decision,
        )

    def commit(self, reservation_id: str, quantity: int | None = None) -> Decision:
        """Record the hold's actual quantity; None = what was held (D6)."""
        return self._holds.commit(reservation_id, quantity)

    def release(self, reservation_id: str) -> Reservation:
        return self._holds.release(reservation_id)

    def usage(self, account_id: str, *, project_id: str | None = None) -> UsageReport:
        """Every meter and resource: used, held, limit, hard limit, remaining, percent."""
        return self._usage.usage(account_id, project_id=project_id)

    def purge_idempotency_keys(self, *, window: int = PURGE_WINDOW) -> int:
        """Delete idempotency keys older than the retention (D7); the number deleted.

        Lapsed keys are already ignored when they come back; this maintenance task (run it daily,
        e.g. ``meterstack purge-keys`` from cron) keeps their table from growing forever. It
        examines ``window`` keys per transaction, so traffic goes on while it runs.
        """
        return self._metering.purge_idempotency_keys(window)

    # ------------------------------------------------------------------ subscriptions

    def subscription(self, account_id: str) -> Subscription:
        """Plan, interval, current period and any pending downgrade or cancellation."""
        return self._subscriptions.subscription(account_id)

    def change_plan(
        self, account_id: str, plan: str, interval: str | None = None, *, actor: Actor = PYTHON
    ) -> PlanChange:
        """Upgrade at once with a proration invoice (D10), or downgrade at period end (C7)."""
        change = self._subscriptions.change_plan(account_id, plan, interval, actor=actor)
        self._alerts.reevaluate(account_id)  # D25: a higher limit resolves usage alerts
        return change

    def downgrade(
        self, account_id: str, plan: str, interval: str | None = None, *, actor: Actor = PYTHON
    ) -> PlanChange:
        """A customer's downgrade to a cheaper self-serve plan, at the end of the paid interval.

        The customer's form of :meth:`change_plan` (D30): the plan must be ``self_serve`` with
        a price and the interval offered; an upgrade is refused (it is paid by a checkout).
        """
        return self._subscriptions.downgrade(account_id, plan, interval, actor=actor)

    def cancel(self, account_id: str, *, actor: Actor = PYTHON) -> Subscription:
        """Keep the plan until the paid interval ends (a yearly plan keeps its year), then move
        to the fallback plan (B9, D30)."""
        return self._subscriptions.cancel(account_id, actor=actor)

    def resume(self, account_id: str, *, actor: Actor = PYTHON) -> Subscription:
        """Withdraw a pending downgrade or cancellation; 409 when none waits."""
        return self._subscriptions.resume(account_id, actor=actor)

    def checkout(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        interval: str | None = None,
        pack: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> Checkout:
        """A hosted checkout for an upgrade (B8) or a pack (A6); it changes nothing until paid."""
        request = CheckoutRequest(
            account_id,
            "pack" if pack is not None else "plan",
            plan_id=plan,
            billing_interval=interval,
            pack_id=pack,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        return self._payments.checkout(request)

    @property
    def payment_provider(self) -> PaymentProvider:
        """The provider this engine takes payments through (the one built from a
        :class:`ProviderSetup` when it was given one); 503 ``payments_not_configured`` without."""
        return self._payments.provider

    def disputes(self, account_id: str) -> list[PaymentDispute]:
        """The disputes of the account's payments (deposits, reloads, invoices), oldest first,
        each ``open``, ``won`` or ``lost``; 404 for an unknown account."""
        assert self._payments.disputes is not None
        return self._payments.disputes.of(account_id)

    def pending_invoice_mirrors(self) -> list[InvoiceMirror]:
        """Invoices a checkout paid that the provider does not list yet (its mirror failed),
        each with why its last attempt did not go through; each collections pass retries them."""
        return self._payments.mirrors.pending()

    def send_invoice_mirrors(self) -> list[InvoiceMirror]:
        """Ask the provider again for every pending mirror now (the collections pass does)."""
        return self._payments.mirrors.send_pending()

    @property
    def return_url_origins(self) -> frozenset[str]:
        """The origins a checkout's success and cancel URLs may point to (D30)."""
        return self._payments.return_url_origins

    def get_checkout(self, checkout_id: str) -> Checkout:
        return self._payments.checkout_of(checkout_id)

    def pay_checkout(self, checkout_id: str, secret: str | None) -> EventOutcome:
        """Pay a checkout on the local provider: fires ``checkout.completed``.

        ``secret`` is the one the checkout's URL carries; without it, or with another, the
        answer is 404 and nothing changes.
        """
        return self._payments.pay(checkout_id, secret)

    def local_checkout(self, checkout_id: str, secret: str | None) -> Checkout:
        """A local provider's checkout, seen through its URL's secret (404 otherwise)."""
        return self._payments.local_checkout(checkout_id, secret)

    def apply_payment_event(self, event: PaymentEvent) -> EventOutcome:
        """Apply a provider's payment event; a second delivery changes nothing (B11)."""
        return self._payments.apply(event)

    def receive_stripe_webhook(self, payload: bytes, signature: str | None) -> WebhookReceipt:
        """A delivery of Stripe's webhooks (B11): 400 ``invalid_signature`` unless its
        ``Stripe-Signature`` verifies and is recent; the outcome it reports is applied once.
        404 when the payments are not Stripe's."""
        if self._stripe_webhooks is None:
            raise NotFoundError("this service takes no Stripe webhooks: Stripe is not configured")
        return self._stripe_webhooks.receive(payload, signature)

    def stripe_customer_id(self, account_id: str) -> str | None:
        """The account's Stripe Customer once one was made for it (B4), else None (D15)."""
        return self._payments.customer_id(account_id, "stripe")

    def portal_url(self, account_id: str) -> str:
        """The customer portal's address (B10); the local provider's link expires."""
        return self._payments.portal_url(account_id)

    def local_portal(self, account_id: str, token: str | None) -> None:
        """Check a local provider's portal link (its token, its expiry): 404 otherwise."""
        self._payments.local_portal(account_id, token)

    def migration_plan(self, account_ids: list[str] | None = None) -> list[AccountMigration]:
        """Grandfathered accounts: who would move to the current catalog, and what changes."""
        return self._migrations.plan(account_ids)

    def migrate_accounts(
        self, account_ids: list[str] | None = None, *, actor: Actor = PYTHON
    ) -> list[AccountMigration]:
        """Move grandfathered accounts to the current catalog version from now on."""
        return self._migrations.apply(account_ids, actor=actor)

    # ------------------------------------------------------------------ invoices

    def close_period(self, *, progress: Callable[[int], None] | None = None) -> ClosedPeriods:
        """Close every period that has ended by the clock's now; the invoices it created.

        Running it again, or from two processes at once, creates nothing more. An account that
        cannot be rated is left unclosed and listed in the answer's ``failures`` (and in
        :meth:`close_failures`) with the reason; every other account is invoiced.
        """
        return self._close.close(progress=progress)

    def close_failures(self) -> list[CloseFailure]:
        """The accounts the period closes could not rate, until their period closes."""
        with self._ctx.store.transaction() as tx:
            return tx.invoices.close_failures()

    def invoices(self, account_id: str) -> list[Invoice]:
        """The account's invoices, oldest first."""
        return self._invoices.of_account(account_id)

    def invoice(self, number: str, *, account_id: str | None = None) -> Invoice:
        """The invoice numbered ``number``; with ``account_id``, another account's is 404."""
        return self._invoices.by_number(number, account_id=account_id)

    def pay_invoice(self, number: str, *, actor: Actor = PYTHON) -> Invoice:
        """Record that a finalized (or uncollectible) invoice was paid."""
        return self._invoices.move(number, InvoiceStatus.PAID, actor=actor)

    def void_invoice(self, number: str, *, actor: Actor = PYTHON) -> Invoice:
        """Void an invoice; a paid one's collected money (less its credit notes) is refunded
        through the provider."""
        return self._invoices.move(number, InvoiceStatus.VOID, actor=actor)

    def credit_invoice(
        self, number: str, amount: Decimal, reason: str, *, actor: Actor = PYTHON
    ) -> CreditNote:
        """A credit note on a paid invoice: ``amount`` (whole minor units) refunded through
        the provider, at most what earlier credit notes left of the total."""
        return self._invoices.credit(number, amount, reason, actor=actor)

    def credit_notes(self, number: str) -> list[MoneyRefund]:
        """An invoice's refunds (credit notes and void), oldest first."""
        return self._invoices.credit_notes(number)

    def mark_uncollectible(self, number: str, *, actor: Actor = PYTHON) -> Invoice:
        return self._invoices.move(number, InvoiceStatus.UNCOLLECTIBLE, actor=actor)

    # ------------------------------------------------------------------ audit log

    def audit(
        self,
        *,
        account_id: str | None = None,
        kind: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """The audit log, newest first: every billing change with who, when, before, after
        and why (docs/audit.md). ``account_id`` and ``kind`` filter it; ``before`` is the
        previous page's ``next_before``."""
        return self._audit.entries(account_id=account_id, kind=kind, before=before, limit=limit)

    # ------------------------------------------------------------------ operator levers

    def set_overage(
        self,
        account_id: str,
        enabled: bool,
        *,
        meter: str | None = None,
        project_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> None:
        self._levers.set_overage(
            account_id, enabled, meter=meter, project_id=project_id, actor=actor
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
        """The customer's form of :meth:`set_overage` (A5, D3): turning overage on needs a
        payment method on file once a real provider is configured (402
        ``payment_method_required``)."""
        self._payments.switch_overage(
            account_id, enabled, meter=meter, project_id=project_id, actor=actor
        )

    def set_limit(
        self,
        account_id: str,
        item: str,
        limit: int | Unlimited | str | None,
        *,
        grace: Decimal | int | str | None = None,
        project_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> None:
        self._levers.set_limit(
            account_id, item, limit, grace=grace, project_id=project_id, actor=actor
        )
        self._alerts.reevaluate(account_id)  # D25: a raised limit resolves usage alerts

    def set_feature(
        self, account_id: str, feature: str, value: bool | str | None, *, actor: Actor = PYTHON
    ) -> None:
        """An operator's value of a feature for one account (D14); None = the plan's again."""
        self._levers.set_feature(account_id, feature, value, actor=actor)

    def set_price(
        self,
        account_id: str,
        *,
        monthly: Decimal | str | None = None,
        yearly: Decimal | str | None = None,
        clear: bool = False,
        actor: Actor = PYTHON,
    ) -> None:
        """An operator's subscription price for one account (D14); ``clear`` removes it."""
        self._levers.set_price(account_id, monthly=monthly, yearly=yearly, clear=clear, actor=actor)

    def set_charge(
        self,
        account_id: str,
        item: str,
        charge: Mapping[str, Any] | None,
        *,
        kind: str = "overage",
        enabled: bool = False,
        actor: Actor = PYTHON,
    ) -> None:
        """An operator's overage (or usage) price of an item for one account (D14)."""
        self._levers.set_charge(account_id, item, charge, kind=kind, enabled=enabled, actor=actor)

    def clear_limit(
        self,
        account_id: str,
        item: str,
        *,
        project_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> None:
        self._levers.clear_limit(account_id, item, project_id=project_id, actor=actor)
        self._alerts.reevaluate(account_id)

    def buy_pack(self, account_id: str, pack_id: str, *, actor: Actor = PYTHON) -> PackPurchase:
        """Buy a pack: its own invoice, paid at once on the embedded provider, then the capacity.

        Plans without payments (AgentStack's ANONYMOUS) cannot buy packs (402).
        """
        purchase = self._purchases.buy_pack(account_id, pack_id, actor=actor)
        self._alerts.reevaluate(account_id)  # D25: a pack's units resolve usage alerts
        return purchase

    def pack_for(self, account_id: str, item: str, size: str) -> str:
        """The id of the pack of ``item`` with ``size`` (``small``, ``medium``…) (A6)."""
        return self._purchases.pack_for(account_id, item, size)

    def purchase_pack(
        self, account_id: str, pack_id: str, *, actor: Actor = PYTHON
    ) -> PackPurchase | Checkout:
        """A customer's pack purchase: bought at once on a provider that collects without the
        buyer (the embedded one), otherwise a checkout to pay first (A6, D11). Without a
        provider: 503 ``payments_not_configured``."""
        if self._payments.provider.needs_buyer_present:
            return self.checkout(account_id, pack=pack_id)
        return self.buy_pack(account_id, pack_id, actor=actor)

    # ------------------------------------------------------------------ alerts (D25, D26)

    def alerts(self, account_id: str) -> list[AlertView]:
        """The account's alerts: the catalog's default thresholds on its limited meters (C8),
        then its own, each ``armed`` or ``triggered`` (fired and not resolved yet)."""
        return self._alerts.of_account(account_id)

    def alert(self, account_id: str, alert_id: str) -> AlertView:
        return self._alerts.get(account_id, alert_id)

    def create_alert(
        self,
        account_id: str,
        kind: AlertKind | str,
        *,
        meter: str | None = None,
        threshold: Decimal | int | str | None = None,
        actor: Actor = PYTHON,
    ) -> AlertView:
        """A new alert (at most 50 per account): ``usage_percent`` / ``usage_units`` of a meter
        (threshold % of the effective limit, or units), ``grace_entered`` / ``limit_reached`` of
        a meter, ``current_charges`` (an amount), ``wallet_balance`` (below an amount),
        ``payment_failed``. It fires once per crossing, inside the admission that crossed it."""
        return self._alerts.create(
            account_id, str(kind), meter=meter, threshold=threshold, actor=actor
        )

    def delete_alert(self, account_id: str, alert_id: str, *, actor: Actor = PYTHON) -> None:
        self._alerts.delete(account_id, alert_id, actor=actor)

    def budget(self, account_id: str) -> BudgetView:
        """The account's budget and the period's charges against it (D26)."""
        return self._alerts.budget(account_id)

    def set_budget(
        self,
        account_id: str,
        amount: Decimal | str | None,
        *,
        mode: str = "hard",
        actor: Actor = PYTHON,
    ) -> BudgetView:
        """A maximum monthly cost (whole cents): ``soft`` warns at 75/90/100 %, ``hard`` also
        refuses overage and wallet charges that would pass it (402 ``budget_exceeded``);
        ``amount`` None removes it."""
        return self._alerts.set_budget(account_id, amount, mode, actor=actor)

    def grant_pack(self, account_id: str, pack_id: str, *, actor: Actor = PYTHON) -> PackGrant:
        grant = self._levers.grant_pack(account_id, pack_id, actor=actor)
        self._alerts.reevaluate(account_id)
        return grant


def _event(event: UsageEvent | Mapping[str, Any]) -> UsageEvent | InvalidInputError:
    """The event, or the error that this event alone answers with."""
    if isinstance(event, UsageEvent):
        return event
    if not isinstance(event, Mapping):
        return InvalidInputError(f"a usage event is an object, got {event!r}"[:200])
    for name in ("account_id", "meter"):
        if not isinstance(event.get(name), str):
            return InvalidInputError(f"a usage event needs {name!r}, a string", field=name)
    for name in ("project_id", "idempotency_key", "api_key_id"):
        if not isinstance(event.get(name, ""), str | None):
            return InvalidInputError(f"{name} must be a string or null", field=name)
    amount: Any = event.get("amount")
    if isinstance(amount, str | int) and not isinstance(amount, bool):
        try:  # a batch's JSON carries the amount as a decimal string (or a whole number)
            amount = Decimal(str(amount))
        except ArithmeticError:
            return InvalidInputError(f"amount must be a decimal amount, got {amount!r}"[:200])
    requires = event.get("requires", ())
    if requires is None:
        requires = ()
    if not isinstance(requires, list | tuple):
        return InvalidInputError("requires must be a list of feature names", field="requires")
    return UsageEvent(
        account_id=event["account_id"],
        meter=event["meter"],
        quantity=event.get("quantity", 1),
        project_id=event.get("project_id"),
        idempotency_key=event.get("idempotency_key"),
        api_key_id=event.get("api_key_id"),
        requires=requires,
        byok=event.get("byok", False),
        amount=amount,
    )


def _seconds(ttl: float | timedelta | None) -> timedelta | None:
    if ttl is None or isinstance(ttl, timedelta):
        return ttl
    if isinstance(ttl, bool) or not isinstance(ttl, int | float | Decimal):
        raise InvalidInputError(f"ttl must be a number of seconds, got {ttl!r}")
    if not 0 < ttl <= MAX_TTL_SECONDS:
        raise InvalidInputError(
            f"ttl must be more than 0 and at most {MAX_TTL_SECONDS} seconds, got {ttl!r}"
        )
    return timedelta(seconds=float(ttl))


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _open_store(url: str, pool_size: int, timeout: float | None) -> SqlStore:
    """The store at ``url``; a database that cannot be reached is a 503 with one line to say
    so (the CLI prints it as its error), not a driver's traceback."""
    try:
        return SqlStore(url, pool_size=pool_size, timeout=timeout)
    except MeterstackError:
        raise
    except Exception as error:
        # SQLAlchemy wraps the driver's error in its own; ``orig`` is the driver's.
        driver_error = getattr(error, "orig", None) or error
        if not unavailable(driver_error):
            raise
        reason = (str(driver_error).strip().splitlines() or [type(driver_error).__name__])[0]
        raise StoreUnavailableError(
            f"cannot open the database {_without_password(url)}: {reason}",
            reason=type(driver_error).__name__,
        ) from error


def _configured_check() -> InvoiceCheck | None:
    """The invoice check ``METERSTACK_INVOICE_CHECK`` names (``package.module:function``)."""
    spec = default_invoice_check()
    if spec is None:
        return None
    module_name, _, name = spec.partition(":")
    try:
        found = getattr(import_module(module_name), name, None) if module_name and name else None
    except ImportError as error:
        raise InvalidInputError(
            f"METERSTACK_INVOICE_CHECK: cannot import {module_name!r}: {error}"
        ) from error
    if not callable(found):
        raise InvalidInputError(
            f"METERSTACK_INVOICE_CHECK must name a function as module:function, not {spec!r}"
        )
    return cast(InvoiceCheck, found)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
