"""JSON views of engine objects, with the seeds' field names and D15's conventions."""

from __future__ import annotations

from typing import Any

from meterstack.catalog.schema import Catalog, Concurrency, Resource, Unlimited
from meterstack.server.insight_views import insights_json
from meterstack.services.usage import UsageReport


def limit_json(value: object) -> int | None:
    """``unlimited`` is JSON null (D15)."""
    if value is None or isinstance(value, Unlimited):
        return None
    assert isinstance(value, int)
    return value


def customer_usage_json(catalog: Catalog, report: UsageReport) -> dict[str, Any]:
    """B6: the tier, the period, usage per meter and gauge, resource counts."""
    usage: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for item, figures in report.items.items():
        entry = {"used": figures.used, "limit": figures.limit}
        if isinstance(catalog.items[item], Resource | Concurrency):
            counts[item] = {"limit": figures.limit, "used": figures.used + figures.held}
        else:
            usage[item] = {
                **entry,
                "held": figures.held,
                "remaining": figures.remaining,
                "hard_limit": figures.hard_limit,
                "is_near_limit": figures.is_near_limit,
                "overage_enabled": figures.overage_enabled,
                "can_make_requests": figures.can_make_requests,
            }
    return {
        "tier": report.plan,
        "period": report.period.key,
        "period_start": report.period.start.isoformat(),
        "period_end": report.period.end.isoformat(),
        "usage": usage,
        "resource_counts": counts,
        "pending_plan": report.pending_plan,
        # C8, D27: today's usage, trend, projection, estimated cost and advice.
        "insights": insights_json(report.insights, catalog.currency),
    }
