"""Typed results of the SDK's alert and budget calls (D25, D26): money as Decimal, never float."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    meter: str | None
    threshold: Decimal | None
    #: ``account`` (set on the account) or ``catalog`` (a default threshold, C8).
    source: str
    #: ``armed`` or ``triggered`` (fired, not resolved yet).
    status: str
    triggered_at: datetime | None
    resolved_at: datetime | None
    value: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            id=data["id"],
            kind=data["kind"],
            meter=data.get("meter"),
            threshold=_decimal(data.get("threshold")),
            source=data["source"],
            status=data["status"],
            triggered_at=_time(data.get("triggered_at")),
            resolved_at=_time(data.get("resolved_at")),
            value=data.get("value"),
        )

    @classmethod
    def many(cls, data: Mapping[str, Any]) -> list[Alert]:
        return [cls.from_json(item) for item in data["alerts"]]


@dataclass(frozen=True)
class Budget:
    amount: Decimal | None
    mode: str | None
    currency: str
    period: str
    fee: Decimal
    charges: Decimal
    actual: Decimal
    percent: Decimal | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Budget:
        return cls(
            amount=_decimal(data.get("amount")),
            mode=data.get("mode"),
            currency=data["currency"],
            period=data["period"],
            fee=Decimal(data["fee"]),
            charges=Decimal(data["charges"]),
            actual=Decimal(data["actual"]),
            percent=_decimal(data.get("percent")),
        )


def deleted(data: Mapping[str, Any]) -> bool:
    return bool(data["deleted"])
