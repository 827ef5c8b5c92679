"""Usage reports: every item of an account's plan with used, limit, hard limit and remaining.

Reads the O(1) aggregate counters only (A11): one row per item and scope, never a scan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Gauge, Meter, Scope
from meterstack.rules.admission import ACCOUNT_SCOPE, NO_TOTALS, project_scope
from meterstack.rules.headroom import (
    can_make_requests,
    is_near_limit,
    remaining_units,
    usage_percent,
)
from meterstack.rules.insights import UsageInsights
from meterstack.rules.periods import NO_PERIOD, Period
from meterstack.rules.terms import item_terms, overage_enabled
from meterstack.services.collections.service import PaymentWarning, payment_warning
from meterstack.services.conflicts import decided_again_on_conflict
from meterstack.services.context import ServiceContext
from meterstack.services.holds import sweep
from meterstack.services.insights import report_insights
from meterstack.services.validation import validate_project


@dataclass(frozen=True)
class ItemUsage:
    item: str
    kind: str
    #: Committed units this period (meters) or the current count (resources).
    used: int
    #: Units held by open reservations (D6).
    held: int
    #: Effective limit (plan or override + packs); None = unlimited.
    limit: int | None
    hard_limit: int | None
    remaining: int | None
    #: used + held as a percentage of the limit, two decimals; None when unlimited.
    percent: Decimal | None
    is_near_limit: bool
    #: Units recorded as overage this period (D2); a gauge's, the highest a write announced.
    overage_units: int
    #: The overage switch as the requesting project sees it (A5, D3).
    overage_enabled: bool
    pack_units: int

    @property
    def can_make_requests(self) -> bool:
        """Whether a next unit would be admitted: holds counted, grace and overage too (C4)."""
        return can_make_requests(self.used + self.held, self.hard_limit, self.overage_enabled)

    @property
    def state(self) -> str:
        """Where usage stands, in the order the admission classifies an admitted request:

        ``overage`` (units past the limit were billed as overage), ``blocked`` (at the hard
        limit of a grace zone, or past the limit: the next unit is refused), ``grace`` (past the
        limit, within the grace zone: it succeeds with a warning, B7), ``at_limit`` (at the
        limit, no grace; the next unit is refused unless overage is on), ``near_limit`` (C4) or
        ``ok``; ``unlimited`` without one.
        """
        if self.limit is None:
            return "unlimited"
        counted = self.used + self.held
        if self.overage_units > 0:
            return "overage"
        if (
            not self.overage_enabled
            and self.hard_limit is not None
            and counted >= self.hard_limit
            and (self.hard_limit > self.limit or counted > self.limit)
        ):
            return "blocked"  # a commit past its hold (D6) may leave it past the hard limit
        if counted > self.limit:
            return "grace"
        if counted >= self.limit and not self.overage_enabled:
            return "at_limit"
        return "near_limit" if self.is_near_limit else "ok"


@dataclass(frozen=True)
class UsageReport:
    account_id: str
    plan: str
    period: Period
    as_of: datetime
    #: None for the account's aggregate; a project id for that project's own counters (A11).
    project_id: str | None
    items: dict[str, ItemUsage]
    #: A downgrade or cancellation waiting for the period's end: (plan, when); C7.
    pending_plan: str | None = None
    pending_at: datetime | None = None
    #: Today's usage, trend, projection, estimated cost and advice, for the account as a
    #: whole (C8, D27; docs/monitoring.md); always present.
    insights: UsageInsights | None = None
    #: An invoice in dunning: the subscription is past due, or on the fallback plan (D29).
    payment_warning: PaymentWarning | None = None

    def __getitem__(self, item: str) -> ItemUsage:
        return self.items[item]


class Usage:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @decided_again_on_conflict
    def usage(self, account_id: str, *, project_id: str | None = None) -> UsageReport:
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            validate_project(state, project_id)
            sweep(tx, account_id, now)
            period = self.ctx.period(catalog, state, now)
            scope = ACCOUNT_SCOPE if project_id is None else project_scope(project_id)
            counters = {
                (counter.item, counter.scope, counter.period): counter.totals
                for counter in tx.counters.of_account(account_id, (period.key, NO_PERIOD))
            }
            near = catalog.policies.near_limit_percent
            items: dict[str, ItemUsage] = {}
            for item, declared in catalog.items.items():
                if declared.scope is Scope.END_USER:
                    continue  # kept per end user, not for the account as a whole
                if project_id is not None and not isinstance(declared, Meter):
                    continue  # projects have counters of their own for meters only
                terms = item_terms(catalog, state, item)
                if project_id is not None and (project_id, item) in state.overrides:
                    terms = item_terms(catalog, state, item, project_id)
                elif project_id is not None:
                    # A project without its own cap is bounded only by the account's limit.
                    terms = replace(terms, included=None, pack_units=0)
                # Meters count per period; levels, objects and slots are counted now.
                counter_period = period.key if isinstance(declared, Meter) else NO_PERIOD
                totals = counters.get((item, scope, counter_period), NO_TOTALS)
                overage = totals.overage
                if isinstance(declared, Gauge):
                    # A gauge's overage is kept on the period's peak row: what is billed (D2).
                    overage = counters.get((item, scope, period.key), NO_TOTALS).overage
                counted = totals.used + totals.held
                limit = terms.limit
                items[item] = ItemUsage(
                    item=item,
                    kind=declared.kind,
                    used=totals.used,
                    held=totals.held,
                    limit=limit,
                    hard_limit=terms.hard_limit,
                    remaining=remaining_units(counted, limit),
                    percent=usage_percent(counted, limit),
                    is_near_limit=is_near_limit(counted, limit, near),
                    overage_units=overage,
                    overage_enabled=overage_enabled(catalog, state, item, project_id),
                    pack_units=terms.pack_units,
                )
            waiting = tx.subscriptions.pending(account_id)
            account_counters = {
                item: counters.get((item, ACCOUNT_SCOPE, period.key), NO_TOTALS)
                for item in catalog.meters
            }
            insights = report_insights(
                tx,
                catalog,
                state,
                period,
                now,
                {
                    meter: (totals.used, item_terms(catalog, state, meter).limit, totals.overage)
                    for meter, totals in account_counters.items()
                },
            )
            return UsageReport(
                account_id,
                state.plan_id,
                period,
                now,
                project_id,
                items,
                pending_plan=None if waiting is None else waiting.plan_id,
                pending_at=None if waiting is None else waiting.effective_at,
                insights=insights,
                payment_warning=payment_warning(tx, catalog, account_id),
            )
