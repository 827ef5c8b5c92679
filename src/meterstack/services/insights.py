"""Insights of a usage report (C8, D27): the inputs ``rules.insights`` needs, read in the
report's own transaction: the period's daily buckets (history), the account's switches, packs
and interval, and the charges so far."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from meterstack.catalog.schema import Catalog
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.rules.insights import (
    Account,
    MeterFacts,
    UsageInsights,
    charges_of,
    usage_insights,
)
from meterstack.rules.periods import Period
from meterstack.rules.terms import AccountState, overage_enabled, plan_of
from meterstack.store.ports import UnitOfWork


def report_insights(
    tx: UnitOfWork,
    catalog: Catalog,
    state: AccountState,
    period: Period,
    now: datetime,
    counted: Mapping[str, tuple[int, int | None, int]],
) -> UsageInsights:
    """``counted``: meter -> (used this period, effective limit, overage units recorded)."""
    start = Granularity.DAY.start_of(period.start)
    end = Granularity.DAY.start_of(now) + Granularity.DAY.length
    days = tx.history.buckets(state.account_id, Granularity.DAY, start, end)
    # The days of the period (its first one whole: a cycle may start within a day). Today's
    # usage and the trend read the latest days only; the BYOK share is capped by the counters.
    byok: dict[str, int] = {}
    by_meter: dict[str, list[UsageBucket]] = {meter: [] for meter in counted}
    for bucket in days:
        if bucket.meter in by_meter:
            by_meter[bucket.meter].append(bucket)
            byok[bucket.meter] = byok.get(bucket.meter, 0) + bucket.byok
    plan = plan_of(catalog, state)
    row = tx.accounts.get(state.account_id)
    interval = "monthly" if row is None else row.billing_interval
    usage = {meter: used for meter, (used, _, _) in counted.items()}
    recorded = {meter: over for meter, (_, _, over) in counted.items()}
    current = charges_of(catalog, plan, usage, state.packs, {}, recorded)
    account = Account(
        plan=plan,
        interval=interval,
        packs=state.packs,
        overage={meter: overage_enabled(catalog, state, meter, None) for meter in counted},
        byok={meter: min(units, usage[meter]) for meter, units in byok.items()},
        current_charges=current,
    )
    facts = {
        meter: MeterFacts(used, limit, by_meter[meter])
        for meter, (used, limit, _) in counted.items()
    }
    return usage_insights(catalog, account, facts, period, now)
