"""Usage insights (C8, D27): today's usage, trend, projection, estimated cost, advice. Pure.

Every figure is computed from the period's counters, the history's daily buckets and the
catalog, on the clock's now, so the same inputs always give the same insights:

- ``used_today``: the units of the current UTC day (its daily bucket so far).
- ``trend``: the change of usage % between the two latest complete UTC days, in percentage
  points of the limit (yesterday's units ÷ limit × 100 − the day before's), None without a
  limit (D27).
- ``projected_usage``: usage so far ÷ the elapsed share of the period, rounded half up (D27).
- ``projected_limit_at``: where a limit exists, the instant the period's pace (usage so far ÷
  time elapsed) reaches it; None when it is not reached before the period ends; now when it
  already is.
- ``projected_charges``: the plan's usage and overage prices on the projected usage (overage
  only where it is on; beyond a limit with overage off nothing is charged, it would be
  refused).
- ``estimated_monthly_cost``: the month's fee (a yearly price counts one twelfth) + the larger of
  the charges so far and the projected charges.
- recommendations, from the catalog's self-serve plans with a price (a plan "covers" the
  projection when every projected meter fits its limit): the cheapest plan covering it (by
  estimated cost, when cheaper than the current estimate); a downgrade when every limited meter
  is projected under 50 % of its limit and a cheaper plan covers it; an upgrade when the
  projected overage costs more than the fee difference to a plan covering the projection; and,
  when every unit of a meter this period ran on the customer's own key (``byok``), the cheapest
  plan covering the projection (managed models are then not what the account pays for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from meterstack.catalog.schema import Catalog, Percentage, Plan, PlanPrice
from meterstack.money import round_money
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.rules.periods import Period
from meterstack.rules.rating import RatingError, rate_usage
from meterstack.rules.terms import terms_of

ZERO = Decimal(0)
HALF = Decimal("0.5")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class MeterFacts:
    """What the report knows of one meter: the period's units, limit and history."""

    used: int
    limit: int | None
    #: The period's daily buckets of the account (its aggregate), any order.
    days: Sequence[UsageBucket]


@dataclass(frozen=True)
class MeterInsight:
    used_today: int
    #: Percentage points; None without a limit or two complete days.
    trend: Decimal | None
    projected_usage: int
    projected_limit_at: datetime | None
    projected_charges: Decimal
    byok_units: int
    managed_units: int


@dataclass(frozen=True)
class Recommendation:
    kind: str  # cheapest_plan, downgrade, upgrade, byok
    plan: str
    estimated_monthly_cost: Decimal
    message: str


@dataclass(frozen=True)
class UsageInsights:
    as_of: datetime
    #: Share of the period elapsed, 0..1 (four places).
    elapsed: Decimal
    meters: Mapping[str, MeterInsight]
    current_charges: Decimal
    projected_charges: Decimal
    estimated_monthly_cost: Decimal
    recommendations: tuple[Recommendation, ...]


def elapsed_share(period: Period, now: datetime) -> Decimal:
    length = (period.end - period.start).total_seconds()
    done = min(max((now - period.start).total_seconds(), 0.0), length)
    return Decimal(int(done * 1_000_000)) / Decimal(int(length * 1_000_000))


def projected(used: int, elapsed: Decimal) -> int:
    if elapsed <= 0:
        return used
    return int((Decimal(used) / elapsed).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def limit_reached_at(
    used: int, limit: int | None, period: Period, now: datetime
) -> datetime | None:
    if limit is None:
        return None
    if used >= limit:
        return now
    spent = (now - period.start).total_seconds()
    if used <= 0 or spent <= 0:
        return None
    seconds = spent * limit / used
    # Past the period's end is "not this period": compared before the date is made, since a
    # limit far above the usage would put it beyond the calendar.
    if seconds >= (period.end - period.start).total_seconds():
        return None
    return period.start + timedelta(seconds=seconds)


def trend(days: Sequence[UsageBucket], limit: int | None, now: datetime) -> Decimal | None:
    if not limit:
        return None
    today = Granularity.DAY.start_of(now)
    by_day: dict[datetime, int] = {}
    for bucket in days:
        by_day[bucket.start] = by_day.get(bucket.start, 0) + bucket.used
    latest, before = today - timedelta(days=1), today - timedelta(days=2)
    if before < min(by_day, default=today):
        return None  # the period's history does not reach two complete days back
    share = (Decimal(by_day.get(latest, 0)) - Decimal(by_day.get(before, 0))) * 100 / limit
    return share.quantize(_CENT, rounding=ROUND_HALF_UP)


def monthly_fee(catalog: Catalog, plan: Plan, interval: str) -> Decimal | None:
    """The month's share of the plan's fee: a yearly price counts one twelfth."""
    if not isinstance(plan.price, PlanPrice):
        return None
    if interval == "yearly":
        yearly = catalog.yearly_price(plan)
        return None if yearly is None else yearly / 12
    return plan.price.monthly


def charges_of(
    catalog: Catalog,
    plan: Plan,
    usage: Mapping[str, int],
    packs: Sequence[str],
    switches: Mapping[str, bool],
    recorded: Mapping[str, int] | None = None,
) -> Decimal:
    """The usage and overage charges ``usage`` would cost on ``plan``; ``recorded`` is the
    overage recorded when consumed (D2). Meters priced by a percentage are left out: their
    charges are the transactions' amounts, rated at period close."""
    kept = {
        meter: units for meter, units in usage.items() if units and not _by_percentage(plan, meter)
    }
    try:
        lines = rate_usage(
            catalog,
            plan,
            kept,
            packs=packs,
            overage=switches,
            recorded_overage=None if recorded is None else {m: recorded.get(m, 0) for m in kept},
        )
    except RatingError:  # an item this plan cannot rate: nothing to project for it
        return ZERO
    return sum((line.amount for line in lines), ZERO)


def _by_percentage(plan: Plan, meter: str) -> bool:
    offer = plan.overage.get(meter)
    return isinstance(plan.usage_prices.get(meter), Percentage) or (
        offer is not None and isinstance(offer.charge, Percentage)
    )


@dataclass(frozen=True)
class Account:
    """What the insights need of the account besides its meters."""

    plan: Plan
    interval: str
    packs: Sequence[str]
    #: Overage on (True) or off per meter, as the account's switches decide.
    overage: Mapping[str, bool]
    #: The meters' units run on the customer's own key, and all units, this period.
    byok: Mapping[str, int]
    current_charges: Decimal


def usage_insights(
    catalog: Catalog,
    account: Account,
    meters: Mapping[str, MeterFacts],
    period: Period,
    now: datetime,
) -> UsageInsights:
    elapsed = elapsed_share(period, now)
    today = Granularity.DAY.start_of(now)
    projection = {meter: projected(facts.used, elapsed) for meter, facts in meters.items()}
    plan = account.plan
    insights: dict[str, MeterInsight] = {}
    for meter, facts in meters.items():
        byok = account.byok.get(meter, 0)
        insights[meter] = MeterInsight(
            used_today=sum(bucket.used for bucket in facts.days if bucket.start == today),
            trend=trend(facts.days, facts.limit, now),
            projected_usage=projection[meter],
            projected_limit_at=limit_reached_at(facts.used, facts.limit, period, now),
            projected_charges=charges_of(
                catalog, plan, {meter: projection[meter]}, account.packs, account.overage
            ),
            byok_units=byok,
            managed_units=max(0, facts.used - byok),
        )
    total = charges_of(catalog, plan, projection, account.packs, account.overage)
    fee = monthly_fee(catalog, plan, account.interval) or ZERO
    currency = catalog.currency
    estimate = round_money(fee + max(total, account.current_charges), currency)
    advice = _recommendations(catalog, account, meters, projection, estimate, total)
    return UsageInsights(
        as_of=now,
        elapsed=elapsed.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
        meters=insights,
        current_charges=account.current_charges,
        projected_charges=round_money(total, currency),
        estimated_monthly_cost=estimate,
        recommendations=advice,
    )


def _covers(catalog: Catalog, plan: Plan, usage: Mapping[str, int], packs: Sequence[str]) -> bool:
    for meter, units in usage.items():
        if meter not in catalog.meters:
            continue
        limit = terms_of(catalog, plan, meter, packs=packs).limit
        if limit is not None and units > limit:
            return False
    return True


def _cost(catalog: Catalog, account: Account, plan: Plan, usage: Mapping[str, int]) -> Decimal:
    fee = monthly_fee(catalog, plan, account.interval) or ZERO
    return round_money(fee + charges_of(catalog, plan, usage, account.packs, {}), catalog.currency)


def _recommendations(
    catalog: Catalog,
    account: Account,
    meters: Mapping[str, MeterFacts],
    projection: Mapping[str, int],
    estimate: Decimal,
    projected_total: Decimal,
) -> tuple[Recommendation, ...]:
    current = account.plan
    # The plans a customer could move to: priced and self-serve (and the current one).
    priced = [
        plan
        for plan in catalog.plans
        if isinstance(plan.price, PlanPrice) and (plan.self_serve or plan.id == current.id)
    ]
    covering = [plan for plan in priced if _covers(catalog, plan, projection, account.packs)]
    costs = {plan.id: _cost(catalog, account, plan, projection) for plan in covering}
    advice: list[Recommendation] = []
    cheapest = min(covering, key=lambda plan: costs[plan.id], default=None)
    if cheapest is not None and cheapest.id != current.id and costs[cheapest.id] < estimate:
        advice.append(
            Recommendation(
                "cheapest_plan",
                cheapest.id,
                costs[cheapest.id],
                f"{cheapest.name} covers the projected usage for "
                f"{costs[cheapest.id]} a month, against {estimate} on {current.name}",
            )
        )
    fee = monthly_fee(catalog, current, account.interval) or ZERO
    limited = [(projection[meter], facts.limit) for meter, facts in meters.items() if facts.limit]
    if limited and all(units < HALF * limit for units, limit in limited):
        cheaper = [
            plan
            for plan in covering
            if (monthly_fee(catalog, plan, account.interval) or ZERO) < fee
        ]
        target = min(cheaper, key=lambda plan: costs[plan.id], default=None)
        if target is not None:
            advice.append(
                Recommendation(
                    "downgrade",
                    target.id,
                    costs[target.id],
                    f"the projection stays under half of every limit: {target.name} covers it "
                    f"for {costs[target.id]} a month",
                )
            )
    overage = projected_total
    higher = [
        plan
        for plan in covering
        if (monthly_fee(catalog, plan, account.interval) or ZERO) > fee
        and overage > (monthly_fee(catalog, plan, account.interval) or ZERO) - fee
    ]
    target = min(higher, key=lambda plan: costs[plan.id], default=None)
    if target is not None and overage > 0:
        advice.append(
            Recommendation(
                "upgrade",
                target.id,
                costs[target.id],
                f"the projected overage ({round_money(overage, catalog.currency)}) costs more "
                f"than the difference to {target.name}, which covers the projection",
            )
        )
    own_key = [
        meter
        for meter, facts in meters.items()
        if facts.used > 0 and account.byok.get(meter, 0) >= facts.used
    ]
    if own_key:
        target = min(covering, key=lambda plan: costs[plan.id], default=None)
        if target is not None:
            advice.append(
                Recommendation(
                    "byok",
                    target.id,
                    costs[target.id],
                    f"every {', '.join(own_key)} unit this period ran on your own model key: "
                    f"{target.name} is the cheapest plan covering the projection",
                )
            )
    return tuple(advice)
