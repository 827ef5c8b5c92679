"""Subscriptions: upgrades at once, downgrades and cancellations at period end (B8, B9, C7).

An upgrade takes effect immediately: the new limits apply to the next request, usage so far counts
toward them, and the difference in price for the rest of the period is invoiced (D10). A downgrade
or a cancellation waits for the period's end as a pending change, visible in the subscription and
in usage; it takes effect exactly then (the first request or close after that instant applies it,
dated at that instant). Unused quota never rolls over (C7). When limits go down, the oldest objects
within the new limits stay writable and the rest become read-only, their data kept; an upgrade
makes them writable again (B9, D13).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Plan, PlanPrice
from meterstack.errors import InvalidInputError
from meterstack.invoicing.issue import issue_invoice
from meterstack.invoicing.model import Invoice, InvoiceLine
from meterstack.money import round_money
from meterstack.rules.periods import Period
from meterstack.rules.terms import AccountState, item_terms, plan_of
from meterstack.services.context import ServiceContext
from meterstack.store.sql import Transaction
from meterstack.store.subscriptions import PendingChange, change_plan, pending, set_pending
from meterstack.webhooks.announce import announce_applied, announce_resumed, announce_subscription

PRORATION_INVOICE = "proration"
SHARE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Subscription:
    account_id: str
    plan: str
    billing_interval: str
    status: str
    catalog: str
    catalog_version: int
    current_period: Period
    #: A downgrade or cancellation waiting for ``pending.effective_at``; None when none waits.
    pending: PendingChange | None

    @property
    def pending_plan(self) -> str | None:
        """The plan a waiting change moves to; None when no change waits."""
        return None if self.pending is None else self.pending.plan_id


@dataclass(frozen=True)
class PlanChange:
    subscription: Subscription
    #: True when the change took effect at once (an upgrade).
    immediate: bool
    #: The proration invoice of an upgrade, when there was anything to charge.
    invoice: Invoice | None


class Subscriptions:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        ctx.apply_due = self._apply_due

    def subscription(self, account_id: str) -> Subscription:
        with self.ctx.store.transaction() as tx:
            return self._subscription(tx, account_id)

    def change_plan(self, account_id: str, plan_id: str, interval: str | None = None) -> PlanChange:
        """Upgrade at once (with proration), or schedule a downgrade for the period's end."""
        with self.ctx.store.transaction() as tx:
            return self.change_plan_in(tx, account_id, plan_id, interval)

    def is_upgrade(self, account_id: str, plan_id: str, interval: str | None) -> bool:
        """Whether moving to ``plan_id`` would be an upgrade (which a customer pays first, B8)."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            account = tx.account(account_id)
            assert account is not None
            target = _target_plan(catalog, plan_id)
            return _upgrade(catalog, state.plan_id, account.billing_interval, target.id, interval)

    def change_plan_in(
        self,
        tx: Transaction,
        account_id: str,
        plan_id: str,
        interval: str | None = None,
        *,
        paid: bool = False,
    ) -> PlanChange:
        """:meth:`change_plan` inside the caller's transaction; ``paid``: its proration was
        collected by a checkout."""
        now = self.ctx.now()
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        account = tx.account(account_id)
        assert account is not None
        target = _target_plan(catalog, plan_id)
        interval = interval or account.billing_interval
        if interval not in catalog.policies.intervals:
            raise InvalidInputError(
                f"billing interval {interval!r} is not offered; choose one of "
                + ", ".join(catalog.policies.intervals),
                interval=interval,
            )
        current = catalog.plan(state.plan_id)
        if target.id == current.id and interval == account.billing_interval:
            raise InvalidInputError(
                f"the account is already on {target.name}, {interval}", plan=target.id
            )
        upgrade = _upgrade(catalog, current.id, account.billing_interval, target.id, interval)
        if not upgrade:
            period = self.ctx.period(catalog, state, now)
            change = PendingChange("downgrade", target.id, interval, period.end, now)
            set_pending(tx, account_id, change)
            self.ctx.changed(tx, account_id)
            announce_subscription(tx, account_id, "downgrade_scheduled", now)
            return PlanChange(self._subscription(tx, account_id), False, None)
        period = self.ctx.period(catalog, state, now)
        line = _proration(
            catalog,
            plan_of(catalog, state),
            account.billing_interval,
            target,
            interval,
            period,
            now,
        )
        change_plan(tx, account_id, target.id, interval, state.catalog_hash, now)
        set_pending(tx, account_id, None)
        self.ctx.changed(tx, account_id)
        reconcile_read_only(tx, catalog, self.ctx.state(tx, account_id))
        invoice = None
        if line is not None:
            invoice = issue_invoice(
                tx,
                account_id=account_id,
                kind=PRORATION_INVOICE,
                catalog=catalog,
                plan_id=target.id,
                period=period,
                lines=[line],
                now=now,
                paid=paid,
            )
        announce_subscription(tx, account_id, "upgraded", now)
        return PlanChange(self._subscription(tx, account_id), True, invoice)

    def cancel(self, account_id: str) -> Subscription:
        """Keep the plan until the period ends, then move to the catalog's fallback plan (B9)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            fallback = catalog.policies.fallback_plan
            if state.plan_id == fallback:
                raise InvalidInputError(
                    f"the account is on {catalog.plan(fallback).name} already: nothing to cancel"
                )
            period = self.ctx.period(catalog, state, now)
            set_pending(
                tx, account_id, PendingChange("cancel", fallback, "monthly", period.end, now)
            )
            self.ctx.changed(tx, account_id)
            announce_subscription(tx, account_id, "cancel_scheduled", now)
            return self._subscription(tx, account_id)

    def resume(self, account_id: str) -> Subscription:
        """Withdraw a pending downgrade or cancellation."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            announce_resumed(tx, account_id, self.ctx.now())
            set_pending(tx, account_id, None)
            self.ctx.changed(tx, account_id)
            return self._subscription(tx, account_id)

    def _apply_due(self, tx: Transaction, account_id: str, now: datetime) -> None:
        apply_pending(self.ctx, tx, account_id, now)

    def _subscription(self, tx: Transaction, account_id: str) -> Subscription:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        account = tx.account(account_id)
        assert account is not None
        waiting = pending(tx, account_id)
        return Subscription(
            account_id=account_id,
            plan=account.plan_id,
            billing_interval=account.billing_interval,
            status="cancelling" if waiting is not None and waiting.kind == "cancel" else "active",
            catalog=catalog.catalog,
            catalog_version=catalog.version,
            current_period=self.ctx.period(catalog, state),
            pending=waiting,
        )


def apply_pending(ctx: ServiceContext, tx: Transaction, account_id: str, now: datetime) -> None:
    """Carry out the account's pending change if it is due, dated at its own instant."""
    change = pending(tx, account_id)
    if change is None or change.effective_at > now:
        return
    account = tx.account(account_id)
    assert account is not None
    change_plan(
        tx,
        account_id,
        change.plan_id,
        change.billing_interval,
        account.catalog_hash,
        change.effective_at,
    )
    set_pending(tx, account_id, None)
    ctx.forget(tx, account_id)
    tx.bump_version(account_id)
    state = tx.account_state(account_id)
    assert state is not None
    reconcile_read_only(tx, ctx.catalog(tx, account.catalog_hash), state)
    announce_applied(tx, account_id, change)


def reconcile_read_only(tx: Transaction, catalog: Catalog, state: AccountState) -> None:
    """Within each limit the oldest objects are writable, the rest read-only (D13)."""
    for kind, resource in catalog.resources.items():
        if resource.subset_of is not None:
            continue
        limit = item_terms(catalog, state, kind).limit
        rows = tx.all(
            "SELECT id, read_only FROM resources WHERE account_id = :account_id AND kind = :kind "
            "ORDER BY created_at, id",
            {"account_id": state.account_id, "kind": kind},
        )
        for index, (resource_id, read_only) in enumerate(rows):
            should = limit is not None and index >= limit
            if bool(read_only) != should:
                tx.execute(
                    "UPDATE resources SET read_only = :read_only WHERE id = :id",
                    {"read_only": should, "id": resource_id},
                )


def _upgrade(
    catalog: Catalog, current: str, current_interval: str, target: str, interval: str | None
) -> bool:
    """A higher tier, or the same plan moving from monthly to yearly billing."""
    if catalog.tier_rank(target) != catalog.tier_rank(current):
        return catalog.tier_rank(target) > catalog.tier_rank(current)
    return interval == "yearly" and current_interval != "yearly"


def _target_plan(catalog: Catalog, plan_id: str) -> Plan:
    if plan_id not in catalog.plans_by_id:
        raise InvalidInputError(
            f"unknown plan {plan_id!r}; catalog {catalog.catalog!r} plans: "
            + ", ".join(catalog.plan_ids),
            plan=plan_id,
        )
    return catalog.plan(plan_id)


def _proration(
    catalog: Catalog,
    current: Plan,
    current_interval: str,
    target: Plan,
    interval: str,
    period: Period,
    now: datetime,
) -> InvoiceLine | None:
    """(new - old price) x remaining time / period length, rounded to the cent (D10).

    Moving from monthly to yearly charges the yearly price less the unused part of the month.
    Custom-priced plans are priced by contract: no proration line.
    """
    if not isinstance(current.price, PlanPrice) or not isinstance(target.price, PlanPrice):
        return None
    if not catalog.policies.prorate_upgrades:
        return None
    left = max(0, int((period.end - now).total_seconds()))
    length = int(period.length_seconds)
    share = Decimal(left) / Decimal(length)
    old = current.price.monthly
    if interval == "yearly":
        yearly = catalog.yearly_price(target)
        if yearly is None:
            return None
        raw = yearly - (old * share if current_interval == "monthly" else Decimal(0))
        note = f"{target.name} yearly {yearly} less the unused {left:,} of {length:,} s at {old}"
    else:
        raw = (target.price.monthly - old) * share
        note = (
            f"({target.price.monthly} - {old}) x {left:,} of {length:,} seconds left in "
            f"{period.key}"
        )
    amount = round_money(raw, catalog.currency)
    if amount == 0:
        return None
    return InvoiceLine(
        position=1,
        kind="proration",
        description=f"Upgrade from {current.name} to {target.name}, rest of {period.key}",
        item=None,
        quantity=share.quantize(SHARE_PLACES).normalize(),
        unit_price=target.price.monthly - old if interval == "monthly" else raw,
        amount=amount,
        derivation={
            "from": current.id,
            "to": target.id,
            "interval": interval,
            "seconds_left": left,
            "period_seconds": length,
            "raw_amount": str(raw),
            "amount": str(amount),
            "note": note + f" = {raw.quantize(SHARE_PLACES)} -> {amount}",
        },
    )
