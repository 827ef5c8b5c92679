"""A year of Aerostack billing around one plan change at a random instant, between random plans
and intervals (C7, D10, B12): what the customer pays is what the plans they had were worth at the
rates they chose, to the cent per line, never more; each change takes effect when C7 says.

The worth is computed here independently of the engine: each plan's fee spread evenly over the
interval it pays for (a calendar month, or a year of twelve), from the account's start to the end
of the interval paid in advance at the last close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from meterstack import Engine, ManualClock

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
HORIZON = datetime(2027, 1, 1, tzinfo=UTC)
#: Aerostack's self-serve plans by tier, with their monthly and yearly fees (B1).
PLANS = {
    "free": (0, Decimal("0.00"), Decimal("0.00")),
    "starter": (1, Decimal("19.00"), Decimal("171.00")),
    "pro": (2, Decimal("49.00"), Decimal("441.00")),
    "business": (3, Decimal("149.00"), Decimal("1341.00")),
}
HALF_CENT = Decimal("0.005")


@dataclass(frozen=True)
class Choice:
    plan: str
    interval: str

    @property
    def rank(self) -> int:
        return PLANS[self.plan][0]

    @property
    def fee(self) -> Decimal:
        _, monthly, yearly = PLANS[self.plan]
        return yearly if self.interval == "yearly" else monthly


def _month(instant: datetime, months: int = 0) -> datetime:
    index = instant.year * 12 + instant.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _worth(choice: Choice, start: datetime, end: datetime, origin: datetime) -> Decimal:
    """The fee spread evenly over its paid intervals (years counted from ``origin``)."""
    step = 12 if choice.interval == "yearly" else 1
    interval = origin if choice.interval == "yearly" else _month(start)
    total = Decimal(0)
    while interval < end:
        following = _month(interval, step)
        overlap = (min(end, following) - max(start, interval)).total_seconds()
        if overlap > 0:
            length = Decimal((following - interval).total_seconds())
            total += choice.fee * Decimal(overlap) / length
        interval = following
    return total


choices = st.builds(Choice, st.sampled_from(sorted(PLANS)), st.sampled_from(["monthly", "yearly"]))
#: Any instant of 2026, often a month's first or last second: where periods meet.
month_starts = [(_month(YEAR_START, months) - YEAR_START).days for months in range(12)]
days = st.one_of(st.integers(0, 364), st.sampled_from(month_starts))
seconds_in_day = st.one_of(st.sampled_from([0, 1, 86_399]), st.integers(0, 86_399))


@settings(max_examples=40, deadline=None)
# At the stroke of a month, before its close has run: the month's fee is the close's to bill.
@example(
    old=Choice("pro", "yearly"),
    new=Choice("business", "monthly"),
    day=59,
    second=0,
    closes_kept_up=False,
)
@example(
    old=Choice("business", "monthly"),
    new=Choice("business", "yearly"),
    day=181,
    second=0,
    closes_kept_up=False,
)
@example(
    old=Choice("starter", "monthly"),
    new=Choice("pro", "monthly"),
    day=90,
    second=0,
    closes_kept_up=False,
)
@example(
    old=Choice("starter", "yearly"),
    new=Choice("pro", "yearly"),
    day=0,
    second=0,
    closes_kept_up=False,
)
@given(
    old=choices,
    new=choices,
    day=days,
    second=seconds_in_day,
    closes_kept_up=st.booleans(),
)
def test_d10_c7_a_year_around_any_change_costs_what_its_plans_were_worth(
    old: Choice, new: Choice, day: int, second: int, closes_kept_up: bool
) -> None:
    assume(old != new)
    clock = ManualClock(YEAR_START)
    engine = Engine.open("sqlite:///:memory:", catalog="aerostack", clock=clock)
    try:
        account = engine.create_account(plan=old.plan, interval=old.interval)
        at = YEAR_START + timedelta(days=day, seconds=second)
        if closes_kept_up:  # the nightly close has run up to the change
            _close_through(engine, clock, at)
        clock.set(at)

        change = engine.change_plan(account.id, new.plan, new.interval)
        _close_through(engine, clock, HORIZON)
        subscription = engine.subscription(account.id)
        invoices = engine.invoices(account.id)
    finally:
        engine.close()

    upgrade = new.rank > old.rank or (
        new.rank == old.rank and new.interval == "yearly" and old.interval == "monthly"
    )
    if upgrade:
        effective = at
    elif old.interval == "yearly":
        effective = HORIZON  # the end of the paid year
    else:
        effective = _month(at, 1)  # the end of the paid month
    origin = YEAR_START if old.interval == "yearly" else _month(effective)
    paid_through = _month(HORIZON, 1)
    if new.interval == "yearly":
        paid_through = origin
        while paid_through <= HORIZON:
            paid_through = _month(paid_through, 12)
    worth = _worth(old, YEAR_START, effective, YEAR_START) + _worth(
        new, effective, paid_through, origin
    )
    paid = sum((invoice.total for invoice in invoices), Decimal(0)) - subscription.account_credit
    rounded_lines = sum(
        1 for invoice in invoices for line in invoice.lines if line.kind != "account_credit"
    )

    assert change.immediate is upgrade
    assert (subscription.plan, subscription.billing_interval) == (new.plan, new.interval)
    assert subscription.current_period.end == paid_through
    assert all(invoice.total >= 0 for invoice in invoices)
    assert all(
        invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))
        for invoice in invoices
    )
    # Never charged for time already paid, never short of time paid: to rounding per line.
    assert paid <= worth + HALF_CENT * rounded_lines
    assert paid >= worth - HALF_CENT * rounded_lines


def _close_through(engine: Engine, clock: ManualClock, until: datetime) -> None:
    """The close at every month start after the clock's now, up to ``until``."""
    month = _month(clock.now(), 1)
    while month <= until:
        clock.set(month)
        engine.close_period()
        month = _month(month, 1)
