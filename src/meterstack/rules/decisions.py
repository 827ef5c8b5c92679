"""The Decision: what meterstack answers for every request (allowed, warning or refused)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec


class DecisionCode(StrEnum):
    """Stable codes; clients map errors by code, never by status alone (D4)."""

    OK = "ok"
    NEAR_LIMIT = "near_limit"
    GRACE = "grace"
    OVERAGE = "overage"
    #: Admitted past the hard limit without overage: a commit of more than was held (D6).
    EXCESS = "excess"
    LIMIT_EXCEEDED = "limit_exceeded"
    HARD_LIMIT_EXCEEDED = "hard_limit_exceeded"
    UPGRADE_REQUIRED = "upgrade_required"
    NOT_ALLOWED_FOR_TIER = "not_allowed_for_tier"
    READ_ONLY = "read_only"
    MODULE_NOT_ALLOWED = "module_not_allowed"
    #: A hard budget would be passed (D26): 402.
    BUDGET_EXCEEDED = "budget_exceeded"


class Decision(msgspec.Struct, frozen=True, kw_only=True, array_like=True, omit_defaults=True):
    """One answer, immutable; a C-level struct, since every request builds one.

    Stored with its idempotency key as a JSON array of the fields in this order (trailing
    defaults left out): a field is only ever added at the end, with a default.
    """

    allowed: bool
    code: DecisionCode
    http_status: int
    meter: str
    quantity: int
    #: Committed units in the period after this request (unchanged when refused).
    used: int
    #: Units held by open reservations (D6), counted against the limit.
    held: int
    #: Effective limit (plan or override + packs); None = unlimited.
    limit: int | None
    #: The bound past which requests are refused (limit + grace); None = no bound.
    hard_limit: int | None
    #: Units left under the limit; None = unlimited.
    remaining: int | None
    #: Units of this request recorded as overage (D2).
    overage_units: int
    warnings: tuple[str, ...]
    as_of: datetime
    period: str
    #: The scope that decided: ``account``, ``project:<id>``…
    scope: str
    message: str
    #: True when the answer is the stored decision of an earlier request with the same key.
    replayed: bool = False
    reservation_id: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    #: When the period ends and the meter starts again at zero; None for counts and levels.
    period_end: datetime | None = None

    @classmethod
    def unmetered(
        cls,
        *,
        allowed: bool,
        code: DecisionCode,
        http_status: int,
        subject: str,
        as_of: datetime,
        scope: str,
        message: str,
        extra: dict[str, Any] | None = None,
    ) -> Decision:
        """A decision that counts nothing: a feature, a module, a write to an object."""
        return cls(
            allowed=allowed,
            code=code,
            http_status=http_status,
            meter=subject,
            quantity=0,
            used=0,
            held=0,
            limit=None,
            hard_limit=None,
            remaining=None,
            overage_units=0,
            warnings=(),
            as_of=as_of,
            period="",
            scope=scope,
            message=message,
            extra=extra or {},
        )

    def refusal_details(self) -> dict[str, Any]:
        """What a refusal carries (C5): the decision, ``current_usage`` and ``limit``.

        ``current_usage`` counts open holds too: they occupy the limit as much as used units.
        """
        return {**self.to_dict(), "current_usage": self.used + self.held, "limit": self.limit}

    @property
    def reset_seconds(self) -> int | None:
        """Seconds until the period ends (``RateLimit-Reset``); None when nothing resets."""
        if self.period_end is None:
            return None
        return max(0, int((self.period_end - self.as_of).total_seconds()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "code": str(self.code),
            "http_status": self.http_status,
            "meter": self.meter,
            "quantity": self.quantity,
            "used": self.used,
            "held": self.held,
            "limit": self.limit,
            "hard_limit": self.hard_limit,
            "remaining": self.remaining,
            "overage_units": self.overage_units,
            "warnings": list(self.warnings),
            "as_of": self.as_of.isoformat(),
            "period": self.period,
            "scope": self.scope,
            "message": self.message,
            "replayed": self.replayed,
            "reservation_id": self.reservation_id,
            "period_end": None if self.period_end is None else self.period_end.isoformat(),
            **({"extra": self.extra} if self.extra else {}),
        }

    def encode(self) -> str:
        """The decision as stored with its idempotency key: a JSON array of its fields.

        About half the size of the same fields as an object, and every admitted request with a
        key stores one, kept for the retention (D7).
        """
        return _ENCODER.encode(self).decode()

    @classmethod
    def decode(cls, text: str | bytes, *, replayed: bool = False) -> Decision:
        """A stored decision: from :meth:`encode`, or a JSON object (records of older versions)."""
        if text[:1] in ("{", b"{"):
            decision = cls.from_dict(msgspec.json.decode(text))
        else:
            decision = _DECODER.decode(text)
        return decision.but(replayed=True) if replayed else decision

    def but(self, **changes: Any) -> Decision:
        """A copy with ``changes`` (the decision itself never changes)."""
        return msgspec.structs.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            allowed=data["allowed"],
            code=DecisionCode(data["code"]),
            http_status=data["http_status"],
            meter=data["meter"],
            quantity=data["quantity"],
            used=data["used"],
            held=data["held"],
            limit=data["limit"],
            hard_limit=data["hard_limit"],
            remaining=data["remaining"],
            overage_units=data["overage_units"],
            warnings=tuple(data["warnings"]),
            as_of=datetime.fromisoformat(data["as_of"]),
            period=data["period"],
            scope=data["scope"],
            message=data["message"],
            replayed=data.get("replayed", False),
            reservation_id=data.get("reservation_id"),
            extra=data.get("extra", {}),
            period_end=None
            if data.get("period_end") is None
            else datetime.fromisoformat(data["period_end"]),
        )


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Decision)
