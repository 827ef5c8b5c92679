"""Periods named for people on invoices (April 2026), never by their counter keys (D8 keys)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterstack.rules.periods import anniversary_period, calendar_period, period_name


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "name"),
    [
        (_at(2026, 4, 1), _at(2026, 5, 1), "April 2026"),
        (_at(2026, 12, 1), _at(2027, 1, 1), "December 2026"),
        (_at(2026, 1, 1), _at(2027, 1, 1), "January – December 2026"),
        (_at(2026, 4, 1), _at(2027, 4, 1), "April 2026 – March 2027"),
        (_at(2026, 4, 15, 10, 30), _at(2026, 5, 15, 10, 30), "15 April – 15 May 2026"),
        (_at(2026, 12, 15), _at(2027, 1, 15), "15 December 2026 – 15 January 2027"),
    ],
)
def test_d8_periods_are_named_as_a_person_names_them(
    start: datetime, end: datetime, name: str
) -> None:
    assert period_name(start, end) == name


def test_d8_the_periods_of_both_kinds_have_names_not_keys() -> None:
    month = calendar_period(_at(2026, 4, 12))
    cycle = anniversary_period(_at(2026, 4, 20), anchor=_at(2026, 1, 15, 8))

    assert (month.key, period_name(month.start, month.end)) == ("2026-04", "April 2026")
    assert (cycle.key, period_name(cycle.start, cycle.end)) == (
        "2026-04-15",
        "15 April – 15 May 2026",
    )
