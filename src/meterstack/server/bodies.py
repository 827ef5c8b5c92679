"""What the REST API accepts: strict request bodies.

JSON has one spelling for each value, and so does this API: a quantity is a JSON integer
(``true``, ``"5"`` and ``2.0`` are refused, not read as 1, 5 and 2), money and percentages are
decimal strings (``"12.5"``, D15), a field the route does not know is refused rather than
ignored (a misspelt ``idempotency_kye`` would otherwise count the request twice on a retry), and
every whole number is at most :data:`~meterstack.bounds.MAX_QUANTITY`, so that every sum of
the store fits its 64-bit counters. Each of these is 422 ``invalid_input`` naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from meterstack.bounds import MAX_GRACE_PERCENT, MAX_QUANTITY, MAX_TTL_SECONDS
from meterstack.server.openapi import RETURN_URL, catalog_field


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


_DECIMAL = re.compile(r"-?[0-9]{1,16}(\.[0-9]{1,12})?")


def _decimal_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ValueError('a decimal number written as a string, such as "12.5" (D15)')
    return Decimal(value)


#: A decimal number as a JSON string (D15): ``"12.5"``; a JSON number is refused.
DecimalText = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    WithJsonSchema({"type": "string", "pattern": f"^{_DECIMAL.pattern}$"}),
]


def _instant_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 instant written as a string (D15)")
    return value


#: An instant as an ISO 8601 string (D15), such as ``"2026-03-01T00:00:00Z"``.
InstantText = Annotated[datetime, BeforeValidator(_instant_text), Field(strict=False)]
#: Units of one request (at least 1).
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
#: A whole number of units that may be 0 (a limit, a level, a quota, a commit).
Units = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
#: A change of a level, either way.
Delta = Annotated[int, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
Seconds = Annotated[float, Field(gt=0, le=MAX_TTL_SECONDS)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Id = Annotated[str, Field(min_length=1, max_length=80)]
Label = Annotated[str, Field(max_length=200)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255)]
#: A plan of the catalog: the document lists the loaded catalog's plan ids (``server.openapi``).
PlanId = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra=catalog_field("plans"))
]
#: A billing interval the catalog offers (D30), listed by the document likewise.
Interval = Annotated[
    str, Field(min_length=1, max_length=16, json_schema_extra=catalog_field("intervals"))
]
#: A checkout's success or cancel URL: on the server's origin or an allowed one (D30).
ReturnUrl = Annotated[str, Field(max_length=2000, json_schema_extra={RETURN_URL: True})]
#: Why an operator pulls a lever: kept in the audit log with the change.
Reason = Annotated[str, Field(min_length=1, max_length=500)]
#: The features a metered request needs (C3): one the tier lacks refuses it, recording nothing.
FeatureNames = Annotated[list[Name], Field(max_length=32)]


class LeverBody(Body):
    """An operator's change of an account: it may say why (the audit log keeps the reason)."""

    reason: Reason | None = None


class AccountBody(LeverBody):
    plan: PlanId | None = None
    interval: Interval = "monthly"
    email: Annotated[str, Field(max_length=320)] | None = None
    name: Label | None = None


class UsageBody(Body):
    meter: Name
    quantity: Quantity = 1
    project_id: Id | None = None
    idempotency_key: IdempotencyKey | None = None
    api_key_id: Id | None = None


class ConsumeBody(UsageBody):
    requires: FeatureNames = []
    #: Run on the customer's own model key (the usage history counts it apart, D27).
    byok: bool = False
    #: The transaction's amount on a meter priced by ``percentage`` (a decimal string).
    amount: Annotated[DecimalText, Field(ge=0, le=10**12, decimal_places=6)] | None = None


class BatchEvent(ConsumeBody):
    account_id: Id


class BatchBody(Body):
    #: Each event is checked on its own: a malformed one gets its own error among the results.
    events: list[Annotated[Any, WithJsonSchema(BatchEvent.model_json_schema())]] = Field(
        min_length=1, max_length=1000
    )


class ReserveBody(Body):
    meter: Name
    quantity: Quantity = 1
    ttl: Seconds | None = None
    project_id: Id | None = None
    idempotency_key: IdempotencyKey | None = None
    requires: FeatureNames = []


class CommitBody(Body):
    quantity: Units | None = None


class NamedBody(Body):
    name: Label | None = None
    active: bool = True
    project_id: Id | None = None


class GaugeBody(Body):
    #: Give one of ``level`` and ``delta``.
    level: Units | None = None
    delta: Delta | None = None
    end_user_id: Id | None = None


class LeaseBody(Body):
    item: Name
    ttl: Seconds | None = None


class LimitBody(LeverBody):
    item: Name
    #: A whole number, or null for unlimited.
    limit: Units | None
    grace_percent: Annotated[DecimalText, Field(ge=0, le=MAX_GRACE_PERCENT)] | None = None
    project_id: Id | None = None


class OverageBody(LeverBody):
    enabled: bool
    meter: Name | None = None
    project_id: Id | None = None


class KeyBody(LeverBody):
    project_id: Id | None = None
    name: Label | None = None
    modules: Annotated[list[Name], Field(max_length=32)] | None = None
    quotas: Annotated[dict[Name, Units], Field(max_length=64)] | None = None


class PlanBody(LeverBody):
    plan: PlanId
    interval: Interval | None = None


class PackBody(LeverBody):
    pack: Name


class ClockBody(Body):
    to: InstantText | None = None
    advance_seconds: Annotated[float, Field(ge=0, le=100 * 366 * 24 * 3600)] | None = None
