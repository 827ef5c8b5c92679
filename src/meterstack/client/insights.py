"""The insights of the customer's usage object (C8, D27), as the service reports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class MeterInsights:
    #: Units of the current UTC day.
    used_today: int
    #: Change of usage % between the two latest complete days, in points; None without one.
    trend: Decimal | None
    #: Usage so far ÷ the elapsed share of the period.
    projected_usage: int
    #: When the pace so far reaches the limit, if it does within the period.
    projected_limit_at: datetime | None
    projected_charges: Decimal
    byok_units: int
    managed_units: int


@dataclass(frozen=True)
class Recommendation:
    #: ``cheapest_plan``, ``downgrade``, ``upgrade`` or ``byok``.
    kind: str
    plan: str
    estimated_monthly_cost: Decimal
    message: str


@dataclass(frozen=True)
class Insights:
    as_of: datetime
    period_elapsed: Decimal
    current_charges: Decimal
    projected_charges: Decimal
    estimated_monthly_cost: Decimal
    meters: Mapping[str, MeterInsights]
    recommendations: tuple[Recommendation, ...]

    def __getitem__(self, meter: str) -> MeterInsights:
        return self.meters[meter]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Insights:
        return cls(
            as_of=datetime.fromisoformat(data["as_of"]),
            period_elapsed=Decimal(data["period_elapsed"]),
            current_charges=Decimal(data["current_charges"]),
            projected_charges=Decimal(data["projected_charges"]),
            estimated_monthly_cost=Decimal(data["estimated_monthly_cost"]),
            meters={
                meter: MeterInsights(
                    used_today=item["used_today"],
                    trend=None if item["trend"] is None else Decimal(item["trend"]),
                    projected_usage=item["projected_usage"],
                    projected_limit_at=None
                    if item["projected_limit_at"] is None
                    else datetime.fromisoformat(item["projected_limit_at"]),
                    projected_charges=Decimal(item["projected_charges"]),
                    byok_units=item["byok_units"],
                    managed_units=item["managed_units"],
                )
                for meter, item in data["meters"].items()
            },
            recommendations=tuple(
                Recommendation(
                    kind=advice["kind"],
                    plan=advice["plan"],
                    estimated_monthly_cost=Decimal(advice["estimated_monthly_cost"]),
                    message=advice["message"],
                )
                for advice in data["recommendations"]
            ),
        )
