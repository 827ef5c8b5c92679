"""The usage history chart's geometry, a pure function of the buckets: every bucket of the
window drawn (empty ones as zero), on an axis whose top is a round number at or above the peak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterstack.rules.history import Granularity, UsageBucket
from meterstack.server.dashboard.history_views import (
    BOTTOM,
    HEIGHT,
    LEFT,
    TOP,
    WIDTH,
    axis_top,
    chart,
    points_of,
)
from meterstack.services.history import UsageHistoryReport

DAY = Granularity.DAY
START = datetime(2026, 3, 1, tzinfo=UTC)


def _report(buckets: list[UsageBucket], days: int) -> UsageHistoryReport:
    return UsageHistoryReport(
        "acct", DAY, START, START + timedelta(days=days), None, 7, START, buckets
    )


def test_every_day_of_the_window_is_a_point_and_only_the_chosen_meter_counts() -> None:
    buckets = [
        UsageBucket("calls", None, DAY, START + timedelta(days=1), 40, 4),
        UsageBucket("other", None, DAY, START + timedelta(days=1), 999, 0),
        UsageBucket("calls", None, DAY, START + timedelta(days=3), 10, 0),
    ]
    points = points_of(_report(buckets, 5), "calls")
    assert [(p.start.day, p.used, p.byok) for p in points] == [
        (1, 0, 0),
        (2, 40, 4),
        (3, 0, 0),
        (4, 10, 0),
        (5, 0, 0),
    ]


def test_the_axis_top_is_one_two_or_five_times_a_power_of_ten() -> None:
    assert [axis_top(peak) for peak in (0, 1, 3, 7, 10, 11, 240, 501, 1_000_001)] == [
        10,
        1,
        5,
        10,
        10,
        20,
        500,
        1_000,
        2_000_000,
    ]


def test_bars_are_scaled_to_the_axis_and_sit_in_their_slots() -> None:
    buckets = [
        UsageBucket("calls", None, DAY, START, 250, 0),
        UsageBucket("calls", None, DAY, START + timedelta(days=3), 500, 0),
    ]
    drawn = chart(points_of(_report(buckets, 4), "calls"), DAY)
    plot = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / 4
    assert [bar.height for bar in drawn.bars] == [plot / 2, 0, 0, plot]
    assert [bar.y + bar.height for bar in drawn.bars] == [TOP + plot] * 4, "on the baseline"
    assert [round(bar.x - LEFT - index * slot, 2) for index, bar in enumerate(drawn.bars)] == [
        round(slot * 0.075, 2)
    ] * 4
    assert [(tick.value, tick.y) for tick in drawn.ticks] == [
        (0, TOP + plot),
        (250, TOP + plot / 2),
        (500, TOP),
    ]
    assert [(mark.text, mark.anchor) for mark in drawn.dates] == [
        ("2026-03-01", "start"),
        ("2026-03-03", "middle"),
        ("2026-03-04", "end"),
    ]
