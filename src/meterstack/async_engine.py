"""The engine's async face: every call of :class:`Engine`, awaitable.

The engine talks to its database through blocking drivers, so each call runs in a worker thread
and the event loop goes on meanwhile. Concurrent ``consume`` calls, as an async server makes them,
meet in the engine's group commit and share transactions. The methods are the engine's own, with
the same arguments, answers and errors; only ``open``, ``close`` and the ``async with`` block
differ.

    async with await AsyncEngine.open("sqlite:///billing.db", catalog="agentstack") as engine:
        account = await engine.create_account(plan="free")
        decision = await engine.consume(account.id, "api_calls", 1, idempotency_key="req-42")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from functools import partial, wraps
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from meterstack.catalog.loader import LoadedCatalog
from meterstack.catalog.schema import Catalog
from meterstack.clock import Clock
from meterstack.engine import Engine
from meterstack.records.invoicing import InvoiceCheck
from meterstack.records.payments import PaymentProvider
from meterstack.records.webhooks import WebhookPolicy
from meterstack.services.context import DEFAULT_IDEMPOTENCY_RETENTION
from meterstack.services.express import Plans
from meterstack.store.ports import Store

P = ParamSpec("P")
R = TypeVar("R")

#: Worker threads one async engine uses at most (the engine's default pool has 20 connections).
DEFAULT_THREADS = 20


def _in_thread(
    method: Callable[Concatenate[Engine, P], R],
) -> Callable[Concatenate[AsyncEngine, P], Awaitable[R]]:
    """``Engine.method`` as a coroutine method run in one of the engine's worker threads."""

    @wraps(method)
    async def call(self: AsyncEngine, /, *args: P.args, **kwargs: P.kwargs) -> R:
        work = partial(method, self.engine, *args, **kwargs)
        return await anyio.to_thread.run_sync(work, limiter=self._threads)

    return call


class AsyncEngine:
    """An :class:`Engine` whose calls are awaited; ``engine`` is the engine itself."""

    def __init__(self, engine: Engine, *, threads: int = DEFAULT_THREADS) -> None:
        self.engine = engine
        self._threads = anyio.CapacityLimiter(threads)

    @classmethod
    async def open(cls, *args: Any, threads: int = DEFAULT_THREADS, **options: Any) -> AsyncEngine:
        """:meth:`Engine.open` (which migrates the store) in a worker thread."""
        engine = await anyio.to_thread.run_sync(partial(Engine.open, *args, **options))
        return cls(engine, threads=threads)

    @classmethod
    async def on(
        cls,
        store: Store,
        *,
        catalog: LoadedCatalog,
        clock: Clock | None = None,
        idempotency_retention: timedelta = DEFAULT_IDEMPOTENCY_RETENTION,
        provider: PaymentProvider | None = None,
        return_url_origins: Iterable[str] = (),
        webhooks: WebhookPolicy | None = None,
        usage_history: bool = True,
        invoice_check: InvoiceCheck | None = None,
        plans: Plans | None = None,
    ) -> AsyncEngine:
        """:meth:`Engine.on` (a store already open) in a worker thread."""
        engine = await anyio.to_thread.run_sync(
            partial(
                Engine.on,
                store,
                catalog=catalog,
                clock=clock,
                idempotency_retention=idempotency_retention,
                provider=provider,
                return_url_origins=return_url_origins,
                webhooks=webhooks,
                usage_history=usage_history,
                invoice_check=invoice_check,
                plans=plans,
            )
        )
        return cls(engine)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self.engine.close)

    async def __aenter__(self) -> AsyncEngine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def catalog(self) -> Catalog:
        return self.engine.catalog

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @property
    def backend(self) -> str:
        return self.engine.backend

    # The store's health
    store_available = _in_thread(Engine.store_available)

    # The prepaid wallet (B2, D20–D24)
    deposit = _in_thread(Engine.deposit)
    deposit_amount = _in_thread(Engine.deposit_amount)
    charge = _in_thread(Engine.charge)
    wallet = _in_thread(Engine.wallet)
    wallet_transactions = _in_thread(Engine.wallet_transactions)
    earnings_entries = _in_thread(Engine.earnings_entries)
    adjust_wallet = _in_thread(Engine.adjust_wallet)
    refund_charge = _in_thread(Engine.refund_charge)
    refund_deposit = _in_thread(Engine.refund_deposit)
    refunds = _in_thread(Engine.refunds)
    send_refunds = _in_thread(Engine.send_refunds)
    charge_account = _in_thread(Engine.charge_account)
    set_wallet_price = _in_thread(Engine.set_wallet_price)
    set_auto_reload = _in_thread(Engine.set_auto_reload)
    wallet_spend = _in_thread(Engine.wallet_spend)
    wallet_reloads = _in_thread(Engine.wallet_reloads)
    collect_reloads = _in_thread(Engine.collect_reloads)
    create_item = _in_thread(Engine.create_item)
    set_item_price = _in_thread(Engine.set_item_price)
    item = _in_thread(Engine.item)
    items = _in_thread(Engine.items)
    run_payouts = _in_thread(Engine.run_payouts)
    onboarding_link = _in_thread(Engine.onboarding_link)
    creator_account = _in_thread(Engine.creator_account)
    earnings = _in_thread(Engine.earnings)
    # Metering
    consume = _in_thread(Engine.consume)
    check = _in_thread(Engine.check)
    consume_many = _in_thread(Engine.consume_many)
    reserve = _in_thread(Engine.reserve)
    commit = _in_thread(Engine.commit)
    release = _in_thread(Engine.release)
    usage = _in_thread(Engine.usage)
    purge_idempotency_keys = _in_thread(Engine.purge_idempotency_keys)
    # Accounts, resources and entitlements
    create_account = _in_thread(Engine.create_account)
    account = _in_thread(Engine.account)
    create_project = _in_thread(Engine.create_project)
    delete_project = _in_thread(Engine.delete_project)
    create_resource = _in_thread(Engine.create_resource)
    delete_resource = _in_thread(Engine.delete_resource)
    resources = _in_thread(Engine.resources)
    set_active = _in_thread(Engine.set_active)
    set_read_only = _in_thread(Engine.set_read_only)
    check_write = _in_thread(Engine.check_write)
    create_end_user = _in_thread(Engine.create_end_user)
    set_gauge = _in_thread(Engine.set_gauge)
    adjust_gauge = _in_thread(Engine.adjust_gauge)
    gauge = _in_thread(Engine.gauge)
    acquire_lease = _in_thread(Engine.acquire_lease)
    renew_lease = _in_thread(Engine.renew_lease)
    release_lease = _in_thread(Engine.release_lease)
    require_feature = _in_thread(Engine.require_feature)
    require_module = _in_thread(Engine.require_module)
    check_payment = _in_thread(Engine.check_payment)
    entitlements = _in_thread(Engine.entitlements)
    # Operator levers and packs
    set_overage = _in_thread(Engine.set_overage)
    switch_overage = _in_thread(Engine.switch_overage)
    set_limit = _in_thread(Engine.set_limit)
    clear_limit = _in_thread(Engine.clear_limit)
    set_feature = _in_thread(Engine.set_feature)
    set_price = _in_thread(Engine.set_price)
    set_charge = _in_thread(Engine.set_charge)
    grant_pack = _in_thread(Engine.grant_pack)
    buy_pack = _in_thread(Engine.buy_pack)
    purchase_pack = _in_thread(Engine.purchase_pack)
    pack_for = _in_thread(Engine.pack_for)
    # API keys and registration
    create_api_key = _in_thread(Engine.create_api_key)
    revoke_api_key = _in_thread(Engine.revoke_api_key)
    api_keys = _in_thread(Engine.api_keys)
    authenticate = _in_thread(Engine.authenticate)
    create_anonymous_account = _in_thread(Engine.create_anonymous_account)
    convert_anonymous = _in_thread(Engine.convert_anonymous)
    # Subscriptions and payments
    subscription = _in_thread(Engine.subscription)
    change_plan = _in_thread(Engine.change_plan)
    downgrade = _in_thread(Engine.downgrade)
    cancel = _in_thread(Engine.cancel)
    resume = _in_thread(Engine.resume)
    checkout = _in_thread(Engine.checkout)
    get_checkout = _in_thread(Engine.get_checkout)
    pay_checkout = _in_thread(Engine.pay_checkout)
    local_checkout = _in_thread(Engine.local_checkout)
    apply_payment_event = _in_thread(Engine.apply_payment_event)
    portal_url = _in_thread(Engine.portal_url)
    receive_stripe_webhook = _in_thread(Engine.receive_stripe_webhook)
    stripe_customer_id = _in_thread(Engine.stripe_customer_id)
    disputes = _in_thread(Engine.disputes)
    pending_invoice_mirrors = _in_thread(Engine.pending_invoice_mirrors)
    send_invoice_mirrors = _in_thread(Engine.send_invoice_mirrors)
    local_portal = _in_thread(Engine.local_portal)
    migration_plan = _in_thread(Engine.migration_plan)
    migrate_accounts = _in_thread(Engine.migrate_accounts)
    # Alerts and the budget guard (D25, D26)
    alerts = _in_thread(Engine.alerts)
    alert = _in_thread(Engine.alert)
    create_alert = _in_thread(Engine.create_alert)
    delete_alert = _in_thread(Engine.delete_alert)
    budget = _in_thread(Engine.budget)
    set_budget = _in_thread(Engine.set_budget)
    # Invoices
    close_period = _in_thread(Engine.close_period)
    close_failures = _in_thread(Engine.close_failures)
    invoices = _in_thread(Engine.invoices)
    invoice = _in_thread(Engine.invoice)
    pay_invoice = _in_thread(Engine.pay_invoice)
    void_invoice = _in_thread(Engine.void_invoice)
    credit_invoice = _in_thread(Engine.credit_invoice)
    credit_notes = _in_thread(Engine.credit_notes)
    mark_uncollectible = _in_thread(Engine.mark_uncollectible)
    # The audit log
    audit = _in_thread(Engine.audit)
