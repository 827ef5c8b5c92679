"""The pure insight formulas (C8, D27) at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterstack.bounds import MAX_QUANTITY
from meterstack.rules.insights import limit_reached_at
from meterstack.rules.periods import calendar_period

APRIL = calendar_period(datetime(2026, 4, 1, tzinfo=UTC))


def test_c8_a_limit_far_above_the_usage_is_not_reached_this_period() -> None:
    # One unit in a minute against the largest limit the store keeps: the straight line would
    # reach it after the calendar ends; the answer is "not this period", not an overflow.
    now = APRIL.start + timedelta(minutes=1)

    assert limit_reached_at(1, MAX_QUANTITY, APRIL, now) is None


def test_c8_the_limit_date_follows_the_straight_line_of_the_period_so_far() -> None:
    now = APRIL.start + timedelta(days=10)

    assert limit_reached_at(100, 250, APRIL, now) == APRIL.start + timedelta(days=25)
    assert limit_reached_at(100, 400, APRIL, now) is None  # day 40: after April
    assert limit_reached_at(250, 250, APRIL, now) == now
    assert limit_reached_at(0, 250, APRIL, now) is None
    assert limit_reached_at(100, None, APRIL, now) is None
