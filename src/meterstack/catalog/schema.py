"""The catalog format: pydantic models of a plans-as-code catalog file.

A catalog declares the *items* a platform limits (meters, gauges, resources, concurrency slots),
its *features*, its *plans* in tier order, *packs*, wallet *operations*, *policies* and worked
*examples*. The models here check shape and types; cross references (a limit on an undeclared
item, a pack for an unknown meter…) are checked by :mod:`meterstack.catalog.validate`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import Enum, StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)

from meterstack.bounds import (
    MAX_AMOUNT,
    MAX_CATALOG_VERSION,
    MAX_GRACE_PERCENT,
    MAX_QUANTITY,
    MAX_TTL_SECONDS,
    MAX_UNIT_PRICE,
)
from meterstack.money import parse_money

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]


class Unlimited(Enum):
    """The first-class "unlimited" limit value (A2); never a big number."""

    UNLIMITED = "unlimited"

    def __repr__(self) -> str:
        return "UNLIMITED"


UNLIMITED = Unlimited.UNLIMITED

_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)\s*$")


def parse_size(text: str) -> int | None:
    """``"2.5 GB"`` -> 2,500,000,000 bytes (1 GB = 10^9 bytes, D8); None if not a size."""
    match = _SIZE_RE.match(text)
    if match is None:
        return None
    value = Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if value != value.to_integral_value():
        return None
    return int(value)


def show(value: Any) -> str:
    """A value as an error message quotes it: strings in double quotes."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def _parse_quantity(value: Any) -> Any:
    """A whole number of units, or a byte size such as ``"500 MB"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"expected a whole number, got {show(value)}")
    if isinstance(value, str):
        size = parse_size(value)
        if size is not None:
            return size
        cleaned = value.replace(",", "").replace("_", "").strip()
        if cleaned.isdigit():
            return int(cleaned)
    raise ValueError(f"expected a whole number, got {show(value)}")


def _parse_limit(value: Any) -> Any:
    if value is UNLIMITED or (isinstance(value, str) and value.strip().lower() == "unlimited"):
        return UNLIMITED
    try:
        limit = _parse_quantity(value)
    except ValueError:
        raise ValueError(f'expected a whole number or "unlimited", got {show(value)}') from None
    if limit > MAX_QUANTITY:
        # Hard limits and counters must fit the store's 64-bit integers (meterstack.bounds).
        raise ValueError(
            f'expected at most {MAX_QUANTITY:,} (10^15) or "unlimited", got {show(value)}'
        )
    return limit


def _parse_decimal(value: Any) -> Any:
    if isinstance(value, float):
        # YAML writes 0.5 as a float; go through its shortest repr, never its binary value.
        value = repr(value)
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal amount, got {show(value)}")
    if isinstance(value, int | str | Decimal):
        try:
            return parse_money(value)
        except ValueError:
            pass
    raise ValueError(f'expected a decimal amount such as "10.00", got {show(value)}')


def _serialize_limit(value: int | Unlimited) -> int | str:
    return "unlimited" if value is UNLIMITED else value


Quantity = Annotated[int, BeforeValidator(_parse_quantity), Field(ge=0, le=MAX_QUANTITY)]
#: A count of units or transactions a charge model or a tier is written in.
Count = Annotated[int, Field(le=MAX_QUANTITY)]
Limit = Annotated[
    int | Unlimited,
    BeforeValidator(_parse_limit),
    PlainSerializer(_serialize_limit, return_type=int | str),
]
#: A whole amount of money charged as written (a fee, a pack, a minimum).
Amount = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    Field(ge=0, le=MAX_AMOUNT),
    PlainSerializer(str, return_type=str),
]
#: A price multiplied by usage: it may carry more decimals than the currency (D1, D17).
UnitPrice = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    Field(ge=0, le=MAX_UNIT_PRICE),
    PlainSerializer(str, return_type=str),
]
#: A grace above a limit, in percent (B7, D5).
Grace = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    Field(ge=0, le=MAX_GRACE_PERCENT),
    PlainSerializer(str, return_type=str),
]
#: A share of something, in percent: a fee, a discount, an uptime.
Percent = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    Field(ge=0, le=100),
    PlainSerializer(str, return_type=str),
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- items


class Scope(StrEnum):
    """What a limit is counted over (A9: AgentStack limits aggregate over the account)."""

    ACCOUNT = "account"
    PROJECT = "project"
    END_USER = "end_user"
    API_KEY = "api_key"


class Item(Model):
    """Common fields of everything a plan can limit."""

    name: str
    description: str = ""
    unit: str = "unit"
    scope: Scope = Scope.ACCOUNT
    #: HTTP status of a refusal at the limit (D4: 429 unless the catalog says otherwise).
    refusal_status: Literal[402, 403, 429] = 429
    #: Packs may raise this item (A4: JSON storage per user never is).
    packable: bool = True


class Meter(Item):
    """Usage that resets each period (API calls, sessions, tokens)."""

    kind: Literal["meter"] = "meter"
    #: Longest a hold on this meter stays open before it lapses (C6: 300 s for FlowStack).
    max_hold_seconds: int | None = Field(default=None, gt=0, le=MAX_TTL_SECONDS)


class Gauge(Item):
    """A stored quantity that goes up and down (storage, in bytes)."""

    kind: Literal["gauge"] = "gauge"
    unit: str = "byte"


class Resource(Item):
    """Counted objects with an identity (projects, members, API keys)."""

    kind: Literal["resource"] = "resource"
    #: A resource counted among another's objects (D12: active projects are projects).
    subset_of: Identifier | None = None


class Concurrency(Item):
    """Simultaneous slots held by leases (realtime connections, requests in flight)."""

    kind: Literal["concurrency"] = "concurrency"
    max_lease_seconds: int = Field(gt=0, le=MAX_TTL_SECONDS)


class Feature(Model):
    """A capability unlocked by tier: on/off, or ordered levels (``none < basic < advanced``)."""

    name: str
    description: str = ""
    #: Ordered levels, lowest first; absent for an on/off feature.
    levels: tuple[Identifier, ...] | None = None
    #: How a refusal answers (D4): 402 upgrade_required by default.
    refusal: Literal["upgrade_required", "not_allowed_for_tier"] = "upgrade_required"

    @field_validator("levels")
    @classmethod
    def _distinct_levels(cls, levels: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if levels is not None:
            if len(levels) < 2:
                raise ValueError("a levelled feature needs at least two levels")
            if len(set(levels)) != len(levels):
                raise ValueError("levels must be distinct")
        return levels


# --------------------------------------------------------------------------- charge models


class PerBlock(Model):
    """Per unit, priced per block of units, with a minimum charge (A3, D1)."""

    model: Literal["per_block"] = "per_block"
    price: Amount
    per: Count = Field(default=1, gt=0)
    minimum: Amount = Decimal(0)


class Standard(Model):
    """Units x unit price."""

    model: Literal["standard"]
    unit_price: UnitPrice


class PriceTier(Model):
    #: Inclusive upper bound of the tier; None for the last, unbounded tier.
    up_to: Count | None = Field(default=None, gt=0)
    unit_price: UnitPrice = Decimal(0)
    flat_fee: Amount = Decimal(0)


class Graduated(Model):
    """Each tier bills its own units at its price plus its flat fee."""

    model: Literal["graduated"]
    tiers: tuple[PriceTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_ascend(self) -> Graduated:
        _check_tiers(self.tiers)
        return self


class Volume(Model):
    """The tier reached by the total prices every unit, plus that tier's flat fee."""

    model: Literal["volume"]
    tiers: tuple[PriceTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_ascend(self) -> Volume:
        _check_tiers(self.tiers)
        return self


class Package(Model):
    """ceil((units - free units) / package size) x package price."""

    model: Literal["package"]
    package_size: Count = Field(gt=0)
    package_price: Amount
    free_units: Count = Field(default=0, ge=0)


class Percentage(Model):
    """A percentage of a transaction amount plus a fixed fee per transaction."""

    model: Literal["percentage"]
    percent: Percent
    fixed_fee: Amount = Decimal(0)
    free_transactions: Count = Field(default=0, ge=0)
    free_amount: Amount = Decimal(0)
    minimum_per_transaction: Amount | None = None
    maximum_per_transaction: Amount | None = None


def _check_tiers(tiers: tuple[PriceTier, ...]) -> None:
    bounds = [tier.up_to for tier in tiers]
    if bounds[-1] is not None:
        raise ValueError("the last tier must be unbounded (no up_to)")
    inner = bounds[:-1]
    if any(bound is None for bound in inner):
        raise ValueError("only the last tier may be unbounded")
    finite = [b for b in inner if b is not None]
    if finite != sorted(finite) or len(set(finite)) != len(finite):
        raise ValueError("tier bounds (up_to) must strictly increase")


def _charge_model_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("model", "per_block"))
    return str(getattr(value, "model", "per_block"))


ChargeModel = Annotated[
    Annotated[PerBlock, Tag("per_block")]
    | Annotated[Standard, Tag("standard")]
    | Annotated[Graduated, Tag("graduated")]
    | Annotated[Volume, Tag("volume")]
    | Annotated[Package, Tag("package")]
    | Annotated[Percentage, Tag("percentage")],
    Discriminator(_charge_model_tag),
]


# --------------------------------------------------------------------------- plans


class Overage(Model):
    """Pay-as-you-go beyond the limit of one item (A3, A5, D1, D3)."""

    #: Default of the overage switch for this item (D3: off unless the catalog says on).
    enabled: bool = False
    charge: ChargeModel


class PlanPrice(Model):
    monthly: Amount
    #: Explicit yearly price; derived from the catalog's yearly discount when absent.
    yearly: Amount | None = None


class Plan(Model):
    id: Identifier
    name: str
    description: str = ""
    #: ``"custom"`` for a plan priced per contract (A1 ENTERPRISE, B1 Enterprise, C2 Enterprise).
    price: PlanPrice | Literal["custom"]
    limits: dict[Identifier, Limit] = Field(default_factory=dict)
    #: Grace above each meter or gauge limit, in percent (B7, D5).
    grace_percent: Grace = Decimal(0)
    #: Per-item grace overriding ``grace_percent``.
    item_grace_percent: dict[Identifier, Grace] = Field(default_factory=dict)
    overage: dict[Identifier, Overage] = Field(default_factory=dict)
    #: Charge models pricing the whole period's usage of a meter (usage-priced plans).
    usage_prices: dict[Identifier, ChargeModel] = Field(default_factory=dict)
    features: dict[Identifier, bool | Identifier] = Field(default_factory=dict)
    #: Whether an account on this plan may buy packs and turn overage on (D3: not ANONYMOUS).
    payments: bool = True
    #: Whether customers may choose this plan themselves (checkout); custom plans are sold.
    self_serve: bool = True
    support: str | None = None
    uptime_sla_percent: Percent | None = None
    analytics_retention_days: Limit | None = None
    analytics_exports: Limit | None = None
    #: Bullet points shown with the plan (B5's feature lists).
    highlights: tuple[str, ...] = ()

    @property
    def is_custom(self) -> bool:
        return self.price == "custom"


# --------------------------------------------------------------------------- packs, wallet


class Pack(Model):
    """A one-time purchase of permanent capacity (A4, A6, D11)."""

    name: str
    item: Identifier
    #: Units (or bytes for a gauge) added to the item's limit every period.
    quantity: Quantity = Field(gt=0)
    price: Amount
    #: The size name a door may use to ask for it (``package_size=small``).
    size: Identifier | None = None


class Operation(Model):
    """A pay-per-use operation paid from the prepaid wallet (B2, B3, D17)."""

    name: str
    #: A fixed price, or ``"per_item"`` when each marketplace item carries its own price.
    price: UnitPrice | Literal["per_item"]
    #: Bring-your-own-key runs cost nothing from the wallet (B3).
    byok_free: bool = False
    #: A meter each unit of the operation also counts, admitted with the charge (both or
    #: neither); None = the operation counts no meter.
    meter: Identifier | None = None
    #: Whether a BYOK run still counts ``meter`` (D22: plan quotas count it unless exempted).
    byok_counts_meter: bool = True


class Wallet(Model):
    operations: dict[Identifier, Operation] = Field(default_factory=dict)
    #: Share of a creator's sale kept by the platform (D17: 20 %).
    platform_fee_percent: Percent = Decimal(0)
    auto_reload: bool = True
    minimum_deposit: Amount = Decimal(0)
    #: Creator earnings are paid out once they reach this (D23).
    minimum_payout: Amount = Decimal(0)
    #: The highest price per call a creator may set on a marketplace item (D23).
    max_item_price: UnitPrice | None = None


# --------------------------------------------------------------------------- policies, examples


class Policies(Model):
    #: ``calendar_month`` (AgentStack, Aerostack) or ``anniversary`` (FlowStack), D8.
    period: Literal["calendar_month", "anniversary"] = "calendar_month"
    upgrades: Literal["immediate"] = "immediate"
    downgrades: Literal["period_end"] = "period_end"
    cancellations: Literal["period_end"] = "period_end"
    #: The plan a cancelled subscription moves to.
    fallback_plan: Identifier
    #: The plan new accounts start on; the first plan when absent.
    default_plan: Identifier | None = None
    rollover: Literal[False] = False
    #: Percentage of a limit at which usage is flagged near the limit (C4: 80 %).
    near_limit_percent: Percent = Decimal(80)
    #: Yearly price = 12 x monthly x (1 - discount) when a plan gives no yearly price (B1).
    yearly_discount_percent: Percent | None = None
    intervals: tuple[Literal["monthly", "yearly"], ...] = ("monthly",)
    prorate_upgrades: bool = True
    #: Default usage alerts, as percentages of the effective limit, on every limited meter of
    #: every account (C8, D25: FlowStack 75/90/95); each fires once per crossing.
    alert_thresholds: tuple[Annotated[Percent, Field(gt=0)], ...] = ()

    @field_validator("alert_thresholds")
    @classmethod
    def _distinct_thresholds(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if len(set(value)) != len(value):
            raise ValueError("alert thresholds must be distinct")
        return tuple(sorted(value))


class ExampleExpectation(Model):
    #: Expected total of the month's charges (subscription fee plus usage).
    total: Amount | None = None
    #: Expected charge per item (overage or usage price).
    items: dict[Identifier, Amount] = Field(default_factory=dict)


class Example(Model):
    """A worked example: usage in, expected charges out (D18)."""

    name: str
    source: str = ""
    plan: Identifier
    interval: Literal["monthly", "yearly"] = "monthly"
    usage: dict[Identifier, Quantity] = Field(default_factory=dict)
    #: The amount of each transaction of a meter priced by ``percentage``, in order; the
    #: meter's usage is their number unless ``usage`` gives it.
    transactions: dict[Identifier, tuple[Amount, ...]] = Field(default_factory=dict)
    packs: tuple[Identifier, ...] = ()
    overage: bool = True
    expect: ExampleExpectation


# --------------------------------------------------------------------------- the catalog


class Catalog(Model):
    catalog: Identifier
    name: str
    version: int = Field(ge=1, le=MAX_CATALOG_VERSION)
    description: str = ""
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    meters: dict[Identifier, Meter] = Field(default_factory=dict)
    gauges: dict[Identifier, Gauge] = Field(default_factory=dict)
    resources: dict[Identifier, Resource] = Field(default_factory=dict)
    concurrency: dict[Identifier, Concurrency] = Field(default_factory=dict)
    features: dict[Identifier, Feature] = Field(default_factory=dict)
    plans: tuple[Plan, ...] = Field(min_length=1)
    packs: dict[Identifier, Pack] = Field(default_factory=dict)
    wallet: Wallet | None = None
    policies: Policies
    examples: tuple[Example, ...] = ()

    @field_validator("plans", mode="before")
    @classmethod
    def _plans_from_mapping(cls, value: Any) -> Any:
        # Plans are written as a mapping in tier order; the id is the key.
        if isinstance(value, dict):
            plans = []
            for plan_id, body in value.items():
                if isinstance(body, dict):
                    plans.append({"id": plan_id, **body})
                else:
                    plans.append(body)
            return plans
        return value

    # ---------------------------------------------------------------- look-ups

    def plan(self, plan_id: str) -> Plan:
        return self.plans_by_id[plan_id]

    @cached_property
    def plans_by_id(self) -> dict[str, Plan]:
        return {plan.id: plan for plan in self.plans}

    @property
    def plan_ids(self) -> tuple[str, ...]:
        return tuple(plan.id for plan in self.plans)

    def tier_rank(self, plan_id: str) -> int:
        return self.plan_ids.index(plan_id)

    @cached_property
    def items(self) -> dict[str, Meter | Gauge | Resource | Concurrency]:
        """Every limitable item by id, in declaration order of its section."""
        merged: dict[str, Meter | Gauge | Resource | Concurrency] = {}
        merged.update(self.meters)
        merged.update(self.gauges)
        merged.update(self.resources)
        merged.update(self.concurrency)
        return merged

    @property
    def default_plan(self) -> str:
        return self.policies.default_plan or self.plans[0].id

    def yearly_price(self, plan: Plan) -> Decimal | None:
        """The plan's yearly price: explicit, or derived from the catalog's discount (B1)."""
        if not isinstance(plan.price, PlanPrice):
            return None
        if plan.price.yearly is not None:
            return plan.price.yearly
        discount = self.policies.yearly_discount_percent
        if discount is None:
            return None
        return plan.price.monthly * 12 * (100 - discount) / 100
