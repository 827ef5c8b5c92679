"""The plan-change rule in money (C7, D10, B12): which way a change goes, what an upgrade charges
and credits, and what an invoice moves to or from the account's credit. Pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterstack.rules.periods import Period, calendar_period, paid_interval
from meterstack.rules.proration import (
    Fee,
    SettlementLine,
    account_credit_line,
    is_upgrade,
    settle_upgrade,
)

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
YEAR_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), "2026-01")


def _amounts(lines: list[SettlementLine]) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in lines]


def _month(year: int, month: int) -> Period:
    return calendar_period(datetime(year, month, 1, tzinfo=UTC))


def _year_from(instant: datetime) -> Period:
    return paid_interval("calendar_month", "yearly", instant, instant, instant)


def test_d10_starter_to_basic_with_20_of_30_days_left_is_26_67() -> None:
    april = _month(2026, 4)
    lines = settle_upgrade(
        Fee("STARTER", "monthly", Decimal("29.00"), april),
        Fee("BASIC", "monthly", Decimal("69.00"), april),
        datetime(2026, 4, 11, tzinfo=UTC),
        "USD",
    )

    assert _amounts(lines) == [("proration", Decimal("26.67"))]
    assert lines[0].description == "Upgrade from STARTER to BASIC, rest of April 2026"
    assert (lines[0].seconds_left, lines[0].period_seconds) == (20 * 86_400, 30 * 86_400)


def test_d10_a_yearly_upgrade_keeps_the_year_and_charges_the_difference_for_its_rest() -> None:
    halfway = YEAR_2026.start + timedelta(days=182, hours=12)  # 182.5 of 365 days left

    lines = settle_upgrade(
        Fee("Starter", "yearly", Decimal("171.00"), YEAR_2026),
        Fee("Pro", "yearly", Decimal("441.00"), YEAR_2026),
        halfway,
        "USD",
    )

    # (441 - 171) x 182.5 / 365
    assert _amounts(lines) == [("proration", Decimal("135.00"))]
    assert lines[0].unit_price == Decimal("270.00")
    assert "rest of the year January – December 2026" in lines[0].description


def test_d10_a_yearly_plan_traded_for_a_monthly_one_credits_the_unused_year() -> None:
    march = datetime(2026, 3, 1, tzinfo=UTC)  # 306 of 365 days of the year left

    lines = settle_upgrade(
        Fee("Pro", "yearly", Decimal("441.00"), YEAR_2026),
        Fee("Business", "monthly", Decimal("149.00"), _month(2026, 3)),
        march,
        "USD",
    )

    # 441 x 306 / 365 = 369.715... credited; all of March charged
    assert _amounts(lines) == [
        ("unused_time", Decimal("-369.72")),
        ("remaining_time", Decimal("149.00")),
    ]
    assert lines[0].description == "Unused time on Pro (yearly), 1 March 2026 to 1 January 2027"


def test_d10_a_monthly_plan_moved_to_yearly_pays_the_year_only_from_the_change() -> None:
    at = datetime(2026, 6, 16, tzinfo=UTC)  # 15 of June's 30 days left
    year = _year_from(at)  # June 2026 to June 2027

    lines = settle_upgrade(
        Fee("Starter", "monthly", Decimal("19.00"), _month(2026, 6)),
        Fee("Pro", "yearly", Decimal("441.00"), year),
        at,
        "USD",
    )

    left = Decimal((year.end - at).total_seconds()) / Decimal(year.length_seconds)
    assert year == Period(
        datetime(2026, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC), "2026-06"
    )
    assert _amounts(lines) == [
        ("unused_time", Decimal("-9.50")),
        ("remaining_time", (Decimal("441.00") * left).quantize(CENT)),
    ]
    assert lines[1].amount < Decimal("441.00")  # the first half of June is not charged again


@pytest.mark.parametrize(
    ("from_rank", "from_interval", "to_rank", "to_interval", "at_once"),
    [
        (1, "monthly", 2, "monthly", True),
        (1, "yearly", 2, "yearly", True),
        (1, "monthly", 2, "yearly", True),
        (1, "yearly", 2, "monthly", True),
        (1, "monthly", 1, "yearly", True),
        (1, "yearly", 1, "monthly", False),
        (2, "monthly", 1, "monthly", False),
        (2, "yearly", 1, "yearly", False),
        (2, "yearly", 1, "monthly", False),
        (2, "monthly", 1, "yearly", False),
    ],
)
def test_c7_upgrades_at_once_everything_else_at_the_end_of_the_paid_interval(
    from_rank: int, from_interval: str, to_rank: int, to_interval: str, at_once: bool
) -> None:
    assert is_upgrade(from_rank, from_interval, to_rank, to_interval) is at_once


def test_d10_without_proration_the_difference_waits_but_an_interval_change_is_settled() -> None:
    april, at = _month(2026, 4), datetime(2026, 4, 11, tzinfo=UTC)
    same = settle_upgrade(
        Fee("STARTER", "monthly", Decimal("29.00"), april),
        Fee("BASIC", "monthly", Decimal("69.00"), april),
        at,
        "USD",
        prorate=False,
    )
    yearly = settle_upgrade(
        Fee("Pro", "yearly", Decimal("441.00"), YEAR_2026),
        Fee("Business", "monthly", Decimal("149.00"), april),
        at,
        "USD",
        prorate=False,
    )

    assert same == []
    assert [line.kind for line in yearly] == ["unused_time", "remaining_time"]


def test_d10_nothing_left_to_settle_gives_no_line() -> None:
    april = _month(2026, 4)
    at_end = settle_upgrade(
        Fee("Free", "monthly", Decimal("0.00"), april),
        Fee("Pro", "monthly", Decimal("49.00"), april),
        april.end,
        "USD",
    )
    free_to_free = settle_upgrade(
        Fee("Free", "monthly", Decimal("0.00"), april),
        Fee("Free", "yearly", Decimal("0.00"), _year_from(april.start)),
        datetime(2026, 4, 11, tzinfo=UTC),
        "USD",
    )

    assert at_end == []
    assert free_to_free == []


@pytest.mark.parametrize(
    ("total", "balance", "line"),
    [
        (Decimal("-220.72"), Decimal("0"), Decimal("220.72")),  # the excess is kept
        (Decimal("-10.00"), Decimal("5.00"), Decimal("10.00")),  # kept on top of a balance
        (Decimal("149.00"), Decimal("220.72"), Decimal("-149.00")),  # the credit pays it all
        (Decimal("149.00"), Decimal("71.72"), Decimal("-71.72")),  # and then what is left
        (Decimal("149.00"), Decimal("0"), Decimal("0")),
        (Decimal("0"), Decimal("50.00"), Decimal("0")),
    ],
)
def test_d10_account_credit_keeps_an_excess_and_pays_the_next_invoices(
    total: Decimal, balance: Decimal, line: Decimal
) -> None:
    assert account_credit_line(total, balance) == line
    assert total + line >= 0  # an invoice never totals below zero
    assert balance + line >= 0  # nor does the credit


PRICES = st.decimals(min_value=0, max_value=5000, places=2)


@st.composite
def _changes(draw: st.DrawFn) -> tuple[Fee, Fee, datetime]:
    """An old fee with its paid interval, an instant inside it, and the new plan's fee, whose
    paid interval is the one the rule gives it: the old one on the same interval, else the
    usage period of the change (monthly) or the year starting with it (yearly)."""
    start_month = draw(st.integers(0, 12 * 6))
    origin = datetime(2024 + start_month // 12, start_month % 12 + 1, 1, tzinfo=UTC)
    old_interval = draw(st.sampled_from(["monthly", "yearly"]))
    old_paid = _year_from(origin) if old_interval == "yearly" else calendar_period(origin)
    seconds = int(old_paid.length_seconds)
    offset = draw(st.one_of(st.integers(0, seconds - 1), st.sampled_from([0, 1, seconds - 1])))
    at = old_paid.start + timedelta(seconds=offset)
    new_interval = draw(st.sampled_from(["monthly", "yearly"]))
    if new_interval == old_interval:
        new_paid = old_paid if old_interval == "yearly" else calendar_period(at)
    elif new_interval == "monthly":
        new_paid = calendar_period(at)
    else:
        new_paid = _year_from(calendar_period(at).start)
    old = Fee("Old", old_interval, draw(PRICES), old_paid)
    new = Fee("New", new_interval, draw(PRICES), new_paid)
    return old, new, at


def _left(paid: Period, at: datetime) -> Decimal:
    return Decimal((paid.end - at).total_seconds())


@given(_changes())
def test_d10_c7_no_change_charges_for_time_already_paid_and_credits_stay_within_the_fee(
    change: tuple[Fee, Fee, datetime],
) -> None:
    old, new, at = change
    lines = settle_upgrade(old, new, at, "USD")
    net = sum((line.amount for line in lines), Decimal(0))
    credit = -sum((line.amount for line in lines if line.kind == "unused_time"), Decimal(0))
    old_rate = old.price / Decimal(old.paid.length_seconds)
    new_rate = new.price / Decimal(new.paid.length_seconds)
    # What the customer already paid for [at, old end), and what the new plan costs for
    # [at, new end): the change may charge at most the second less the first.
    prepaid = old_rate * _left(old.paid, at)
    costs = new_rate * _left(new.paid, at)
    # Each computed line rounds by at most half a cent, a line that rounds to zero included
    # (it is left out of the invoice, but its half cent still moved the total).
    tolerance = HALF_CENT * (1 if old.paid == new.paid else 2)

    # Credits never exceed what was paid, and only the unused part of it.
    assert Decimal(0) <= credit <= old.price
    assert credit <= prepaid + HALF_CENT
    # Nothing before the change is charged again: at most the new plan's time left.
    assert all(line.amount >= 0 for line in lines if line.kind == "remaining_time")
    assert net <= costs + HALF_CENT
    # Time already paid at the same or a higher rate is not charged again ...
    assert net <= costs - prepaid + tolerance
    if new_rate <= old_rate and new.paid.end <= old.paid.end:
        assert net <= tolerance
    # ... and the customer is not short-changed either: paid time is credited in full.
    assert net >= costs - prepaid - tolerance
