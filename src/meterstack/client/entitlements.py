"""What an account's plan grants, as the operator API lists it (A2, A8, D14, D16)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class FeatureGrant:
    name: str
    #: True/False, or the level granted.
    value: bool | str
    granted: bool
    #: The levels, lowest first; None for an on/off feature.
    levels: tuple[str, ...] | None
    #: An operator set this account's value (D14).
    overridden: bool


@dataclass(frozen=True)
class ItemLimit:
    kind: str
    unit: str
    #: None = unlimited.
    limit: int | None
    hard_limit: int | None
    grace_percent: Decimal
    pack_units: int
    overridden: bool


@dataclass(frozen=True)
class Entitlements:
    """Every feature and level, limit, analytics retention and exports, support level and
    uptime SLA of the account's plan, with the operator's overrides."""

    account_id: str
    plan: str
    plan_name: str
    features: Mapping[str, FeatureGrant]
    limits: Mapping[str, ItemLimit]
    #: None = unlimited.
    analytics_retention_days: int | None
    analytics_exports: int | None
    support: str | None
    uptime_sla_percent: Decimal | None
    payments: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entitlements:
        sla = data.get("uptime_sla_percent")
        return cls(
            account_id=data["account_id"],
            plan=data["plan"],
            plan_name=data["plan_name"],
            features={
                name: FeatureGrant(
                    name=item["name"],
                    value=item["value"],
                    granted=item["granted"],
                    levels=None if item.get("levels") is None else tuple(item["levels"]),
                    overridden=item["overridden"],
                )
                for name, item in data["features"].items()
            },
            limits={
                name: ItemLimit(
                    kind=item["kind"],
                    unit=item["unit"],
                    limit=item["limit"],
                    hard_limit=item["hard_limit"],
                    grace_percent=Decimal(str(item["grace_percent"])),
                    pack_units=item["pack_units"],
                    overridden=item["overridden"],
                )
                for name, item in data["limits"].items()
            },
            analytics_retention_days=data.get("analytics_retention_days"),
            analytics_exports=data.get("analytics_exports"),
            support=data.get("support"),
            uptime_sla_percent=None if sla is None else Decimal(str(sla)),
            payments=data["payments"],
        )
