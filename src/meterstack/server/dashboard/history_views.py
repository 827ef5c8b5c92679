"""The usage history page's engine calls and its chart (D27, D9, A2).

The chart covers the plan's analytics retention window, the window the engine's history
service reads for a customer: by day, the whole window (a year when the plan keeps everything);
by hour, its last seven days (one query covers at most 31 days of hours). One meter at a time,
so that a year of hourly buckets is one indexed read of one meter's rows. The chart is an SVG
drawn here, its figures also given as a table; the numbers are the engine's buckets, with the
empty ones filled in as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fastapi.responses import Response

from meterstack.catalog.schema import Catalog, Meter
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError
from meterstack.rules.decisions import Decision
from meterstack.rules.history import Granularity
from meterstack.server.history import EXPORTS_METER, counted_export, export_file
from meterstack.services.history import HistoryQuery, UsageHistoryReport

#: How far back a chart reaches without a plan window, and the hourly chart's span.
NO_WINDOW_DAYS = 365
HOURLY_DAYS = 7
#: The SVG's drawing box: the plot area sits right of the axis labels and above the dates.
WIDTH, HEIGHT = 720, 240
LEFT, BOTTOM, TOP = 64, 28, 12


@dataclass(frozen=True)
class Point:
    start: datetime
    used: int
    byok: int


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    point: Point


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class DateMark:
    x: float
    text: str
    anchor: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    dates: list[DateMark]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


@dataclass(frozen=True)
class HistoryPage:
    catalog: Catalog
    meter: str
    declared: Meter
    granularity: Granularity
    report: UsageHistoryReport
    points: list[Point]
    chart: Chart
    total: int
    byok: int
    peak: Point | None
    #: Every meter's total over the window, in the catalog's order.
    totals: dict[str, int]
    #: The plan's exports this period (the ``analytics_exports`` meter), when metered.
    exports_used: int | None
    exports_limit: int | None
    exports_metered: bool

    @property
    def unit_word(self) -> str:
        return "bytes" if self.declared.unit == "byte" else f"{self.declared.unit}s"


def _meter(catalog: Catalog, meter: str) -> str:
    if not meter:
        return next(iter(catalog.meters))
    if meter not in catalog.meters:
        raise InvalidInputError(f"unknown meter {meter!r}", field="meter")
    return meter


def _granularity(text: str) -> Granularity:
    try:
        return Granularity(text or Granularity.DAY.value)
    except ValueError:
        raise InvalidInputError(
            f"granularity must be 'day' or 'hour', got {text!r}", field="granularity"
        ) from None


def _query(
    engine: Engine, account_id: str, meter: str | None, granularity: Granularity
) -> HistoryQuery:
    """The window the chart covers: the plan's retention, the hourly chart its last days."""
    now = engine.clock.now()
    _, earliest = engine.history.window(account_id)
    if granularity is Granularity.DAY:
        start = earliest or Granularity.DAY.start_of(now) - timedelta(days=NO_WINDOW_DAYS)
    else:
        hour = Granularity.HOUR
        start = hour.start_of(now) - timedelta(days=HOURLY_DAYS) + hour.length
        if earliest is not None:
            start = max(start, earliest)
    return HistoryQuery(account_id, start, None, granularity, meter)


def points_of(report: UsageHistoryReport, meter: str) -> list[Point]:
    """Every bucket of ``meter`` in the window, in order, the empty ones as zero."""
    found = {bucket.start: bucket for bucket in report.buckets if bucket.meter == meter}
    points = []
    step = report.granularity.length
    moment = report.start
    while moment < report.end:
        bucket = found.get(moment)
        points.append(Point(moment, bucket.used if bucket else 0, bucket.byok if bucket else 0))
        moment += step
    return points


def axis_top(peak: int) -> int:
    """The axis' top: the first of 1, 2, 5 × 10^k at or above the peak (10 for an empty chart)."""
    if peak <= 0:
        return 10
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= peak:
                return step * magnitude
        magnitude *= 10


def _date(moment: datetime, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:00")


def chart(points: list[Point], granularity: Granularity) -> Chart:
    """Bars of the points on a 0..top axis, three ticks, and the first, middle and last dates."""
    plot_width = WIDTH - LEFT
    plot_height = HEIGHT - BOTTOM - TOP
    top = axis_top(max((point.used for point in points), default=0))
    slot = plot_width / max(1, len(points))
    gap = slot * 0.15 if slot >= 4 else 0.0
    bars = []
    for index, point in enumerate(points):
        height = plot_height * point.used / top
        bars.append(
            Bar(
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(TOP + plot_height - height, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=round(height, 2),
                point=point,
            )
        )
    ticks = [
        Tick(round(TOP + plot_height - plot_height * quarter / 4, 2), top * quarter // 4)
        for quarter in (0, 2, 4)
    ]
    dates = []
    if points:
        marks = [(0, "start"), (len(points) // 2, "middle"), (len(points) - 1, "end")]
        for index, anchor in marks if len(points) > 2 else marks[:1]:
            dates.append(
                DateMark(
                    round(LEFT + index * slot + slot / 2, 2),
                    _date(points[index].start, granularity),
                    anchor,
                )
            )
    return Chart(bars, ticks, dates)


def usage_history(engine: Engine, account_id: str, meter: str, granularity: str) -> HistoryPage:
    """The chart of one meter, and every meter's total over the same window (one query: the
    database sums the account's buckets per meter)."""
    catalog = engine.catalog
    chosen = _meter(catalog, meter)
    step = _granularity(granularity)
    report = engine.history.history(_query(engine, account_id, None, step))
    totals = dict.fromkeys(catalog.meters, 0)
    for bucket in report.buckets:
        totals[bucket.meter] = totals.get(bucket.meter, 0) + bucket.used
    points = points_of(report, chosen)
    exports = None
    metered = EXPORTS_METER in catalog.meters
    if metered:
        exports = engine.usage(account_id).items.get(EXPORTS_METER)
    return HistoryPage(
        catalog=catalog,
        meter=chosen,
        declared=catalog.meters[chosen],
        granularity=step,
        report=report,
        points=points,
        chart=chart(points, step),
        total=totals[chosen],
        byok=sum(point.byok for point in points),
        peak=max(points, key=lambda point: point.used) if any(p.used for p in points) else None,
        totals=totals,
        exports_used=None if exports is None else exports.used,
        exports_limit=None if exports is None else exports.limit,
        exports_metered=metered,
    )


#: The files an export may be, as the REST export offers them.
EXPORT_FORMATS: tuple[Literal["csv", "json"], ...] = ("csv", "json")


def export_format(text: str) -> Literal["csv", "json"]:
    """The export form's ``format`` (CSV when absent); any other is 422 with the allowed ones,
    before anything is counted, rather than a CSV the caller did not ask for."""
    for known in EXPORT_FORMATS:
        if text == known:
            return known
    raise InvalidInputError(
        f"format must be one of {', '.join(EXPORT_FORMATS)}, got {text[:40]!r}",
        field="format",
        allowed=list(EXPORT_FORMATS),
    )


def export(
    engine: Engine,
    account_id: str,
    meter: str,
    granularity: str,
    file_format: Literal["csv", "json"] = "csv",
) -> tuple[Response | None, Decision | None]:
    """The chart's window as a file (CSV unless asked for JSON), counted against the plan's
    exports (A2); or the exports meter's refusal, when the plan's exports are used up (nothing
    is sent)."""
    chosen = _meter(engine.catalog, meter)
    query = _query(engine, account_id, chosen, _granularity(granularity))
    report, refusal = counted_export(engine, query)
    if refusal is not None:
        return None, refusal
    return export_file(report, file_format), None
