"""Typed results of the SDK, read from the service's JSON (D15: null = unlimited, money strings).

JSON numbers with a fraction are read as :class:`~decimal.Decimal`, never float; money and
percentages are Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.client.insights import Insights
from meterstack.money import parse_money
from meterstack.rules.decisions import Decision
from meterstack.rules.headroom import (
    can_make_requests,
    is_near_limit,
    remaining_units,
    usage_percent,
)

#: C4: ``is_near_limit`` from this share of the limit on.
NEAR_LIMIT_PERCENT = Decimal(80)
#: The meter whose figures FlowStack's SDK names ``sessions_used``… (C4).
SESSIONS = "sessions"
ZERO_CHARGES = Decimal("0.00")


@dataclass(frozen=True)
class Account:
    """A new account and its first user API key (shown once: store it now)."""

    id: str
    plan: str
    billing_interval: str
    user_api_key: str = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Account:
        return cls(data["id"], data["plan"], data["billing_interval"], data["user_api_key"])


@dataclass(frozen=True)
class Reservation:
    """A hold placed on a meter (D6); commit or release it by ``reservation_id``."""

    reservation_id: str
    expires_at: datetime | None
    decision: Decision

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reservation:
        return cls(
            reservation_id=data["reservation_id"],
            expires_at=_time(data.get("expires_at")),
            decision=Decision.from_dict(dict(data["decision"])),
        )


@dataclass(frozen=True)
class ReleasedReservation:
    reservation_id: str
    #: ``released``, or ``expired`` when the hold had lapsed already.
    status: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReleasedReservation:
        return cls(data["reservation_id"], data["status"])


@dataclass(frozen=True)
class ItemUsage:
    """One meter or resource of an account, as the operator sees it."""

    kind: str
    used: int
    held: int
    #: None = unlimited.
    limit: int | None
    hard_limit: int | None
    remaining: int | None
    #: used + held as a percentage of the limit; None when unlimited.
    percent: Decimal | None
    is_near_limit: bool
    overage_units: int
    overage_enabled: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemUsage:
        percent = data.get("percent")
        return cls(
            kind=data["kind"],
            used=data["used"],
            held=data.get("held", 0),
            limit=data.get("limit"),
            hard_limit=data.get("hard_limit"),
            remaining=data.get("remaining"),
            percent=None if percent is None else Decimal(str(percent)),
            is_near_limit=bool(data.get("is_near_limit", False)),
            overage_units=data.get("overage_units", 0),
            overage_enabled=bool(data.get("overage_enabled", False)),
        )


@dataclass(frozen=True)
class AccountUsage:
    """Every item of an account's plan in the current period (operator API)."""

    account_id: str
    plan: str
    period: str
    period_start: datetime
    period_end: datetime
    items: Mapping[str, ItemUsage]

    def __getitem__(self, item: str) -> ItemUsage:
        return self.items[item]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountUsage:
        return cls(
            account_id=data["account_id"],
            plan=data["plan"],
            period=data["period"],
            period_start=datetime.fromisoformat(data["period_start"]),
            period_end=datetime.fromisoformat(data["period_end"]),
            items={name: ItemUsage.from_json(item) for name, item in data["items"].items()},
        )


@dataclass(frozen=True)
class MeterUsage:
    """A meter as the customer sees it, with FlowStack's derived figures (C4).

    The figures are the service's (``rules.headroom``): open holds count against the limit, and
    requests can still be made inside a grace zone or with overage on. An answer without them
    (an older service) gets the same functions applied to what it has.
    """

    used: int
    #: None = unlimited.
    limit: int | None
    #: limit − used − held (never below 0); None when unlimited.
    remaining: int | None
    #: (used + held) × 100 ÷ limit, two places, half-up; 0.00 when unlimited, 100.00 on a zero
    #: limit.
    usage_percentage: Decimal
    #: At least the catalog's near-limit share (80 % on FlowStack) of the limit used or held.
    is_near_limit: bool
    #: A next request would be admitted: below the hard limit (grace included), or overage on.
    can_make_requests: bool
    current_charges: Decimal
    #: Units held by requests in flight (D6).
    held: int = 0
    #: The limit plus its grace zone; None = no bound.
    hard_limit: int | None = None

    @classmethod
    def of(
        cls,
        used: int,
        limit: int | None,
        charges: Decimal = ZERO_CHARGES,
        *,
        held: int = 0,
        hard_limit: int | None = None,
        overage_enabled: bool = False,
    ) -> MeterUsage:
        """The figures of ``used`` and ``held`` against ``limit`` (and ``hard_limit``, the
        limit itself when not given)."""
        counted = used + held
        hard = limit if hard_limit is None else hard_limit
        return cls(
            used=used,
            limit=limit,
            remaining=remaining_units(counted, limit),
            usage_percentage=usage_percentage(counted, limit),
            is_near_limit=is_near_limit(counted, limit, NEAR_LIMIT_PERCENT),
            can_make_requests=can_make_requests(counted, hard, overage_enabled),
            current_charges=charges,
            held=held,
            hard_limit=hard,
        )

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> MeterUsage:
        """A meter of ``/api/billing/usage``: the service's figures where it gives them."""
        derived = cls.of(
            item["used"],
            item.get("limit"),
            _charges(item),
            held=item.get("held", 0),
            hard_limit=item.get("hard_limit"),
            overage_enabled=bool(item.get("overage_enabled", False)),
        )
        return replace(
            derived,
            remaining=item.get("remaining", derived.remaining),
            is_near_limit=bool(item.get("is_near_limit", derived.is_near_limit)),
            can_make_requests=bool(item.get("can_make_requests", derived.can_make_requests)),
        )


def usage_percentage(used: int, limit: int | None) -> Decimal:
    """``used`` as a percentage of ``limit`` (``rules.headroom``); 0.00 when unlimited."""
    percent = usage_percent(used, limit)
    return Decimal("0.00") if percent is None else percent


@dataclass(frozen=True)
class ResourceCount:
    """A counted resource (projects, members…): how many exist and how many may."""

    limit: int | None
    used: int


@dataclass(frozen=True)
class PaymentWarning:
    """An unpaid invoice in dunning (D29): ``status`` is ``past_due`` (access kept, retries
    scheduled for ``next_attempt_at``) or ``fallback`` (the account is on the fallback plan
    until the invoice is paid, which brings back ``restores_plan``)."""

    status: str
    invoice_number: str
    amount_due: Decimal
    currency: str
    attempts: int
    next_attempt_at: datetime | None
    restores_plan: str | None
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentWarning:
        next_at = data.get("next_attempt_at")
        return cls(
            status=data["status"],
            invoice_number=data["invoice_number"],
            amount_due=parse_money(str(data["amount_due"])),
            currency=data["currency"],
            attempts=int(data["attempts"]),
            next_attempt_at=None if next_at is None else datetime.fromisoformat(next_at),
            restores_plan=data.get("restores_plan"),
            message=data["message"],
        )


@dataclass(frozen=True)
class Usage:
    """The customer's usage this period (B6), with FlowStack's names (C4).

    The top-level figures (``used``, ``usage_percentage``, ``is_near_limit``…) are those of
    ``primary_meter``: the meter asked for, else ``sessions``, else the meter nearest its limit.
    ``sessions_used``, ``sessions_limit`` and ``sessions_remaining`` exist only when the account
    has a ``sessions`` meter (``hasattr`` is False otherwise).
    """

    tier: str
    period: str
    meters: Mapping[str, MeterUsage]
    resource_counts: Mapping[str, ResourceCount]
    primary_meter: str | None
    #: Charges of the period so far; 0.00 when the service reports none.
    current_charges: Decimal = ZERO_CHARGES
    #: Today's usage, trend, projection, estimated cost and advice (C8, D27); None from a
    #: service that reports none.
    insights: Insights | None = None
    #: An unpaid invoice in dunning (D29); None when there is none.
    payment_warning: PaymentWarning | None = None

    def __getitem__(self, meter: str) -> MeterUsage:
        return self.meters[meter]

    @property
    def _primary(self) -> MeterUsage:
        if self.primary_meter is None:
            return MeterUsage.of(0, None)
        return self.meters[self.primary_meter]

    @property
    def used(self) -> int:
        return self._primary.used

    @property
    def limit(self) -> int | None:
        return self._primary.limit

    @property
    def remaining(self) -> int | None:
        return self._primary.remaining

    @property
    def usage_percentage(self) -> Decimal:
        return self._primary.usage_percentage

    @property
    def is_near_limit(self) -> bool:
        return self._primary.is_near_limit

    @property
    def can_make_requests(self) -> bool:
        return self._primary.can_make_requests

    @property
    def sessions_used(self) -> int:
        return self._sessions().used

    @property
    def sessions_limit(self) -> int | None:
        return self._sessions().limit

    @property
    def sessions_remaining(self) -> int | None:
        return self._sessions().remaining

    def _sessions(self) -> MeterUsage:
        try:
            return self.meters[SESSIONS]
        except KeyError:
            raise AttributeError(f"the {self.tier} plan has no {SESSIONS!r} meter") from None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], meter: str | None = None) -> Usage:
        meters = {name: MeterUsage.from_json(item) for name, item in data.get("usage", {}).items()}
        counts = {
            name: ResourceCount(limit=item.get("limit"), used=item.get("used", 0))
            for name, item in data.get("resource_counts", {}).items()
        }
        total = data.get("current_charges")
        return cls(
            tier=data["tier"],
            period=data["period"],
            meters=meters,
            resource_counts=counts,
            primary_meter=_primary_meter(meters, meter),
            current_charges=(
                sum((usage.current_charges for usage in meters.values()), ZERO_CHARGES)
                if total is None
                else parse_money(str(total))
            ),
            insights=None if data.get("insights") is None else Insights.from_json(data["insights"]),
            payment_warning=None
            if data.get("payment_warning") is None
            else PaymentWarning.from_json(data["payment_warning"]),
        )


def _charges(item: Mapping[str, Any]) -> Decimal:
    charges = item.get("current_charges")
    return ZERO_CHARGES if charges is None else parse_money(str(charges))


def _primary_meter(meters: Mapping[str, MeterUsage], asked: str | None) -> str | None:
    if asked is not None:
        if asked not in meters:
            raise KeyError(f"no meter {asked!r} in this account's usage")
        return asked
    if SESSIONS in meters:
        return SESSIONS
    if not meters:
        return None
    # The meter nearest its limit says best whether the account can go on.
    return max(meters, key=lambda name: meters[name].usage_percentage)


@dataclass(frozen=True)
class BillingStatus:
    """The subscription (B4); provider ids are None until a provider sets them (D15)."""

    plan_tier: str
    status: str
    billing_interval: str
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    #: What an upgrade left in the customer's favour; the next invoices spend it (D10).
    account_credit: Decimal = Decimal(0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BillingStatus:
        return cls(
            plan_tier=data["plan_tier"],
            status=data["status"],
            billing_interval=data["billing_interval"],
            stripe_customer_id=data.get("stripe_customer_id"),
            stripe_subscription_id=data.get("stripe_subscription_id"),
            current_period_start=_time(data.get("current_period_start")),
            current_period_end=_time(data.get("current_period_end")),
            account_credit=parse_money(data.get("account_credit", "0")),
        )


@dataclass(frozen=True)
class PlanPrice:
    monthly: Decimal | None
    yearly: Decimal | None


@dataclass(frozen=True)
class PlanOffer:
    """One plan of the catalog (B5); ``price`` is None for a custom price."""

    tier: str
    name: str
    price: PlanPrice | None
    #: Item → limit; None = unlimited.
    limits: Mapping[str, Any]
    grace_percent: Decimal | None
    features: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanOffer:
        price = data.get("price")
        grace = data.get("grace_percent")
        return cls(
            tier=data["tier"],
            name=data.get("name", data["tier"]),
            price=None
            if price is None
            else PlanPrice(_money(price.get("monthly")), _money(price.get("yearly"))),
            limits=dict(data.get("limits", {})),
            grace_percent=None if grace is None else Decimal(str(grace)),
            features=dict(data.get("features", {})),
        )


def plans_from_json(data: Mapping[str, Any]) -> list[PlanOffer]:
    return [PlanOffer.from_json(plan) for plan in data["plans"]]


@dataclass(frozen=True)
class TierInfo:
    """The current tier and whether it may use managed models (C3, C4).

    Also readable as the seed's dict: ``tier_info["current_tier"]``.
    """

    current_tier: str
    can_use_managed: bool

    def __getitem__(self, key: str) -> str | bool:
        if key not in ("current_tier", "can_use_managed"):
            raise KeyError(key)
        value: str | bool = getattr(self, key)
        return value

    @classmethod
    def of(cls, billing: BillingStatus, plans: list[PlanOffer]) -> TierInfo:
        plan = next((plan for plan in plans if plan.tier == billing.plan_tier), None)
        managed = plan is not None and plan.features.get("managed_models") is True
        return cls(current_tier=billing.plan_tier, can_use_managed=managed)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _money(value: object) -> Decimal | None:
    return None if value is None else parse_money(str(value))
