"""Usage insights as the REST API answers them (C8, D27): money as decimal strings, instants as
ISO 8601 UTC (D15)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from meterstack.money import format_money
from meterstack.rules.insights import UsageInsights


class MeterInsightOut(BaseModel):
    used_today: int
    #: Change of the usage percentage between the two latest complete days; null before then.
    trend: str | None
    projected_usage: int
    projected_limit_at: str | None
    projected_charges: str
    byok_units: int
    managed_units: int


class RecommendationOut(BaseModel):
    #: ``cheapest_plan``, ``downgrade``, ``upgrade`` or ``byok``.
    kind: str
    plan: str
    estimated_monthly_cost: str
    message: str


class InsightsOut(BaseModel):
    as_of: str
    period_elapsed: str
    current_charges: str
    projected_charges: str
    estimated_monthly_cost: str
    meters: dict[str, MeterInsightOut]
    recommendations: list[RecommendationOut]

    @classmethod
    def of(cls, insights: UsageInsights | None, currency: str) -> InsightsOut | None:
        if insights is None:
            return None

        def money(amount: Decimal) -> str:
            return format_money(amount, currency)

        return cls(
            as_of=insights.as_of.isoformat(),
            period_elapsed=str(insights.elapsed),
            current_charges=money(insights.current_charges),
            projected_charges=money(insights.projected_charges),
            estimated_monthly_cost=money(insights.estimated_monthly_cost),
            meters={
                meter: MeterInsightOut(
                    used_today=figures.used_today,
                    trend=None if figures.trend is None else str(figures.trend),
                    projected_usage=figures.projected_usage,
                    projected_limit_at=None
                    if figures.projected_limit_at is None
                    else figures.projected_limit_at.isoformat(),
                    projected_charges=money(figures.projected_charges),
                    byok_units=figures.byok_units,
                    managed_units=figures.managed_units,
                )
                for meter, figures in insights.meters.items()
            },
            recommendations=[
                RecommendationOut(
                    kind=advice.kind,
                    plan=advice.plan,
                    estimated_monthly_cost=money(advice.estimated_monthly_cost),
                    message=advice.message,
                )
                for advice in insights.recommendations
            ],
        )
