"""An account's effective terms: what its plan, overrides, packs and switches add up to.

Effective limit = plan limit (or operator override, D14) + packs bought (A6, D11); ``None`` is
unlimited and never blocks. The hard limit adds the grace zone (B7, D5). The overage switch is
resolved per item for the project making the request (A5, D3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pydantic import TypeAdapter

from meterstack.catalog.schema import (
    UNLIMITED,
    Catalog,
    ChargeModel,
    Gauge,
    Meter,
    Overage,
    Plan,
    PlanPrice,
)
from meterstack.money import ceil_units

#: Validates a charge model given as JSON (an operator's usage price, D14).
CHARGE_MODEL: TypeAdapter[ChargeModel] = TypeAdapter(ChargeModel)

#: The key under which account-wide settings are stored (no project).
ACCOUNT_WIDE = ""
#: The item key of a switch that applies to every item.
ALL_ITEMS = "*"
#: The resource kind of projects: every catalog's accounts may have projects.
PROJECT_KIND = "projects"
#: The resource kind of an account's end users (owners of per-user quantities, A2).
END_USER_KIND = "end_users"


@dataclass(frozen=True)
class LimitOverride:
    """An operator's override of one item's limit and grace (D14); ``limit=None`` = unlimited."""

    limit: int | None
    grace_percent: Decimal | None = None


@dataclass(frozen=True)
class AccountState:
    """Everything about an account the rules need, as of one ``version``."""

    account_id: str
    plan_id: str
    catalog_hash: str
    version: int
    period_anchor: datetime
    #: (project id or ACCOUNT_WIDE, item) -> override
    overrides: dict[tuple[str, str], LimitOverride] = field(default_factory=dict)
    #: pack ids granted, one entry per purchase
    packs: tuple[str, ...] = ()
    #: (project id or ACCOUNT_WIDE, item or ALL_ITEMS) -> overage enabled
    switches: dict[tuple[str, str], bool] = field(default_factory=dict)
    #: The account's projects (their counters are kept beside the account's, A11).
    projects: frozenset[str] = frozenset()
    #: Operator overrides of features (D14): feature -> on/off or a level.
    features: dict[str, bool | str] = field(default_factory=dict)
    #: Operator prices (D14): (``fee`` | ``overage:<item>`` | ``usage:<item>``, JSON), sorted.
    prices: tuple[tuple[str, str], ...] = ()
    #: When a pending downgrade or cancellation takes effect (B9, C7); None when none waits.
    pending_at: datetime | None = None


@dataclass(frozen=True)
class ItemTerms:
    """The effective terms of one item for one account (or one project's override)."""

    item: str
    kind: str
    #: Plan limit, or the operator's override; None = unlimited.
    included: int | None
    #: Units added by packs.
    pack_units: int
    grace_percent: Decimal
    #: Overage price when the plan offers overage on this item.
    overage_charge: ChargeModel | None
    refusal_status: int

    @property
    def limit(self) -> int | None:
        """Effective limit: included + packs (A6)."""
        if self.included is None:
            return None
        return self.included + self.pack_units

    @property
    def hard_limit(self) -> int | None:
        """Limit x (1 + grace), rounded up to a whole unit in the customer's favour (D5)."""
        return hard_limit(self.limit, self.grace_percent)


def hard_limit(limit: int | None, grace_percent: Decimal) -> int | None:
    if limit is None:
        return None
    if grace_percent == 0:
        return limit
    return ceil_units(Decimal(limit) * (100 + grace_percent) / 100)


_PRICED_PLANS: dict[tuple[str, str, tuple[tuple[str, str], ...]], Plan] = {}


def plan_of(catalog: Catalog, state: AccountState) -> Plan:
    """The account's plan, with the operator's prices in place of the catalog's (D14)."""
    plan = catalog.plan(state.plan_id)
    if not state.prices:
        return plan
    key = (state.catalog_hash, state.plan_id, state.prices)
    priced = _PRICED_PLANS.get(key)
    if priced is None:
        if len(_PRICED_PLANS) > 10_000:
            _PRICED_PLANS.clear()
        priced = _PRICED_PLANS[key] = priced_plan(plan, state.prices)
    return priced


def priced_plan(plan: Plan, prices: Iterable[tuple[str, str]]) -> Plan:
    """``plan`` with price overrides applied (values as stored: JSON text)."""
    update: dict[str, object] = {}
    overage = dict(plan.overage)
    usage_prices = dict(plan.usage_prices)
    for target, value in prices:
        if target == "fee":
            update["price"] = PlanPrice.model_validate_json(value)
        elif target.startswith("overage:"):
            overage[target.removeprefix("overage:")] = Overage.model_validate_json(value)
        elif target.startswith("usage:"):
            usage_prices[target.removeprefix("usage:")] = CHARGE_MODEL.validate_json(value)
    update["overage"] = overage
    update["usage_prices"] = usage_prices
    return plan.model_copy(update=update)


def item_terms(
    catalog: Catalog, state: AccountState, item: str, project_id: str = ACCOUNT_WIDE
) -> ItemTerms:
    """Terms of ``item`` at the account scope, or at one project when it has an override."""
    declared = catalog.items[item]
    plan = plan_of(catalog, state)
    override = state.overrides.get((project_id, item))
    if project_id != ACCOUNT_WIDE and override is None:
        raise KeyError((project_id, item))
    plan_limit = plan.limits[item]
    included: int | None = None if plan_limit is UNLIMITED else int(plan_limit)
    grace = plan.item_grace_percent.get(item, plan.grace_percent)
    # Grace applies to meters and gauges only (D5).
    if not isinstance(declared, Meter | Gauge):
        grace = Decimal(0)
    if override is not None:
        included = override.limit
        if override.grace_percent is not None:
            grace = override.grace_percent
    pack_units = 0
    if project_id == ACCOUNT_WIDE and declared.packable:
        pack_units = sum(
            catalog.packs[pack_id].quantity
            for pack_id in state.packs
            if pack_id in catalog.packs and catalog.packs[pack_id].item == item
        )
    overage = plan.overage.get(item)
    return ItemTerms(
        item=item,
        kind=declared.kind,
        included=included,
        pack_units=pack_units,
        grace_percent=grace,
        overage_charge=overage.charge if overage is not None else None,
        refusal_status=declared.refusal_status,
    )


def overage_enabled(
    catalog: Catalog, state: AccountState, item: str, project_id: str | None
) -> bool:
    """The overage switch for ``item`` as the requesting project sees it (A5, D3).

    Most specific wins: the project's switch for the item, the project's switch for all items,
    the account's for the item, the account's for all items, then the catalog's default.
    A plan without an overage price for the item, or without payments, has no overage.
    """
    plan = plan_of(catalog, state)
    offer = plan.overage.get(item)
    if offer is None or not plan.payments:
        return False
    candidates: list[tuple[str, str]] = []
    if project_id:
        candidates += [(project_id, item), (project_id, ALL_ITEMS)]
    candidates += [(ACCOUNT_WIDE, item), (ACCOUNT_WIDE, ALL_ITEMS)]
    for key in candidates:
        if key in state.switches:
            return state.switches[key]
    return offer.enabled
