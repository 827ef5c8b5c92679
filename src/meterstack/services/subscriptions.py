"""Subscriptions: upgrades at once, downgrades and cancellations at period end (B8, B9, C7).

An upgrade takes effect immediately: the new limits apply to the next request, usage so far counts
toward them, and the fee in effect is settled against the new one for the time left
(``rules.proration``, D10): the price difference on the same paid interval, or the unused old fee
credited and the new one charged when the interval changes; what that leaves in the customer's
favour is account credit, spent by the next invoices. A yearly plan upgraded to a higher yearly
plan keeps its year. A downgrade
or a cancellation waits for the end of the paid interval (the month, or the paid year of a yearly
plan: D30) as a pending change, visible in the subscription and in usage; it takes effect exactly
then (the first request or close after that instant applies it, dated at that instant). Unused
quota never rolls over (C7). When limits go down, the oldest objects within the new limits stay
writable and the rest become read-only, their data kept; an upgrade makes them writable again (B9,
D13).

What a customer may choose for themselves is narrower than what an operator may set (D30): only a
plan with ``self_serve`` and a price, at an interval the catalog offers, and an upgrade (which is
a purchase) only from a plan with payments. :meth:`Subscriptions.self_serve_change` is that rule,
for every door: the checkout of an upgrade and the customer's downgrade both go through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Plan, PlanPrice
from meterstack.errors import ConflictError, InvalidInputError, PlanNotSelfServeError
from meterstack.money import round_money
from meterstack.records.audit import PYTHON, SCHEDULE, Actor
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import CheckoutCharge
from meterstack.rules.periods import Period, paid_interval, period_for
from meterstack.rules.proration import is_upgrade
from meterstack.rules.terms import AccountState, item_terms, plan_of
from meterstack.services.accounts import require_payments
from meterstack.services.audit.log import record
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext
from meterstack.services.invoicing.issue import issue_invoice
from meterstack.services.invoicing.proration import (
    UpgradeTerms,
    upgrade_lines,
    with_checkout_excess,
)
from meterstack.services.webhooks.announce import (
    announce_applied,
    announce_resumed,
    announce_subscription,
    subscription_status,
)
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import AccountRow, PendingChange, PlanSpell

PRORATION_INVOICE = "proration"


@dataclass(frozen=True)
class Subscription:
    account_id: str
    plan: str
    billing_interval: str
    status: str
    catalog: str
    catalog_version: int
    #: The interval the fee paid for: the month, or the paid year of a yearly plan (B12).
    current_period: Period
    #: A downgrade or cancellation waiting for ``pending.effective_at``; None when none waits.
    pending: PendingChange | None
    #: What an upgrade left in the customer's favour, spent by the next invoices (D10).
    account_credit: Decimal = Decimal(0)

    @property
    def pending_plan(self) -> str | None:
        """The plan a waiting change moves to; None when no change waits."""
        return None if self.pending is None else self.pending.plan_id


@dataclass(frozen=True)
class SelfServeChange:
    """A plan change a customer may make themselves (D30), as checked."""

    plan_id: str
    interval: str
    #: True for an upgrade (paid first, through a checkout); False for a period-end downgrade.
    upgrade: bool


@dataclass(frozen=True)
class PlanChange:
    subscription: Subscription
    #: True when the change took effect at once (an upgrade).
    immediate: bool
    #: The invoice of an upgrade's settlement, when anything was charged or credited.
    invoice: Invoice | None


class Subscriptions:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        ctx.apply_due = self._apply_due

    def subscription(self, account_id: str) -> Subscription:
        with self.ctx.store.transaction() as tx:
            return self._subscription(tx, account_id)

    @decided_again_on_conflict
    def change_plan(
        self,
        account_id: str,
        plan_id: str,
        interval: str | None = None,
        *,
        actor: Actor = PYTHON,
    ) -> PlanChange:
        """Upgrade at once (with proration), or schedule a downgrade for the period's end."""
        with self.ctx.store.transaction() as tx:
            return self.change_plan_in(tx, account_id, plan_id, interval, actor=actor)

    def self_serve_change(
        self, account_id: str, plan_id: str, interval: str | None
    ) -> SelfServeChange:
        """Whether the customer may move to ``plan_id`` themselves, and how (D30).

        Refused: an unknown plan or an interval the catalog does not offer (422), a plan not
        ``self_serve`` or without a price (403 ``plan_not_self_serve``), an upgrade from a plan
        without payments (403 ``not_allowed_for_tier``), the plan the account is on (409: the
        request is well formed, the account's state refuses it).
        """
        with self.ctx.store.transaction() as tx:
            return self._self_serve(tx, account_id, plan_id, interval)

    @decided_again_on_conflict
    def downgrade(
        self,
        account_id: str,
        plan_id: str,
        interval: str | None = None,
        *,
        actor: Actor = PYTHON,
    ) -> PlanChange:
        """The customer's downgrade to a cheaper self-serve plan, at the end of the paid interval.

        An upgrade is refused here (409): it is paid first, through a checkout.
        """
        with self.ctx.store.transaction() as tx:
            change = self._self_serve(tx, account_id, plan_id, interval)
            if change.upgrade:
                raise ConflictError(
                    f"moving to {plan_id!r} is an upgrade: it is paid first, through a checkout",
                    plan=plan_id,
                )
            return self.change_plan_in(tx, account_id, change.plan_id, change.interval, actor=actor)

    def _self_serve(
        self, tx: UnitOfWork, account_id: str, plan_id: str, interval: str | None
    ) -> SelfServeChange:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        account = _account(tx, account_id)
        target = _target_plan(catalog, plan_id)
        chosen = offered_interval(catalog, interval or account.billing_interval)
        if target.id == state.plan_id and chosen == account.billing_interval:
            raise ConflictError(
                f"the account is already on {target.name}, {chosen}", plan=target.id
            )
        upgrade = _upgrade(catalog, state.plan_id, account.billing_interval, target.id, chosen)
        if upgrade:
            require_payments(plan_of(catalog, state), f"the {target.name} plan")
        if not target.self_serve or not isinstance(target.price, PlanPrice):
            raise PlanNotSelfServeError(
                f"the {target.name} plan is not sold self-serve (it is priced by contract); "
                "ask the operator for it",
                plan=target.id,
            )
        return SelfServeChange(target.id, chosen, upgrade)

    def change_plan_in(
        self,
        tx: UnitOfWork,
        account_id: str,
        plan_id: str,
        interval: str | None = None,
        *,
        paid: bool = False,
        collected: Decimal | None = None,
        actor: Actor = PYTHON,
    ) -> PlanChange:
        """:meth:`change_plan` inside the caller's transaction; ``paid``: its proration was
        collected by a checkout, which took ``collected`` when the provider says how much
        (what it took beyond the settlement is kept as account credit)."""
        now = self.ctx.now()
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        account = _account(tx, account_id)
        target = _target_plan(catalog, plan_id)
        interval = offered_interval(catalog, interval or account.billing_interval)
        current = catalog.plan(state.plan_id)
        if target.id == current.id and interval == account.billing_interval:
            raise InvalidInputError(
                f"the account is already on {target.name}, {interval}", plan=target.id
            )
        upgrade = _upgrade(catalog, current.id, account.billing_interval, target.id, interval)
        before = plan_state(tx, account_id)
        if not upgrade:
            ends = self._paid_interval(tx, catalog, account, now).end
            change = PendingChange("downgrade", target.id, interval, ends, now)
            tx.subscriptions.set_pending(account_id, change)
            self.ctx.changed(tx, account_id)
            announce_subscription(tx, account_id, "downgrade_scheduled", now)
            record(
                tx,
                now,
                actor,
                account_id,
                "plan.changed",
                before=before,
                after={**plan_state(tx, account_id), "immediate": False},
            )
            return PlanChange(self._subscription(tx, account_id), False, None)
        terms = _upgrade_terms(tx, account, state, catalog, target, interval, now)
        # Changing the plan takes the account's row lock: its credit is read and spent under it.
        tx.subscriptions.change_plan(account_id, target.id, interval, state.catalog_hash, now)
        tx.subscriptions.set_pending(account_id, None)
        self.ctx.changed(tx, account_id)
        reconcile_read_only(tx, catalog, self.ctx.state(tx, account_id))
        lines = upgrade_lines(tx, catalog, terms, now)
        if collected is not None:
            lines = with_checkout_excess(lines, collected, catalog.currency)
        invoice = None
        if lines:
            invoice = issue_invoice(
                tx,
                account_id=account_id,
                kind=PRORATION_INVOICE,
                catalog=catalog,
                plan_id=target.id,
                period=terms.new_paid,
                lines=lines,
                now=now,
                paid=paid,
            )
        announce_subscription(tx, account_id, "upgraded", now)
        record(
            tx,
            now,
            actor,
            account_id,
            "plan.changed",
            before=before,
            after={
                **plan_state(tx, account_id),
                "immediate": True,
                "invoice": None if invoice is None else invoice.number,
            },
        )
        return PlanChange(self._subscription(tx, account_id), True, invoice)

    def upgrade_charge(self, account_id: str, plan_id: str, interval: str | None) -> CheckoutCharge:
        """What the upgrade's invoice would charge now (D10): the amount a hosted checkout asks
        the buyer for before the plan changes (B8). Nothing is written."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            account = _account(tx, account_id)
            target = _target_plan(catalog, plan_id)
            chosen = offered_interval(catalog, interval or account.billing_interval)
            terms = _upgrade_terms(tx, account, state, catalog, target, chosen, now)
            lines = upgrade_lines(tx, catalog, terms, now)
        total = round_money(sum((line.amount for line in lines), Decimal(0)), catalog.currency)
        return CheckoutCharge(f"{target.name} plan, {chosen}", total, catalog.currency)

    @decided_again_on_conflict
    def cancel(self, account_id: str, *, actor: Actor = PYTHON) -> Subscription:
        """Keep the plan until the paid interval ends (a yearly plan keeps its year, D30), then
        move to the catalog's fallback plan (B9)."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            fallback = catalog.policies.fallback_plan
            if state.plan_id == fallback:
                raise InvalidInputError(
                    f"the account is on {catalog.plan(fallback).name} already: nothing to cancel"
                )
            paid = self._paid_interval(tx, catalog, _account(tx, account_id), now)
            before = plan_state(tx, account_id)
            tx.subscriptions.set_pending(
                account_id, PendingChange("cancel", fallback, "monthly", paid.end, now)
            )
            self.ctx.changed(tx, account_id)
            announce_subscription(tx, account_id, "cancel_scheduled", now)
            record(
                tx,
                now,
                actor,
                account_id,
                "subscription.cancelled",
                before=before,
                after=plan_state(tx, account_id),
            )
            return self._subscription(tx, account_id)

    @decided_again_on_conflict
    def resume(self, account_id: str, *, actor: Actor = PYTHON) -> Subscription:
        """Withdraw a pending downgrade or cancellation; 409 when none waits."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            if tx.subscriptions.pending(account_id) is None:
                raise ConflictError(
                    "no cancellation or downgrade is waiting: nothing to resume",
                    account_id=account_id,
                )
            announce_resumed(tx, account_id, self.ctx.now())
            before = plan_state(tx, account_id)
            tx.subscriptions.set_pending(account_id, None)
            self.ctx.changed(tx, account_id)
            record(
                tx,
                self.ctx.now(),
                actor,
                account_id,
                "subscription.resumed",
                before=before,
                after=plan_state(tx, account_id),
            )
            return self._subscription(tx, account_id)

    def _apply_due(self, tx: UnitOfWork, account_id: str, now: datetime) -> None:
        apply_pending(self.ctx, tx, account_id, now)

    def _paid_interval(
        self, tx: UnitOfWork, catalog: Catalog, account: AccountRow, at: datetime
    ) -> Period:
        spells = _spells(tx, account)
        return subscription_interval(catalog.policies.period, spells, account.period_anchor, at)

    def _subscription(self, tx: UnitOfWork, account_id: str) -> Subscription:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        account = _account(tx, account_id)
        waiting = tx.subscriptions.pending(account_id)
        return Subscription(
            account_id=account_id,
            plan=account.plan_id,
            billing_interval=account.billing_interval,
            status=subscription_status(tx, account_id, waiting),
            catalog=catalog.catalog,
            catalog_version=catalog.version,
            current_period=self._paid_interval(tx, catalog, account, self.ctx.now()),
            pending=waiting,
            account_credit=tx.invoices.credit_balances([account_id]).get(account_id, Decimal(0)),
        )


def subscription_interval(
    kind: str, spells: Sequence[PlanSpell], anchor: datetime, at: datetime
) -> Period:
    """The interval the fee in effect at ``at`` paid for (B12, D30).

    A yearly year starts with the first spell of an unbroken run of yearly billing: a move to a
    newer catalog version (grandfathering) or an upgrade to a higher yearly plan (which paid the
    difference for the rest of the year, D10) continues the year it was in.
    """
    index = max((i for i, spell in enumerate(spells) if spell.started_at <= at), default=0)
    if spells[index].billing_interval != "yearly":
        return period_for(kind, at, anchor)
    while index > 0 and spells[index - 1].billing_interval == "yearly":
        index -= 1
    return paid_interval(kind, "yearly", spells[index].started_at, anchor, at)


def offered_interval(catalog: Catalog, interval: str) -> str:
    """``interval`` when the catalog offers it; 422 otherwise (D30)."""
    if interval not in catalog.policies.intervals:
        raise InvalidInputError(
            f"billing interval {interval!r} is not offered; choose one of "
            + ", ".join(catalog.policies.intervals),
            interval=interval,
        )
    return interval


def apply_pending(ctx: ServiceContext, tx: UnitOfWork, account_id: str, now: datetime) -> None:
    """Carry out the account's pending change if it is due, dated at its own instant."""
    change = tx.subscriptions.pending(account_id)
    if change is None or change.effective_at > now:
        return
    account = tx.accounts.get(account_id)
    assert account is not None
    before = plan_state(tx, account_id)
    tx.subscriptions.change_plan(
        account_id,
        change.plan_id,
        change.billing_interval,
        account.catalog_hash,
        change.effective_at,
    )
    tx.subscriptions.set_pending(account_id, None)
    ctx.forget(account_id)
    tx.accounts.bump_version(account_id)
    state = tx.accounts.state(account_id)
    assert state is not None
    reconcile_read_only(tx, ctx.catalog(tx, account.catalog_hash), state)
    announce_applied(tx, account_id, change)
    record(
        tx,
        now,
        SCHEDULE,
        account_id,
        "plan.changed",
        before=before,
        after={**plan_state(tx, account_id), "immediate": True},
    )


def plan_state(tx: UnitOfWork, account_id: str) -> dict[str, object]:
    """The account's plan, interval and waiting change, as the audit log keeps them."""
    account = _account(tx, account_id)
    return {
        "plan": account.plan_id,
        "billing_interval": account.billing_interval,
        "pending": tx.subscriptions.pending(account_id),
    }


def reconcile_read_only(tx: UnitOfWork, catalog: Catalog, state: AccountState) -> None:
    """Within each limit the oldest objects are writable, the rest read-only (D13)."""
    for kind, resource in catalog.resources.items():
        if resource.subset_of is not None:
            continue
        limit = item_terms(catalog, state, kind).limit
        for index, row in enumerate(tx.resources.of_account(state.account_id, kind)):
            should = limit is not None and index >= limit
            if row.read_only != should:
                tx.resources.set_read_only(row.id, should)


def _account(tx: UnitOfWork, account_id: str) -> AccountRow:
    account = tx.accounts.get(account_id)
    assert account is not None  # the caller's ctx.state found it in this transaction
    return account


def _spells(tx: UnitOfWork, account: AccountRow) -> list[PlanSpell]:
    """The account's plans, oldest first; an account without a recorded history (written before
    it was kept) has its plan now."""
    return tx.subscriptions.history([account.id]).get(account.id) or [
        PlanSpell(
            account.created_at, account.plan_id, account.billing_interval, account.catalog_hash
        )
    ]


def _upgrade_terms(
    tx: UnitOfWork,
    account: AccountRow,
    state: AccountState,
    catalog: Catalog,
    target: Plan,
    interval: str,
    now: datetime,
) -> UpgradeTerms:
    """An upgrade from the account as it is to ``target``: both paid intervals."""
    spells = _spells(tx, account)
    kind, anchor = catalog.policies.period, account.period_anchor
    old_paid = subscription_interval(kind, spells, anchor, now)
    moved = [*spells, PlanSpell(now, target.id, interval, state.catalog_hash)]
    new_paid = subscription_interval(kind, moved, anchor, now)
    return UpgradeTerms(account, state, target, interval, old_paid, new_paid)


def _upgrade(
    catalog: Catalog, current: str, current_interval: str, target: str, interval: str
) -> bool:
    return is_upgrade(
        catalog.tier_rank(current), current_interval, catalog.tier_rank(target), interval
    )


def _target_plan(catalog: Catalog, plan_id: str) -> Plan:
    if plan_id not in catalog.plans_by_id:
        raise InvalidInputError(
            f"unknown plan {plan_id!r}; catalog {catalog.catalog!r} plans: "
            + ", ".join(catalog.plan_ids),
            plan=plan_id,
        )
    return catalog.plan(plan_id)
