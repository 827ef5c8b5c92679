"""Usage insights as JSON (C8, D27): money as decimal strings, instants as ISO 8601 UTC (D15)."""

from __future__ import annotations

from typing import Any

from meterstack.money import format_money
from meterstack.rules.insights import UsageInsights


def insights_json(insights: UsageInsights | None, currency: str) -> dict[str, Any] | None:
    if insights is None:
        return None

    def money(amount: Any) -> str:
        return format_money(amount, currency)

    return {
        "as_of": insights.as_of.isoformat(),
        "period_elapsed": str(insights.elapsed),
        "current_charges": money(insights.current_charges),
        "projected_charges": money(insights.projected_charges),
        "estimated_monthly_cost": money(insights.estimated_monthly_cost),
        "meters": {
            meter: {
                "used_today": figures.used_today,
                "trend": None if figures.trend is None else str(figures.trend),
                "projected_usage": figures.projected_usage,
                "projected_limit_at": None
                if figures.projected_limit_at is None
                else figures.projected_limit_at.isoformat(),
                "projected_charges": money(figures.projected_charges),
                "byok_units": figures.byok_units,
                "managed_units": figures.managed_units,
            }
            for meter, figures in insights.meters.items()
        },
        "recommendations": [
            {
                "kind": advice.kind,
                "plan": advice.plan,
                "estimated_monthly_cost": money(advice.estimated_monthly_cost),
                "message": advice.message,
            }
            for advice in insights.recommendations
        ],
    }
