"""Usage history and exports over HTTP (D27, D9, A2, A11).

``GET /api/billing/usage/history`` answers the account's aggregate within the plan's analytics
retention (403 ``beyond_retention`` further back); ``GET /api/billing/usage/export`` sends the
same buckets as CSV or JSON and counts one ``analytics_exports`` per export when the catalog
declares that meter (429 ``limit_exceeded`` past the plan's exports). The operator reads any
account without a window, per project if asked (A11), at ``/v1/accounts/{id}/usage/history``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from meterstack.engine import Engine
from meterstack.rules.decisions import Decision
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.server.auth import CustomerDep, EngineDep, OperatorDep
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.errors import refusal_response
from meterstack.server.operator import OPERATOR, PATH
from meterstack.server.self_service import CUSTOMER
from meterstack.services.history import HistoryQuery, UsageHistoryReport

#: The meter an export counts against, when the catalog declares it (A2).
EXPORTS_METER = "analytics_exports"
#: What a spreadsheet would take for a formula at the start of a cell (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

router = APIRouter(route_class=DoorRoute)
#: A customer's read: its queries may be malformed (422), or reach back further than the plan's
#: analytics retention (403 ``beyond_retention``, D9).
CUSTOMER_READ = (*CUSTOMER, 403, 422)


class BucketOut(BaseModel):
    meter: str
    #: The bucket's first instant (ISO 8601 UTC, as every instant of the API); it covers one
    #: hour or one UTC day.
    start: str
    used: int
    #: Units of ``used`` run on the customer's own model key.
    byok: int


class ProjectBucketOut(BucketOut):
    #: The project, or null for usage without one.
    project_id: str | None


class UsageHistoryOut(BaseModel):
    account_id: str
    meter: str | None
    granularity: Literal["hour", "day"]
    #: The buckets starting in [from, to).
    from_: str = Field(serialization_alias="from")
    to: str
    #: The plan's analytics retention in days (null: no window).
    retention_days: int | None
    #: The earliest instant the account may read (null: no window).
    earliest: str | None
    buckets: list[BucketOut]


class OperatorHistoryOut(BaseModel):
    account_id: str
    meter: str | None
    granularity: Literal["hour", "day"]
    from_: str = Field(serialization_alias="from")
    to: str
    by_project: bool
    buckets: list[ProjectBucketOut]


MeterParam = Annotated[str | None, Query(min_length=1, max_length=64)]
FromParam = Annotated[datetime | None, Query(alias="from")]
ToParam = Annotated[datetime | None, Query()]
GranularityParam = Annotated[Granularity, Query()]


def _query(
    account_id: str,
    meter: str | None,
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity,
) -> HistoryQuery:
    return HistoryQuery(account_id, _utc(start), _utc(end), granularity, meter)


def _utc(instant: datetime | None) -> datetime | None:
    """An instant given without a zone is UTC (D15)."""
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


def history_out(report: UsageHistoryReport) -> UsageHistoryOut:
    return UsageHistoryOut(
        account_id=report.account_id,
        meter=report.meter,
        granularity=report.granularity.value,
        from_=report.start.isoformat(),
        to=report.end.isoformat(),
        retention_days=report.retention_days,
        earliest=None if report.earliest is None else report.earliest.isoformat(),
        buckets=[_bucket(bucket) for bucket in report.buckets],
    )


def _bucket(bucket: UsageBucket) -> BucketOut:
    return BucketOut(
        meter=bucket.meter, start=bucket.start.isoformat(), used=bucket.used, byok=bucket.byok
    )


@router.get(
    "/api/billing/usage/history",
    response_model=UsageHistoryOut,
    responses=errors(*CUSTOMER_READ),
)
def usage_history(
    customer: CustomerDep,
    engine: EngineDep,
    meter: MeterParam = None,
    start: FromParam = None,
    to: ToParam = None,
    granularity: GranularityParam = Granularity.DAY,
) -> UsageHistoryOut:
    """D27: the account's usage per hour or day, back as far as the plan's analytics
    retention (D9); further back is 403 ``beyond_retention`` with the window."""
    query = _query(customer.account_id, meter, start, to, granularity)
    return history_out(engine.history.history(query))


@router.get(
    "/api/billing/usage/export",
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}},
        # 429: past the plan's exports (A2); the exports meter refuses as a meter does.
        **errors(*CUSTOMER_READ, 429),
    },
    response_model=UsageHistoryOut,
)
def usage_export(
    customer: CustomerDep,
    engine: EngineDep,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    meter: MeterParam = None,
    start: FromParam = None,
    to: ToParam = None,
    granularity: GranularityParam = Granularity.DAY,
) -> Response:
    """A2, D27: the history as a file; each export counts one ``analytics_exports`` of the
    period when the catalog meters exports (429 past the plan's exports)."""
    query = _query(customer.account_id, meter, start, to, granularity)
    report, refusal = counted_export(engine, query)
    if refusal is not None:
        return refusal_response(refusal)
    return export_file(report, format)


def counted_export(
    engine: Engine, query: HistoryQuery
) -> tuple[UsageHistoryReport, Decision | None]:
    """The history an export sends, counted as one ``analytics_exports`` of the period when
    the catalog meters exports (A2); with the meter's refusal past the plan's exports, when
    nothing may be sent. Every door exporting the history goes through here."""
    report = engine.history.history(query)
    if EXPORTS_METER in engine.catalog.meters:
        decision = engine.consume(query.account_id, EXPORTS_METER, 1)
        if not decision.allowed:
            return report, decision
    return report, None


def export_file(report: UsageHistoryReport, format: Literal["csv", "json"]) -> Response:
    """The history as a file to download: CSV (``start, meter, used, byok``) or its JSON."""
    out = history_out(report)
    name = f"usage-{report.start:%Y%m%d}-{report.end:%Y%m%d}"
    if format == "json":
        return Response(
            out.model_dump_json(by_alias=True),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    return Response(
        usage_csv(report.buckets),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def usage_csv(buckets: list[UsageBucket]) -> str:
    """One row per bucket; a cell that a spreadsheet would run as a formula is escaped."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["start", "meter", "used", "byok"])
    for bucket in buckets:
        writer.writerow(
            [csv_cell(bucket.start.isoformat()), csv_cell(bucket.meter), bucket.used, bucket.byok]
        )
    return text.getvalue()


def csv_cell(value: str) -> str:
    """``value`` as a CSV cell no spreadsheet evaluates: a leading = + - @ (or tab, CR) gets
    a quote in front."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


@router.get(
    "/v1/accounts/{account_id}/usage/history",
    response_model=OperatorHistoryOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def operator_history(
    account_id: str,
    _: OperatorDep,
    engine: EngineDep,
    meter: MeterParam = None,
    start: FromParam = None,
    to: ToParam = None,
    granularity: GranularityParam = Granularity.DAY,
    by_project: bool = False,
) -> OperatorHistoryOut:
    """The operator's view: any span, and per project with ``by_project`` (A11)."""
    query = _query(account_id, meter, start, to, granularity)
    report = engine.history.history(query, operator=True, by_project=by_project)
    return OperatorHistoryOut(
        account_id=report.account_id,
        meter=report.meter,
        granularity=report.granularity.value,
        from_=report.start.isoformat(),
        to=report.end.isoformat(),
        by_project=by_project,
        buckets=[
            ProjectBucketOut(
                meter=bucket.meter,
                project_id=bucket.project_id,
                start=bucket.start.isoformat(),
                used=bucket.used,
                byok=bucket.byok,
            )
            for bucket in report.buckets
        ],
    )
