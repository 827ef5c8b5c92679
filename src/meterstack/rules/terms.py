"""An account's effective terms: what its plan, overrides, packs and switches add up to.

Effective limit = plan limit (or operator override, D14) + packs bought (A6, D11); ``None`` is
unlimited and never blocks. The hard limit adds the grace zone (B7, D5). The overage switch is
resolved per item for the project making the request (A5, D3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import cached_property

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
    #: The plan with ``prices`` applied, built once when the state is loaded (see ``plan_of``).
    priced: Plan | None = None
    #: The wallet's auto-reload threshold (D21), None when auto-reload is off: a charge that
    #: crosses it starts a reload. Kept with the terms, so a charge reads no settings row.
    reload_threshold: Decimal | None = None
    #: What a lost dispute left owed: above zero, wallet charges wait until it is paid.
    wallet_owed: Decimal = Decimal(0)


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

    @cached_property
    def limit(self) -> int | None:
        """Effective limit: included + packs (A6)."""
        if self.included is None:
            return None
        return self.included + self.pack_units

    @cached_property
    def hard_limit(self) -> int | None:
        """Limit x (1 + grace), rounded up to a whole unit in the customer's favour (D5)."""
        return hard_limit(self.limit, self.grace_percent)


def hard_limit(limit: int | None, grace_percent: Decimal) -> int | None:
    if limit is None:
        return None
    if grace_percent == 0:
        return limit
    return ceil_units(Decimal(limit) * (100 + grace_percent) / 100)


def plan_of(catalog: Catalog, state: AccountState) -> Plan:
    """The account's plan, with the operator's prices in place of the catalog's (D14).

    The priced plan is built once per loaded state (:attr:`AccountState.priced`); a state made
    without it is priced here.
    """
    plan = catalog.plan(state.plan_id)
    if not state.prices:
        return plan
    if state.priced is not None and state.priced.id == state.plan_id:
        return state.priced
    return priced_plan(plan, state.prices)


def with_priced_plan(catalog: Catalog, state: AccountState) -> AccountState:
    """``state`` carrying its priced plan, so that :func:`plan_of` does not build it again."""
    if not state.prices:
        return state
    return replace(state, priced=priced_plan(catalog.plan(state.plan_id), state.prices))


def priced_plan(plan: Plan, prices: Iterable[tuple[str, str]]) -> Plan:
    """``plan`` with price overrides applied (values as stored: JSON text); D14."""
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


def pack_units(catalog: Catalog, packs: Iterable[str], item: str) -> int:
    """Units the packs owned (one id per purchase) add to ``item`` (A6, D11).

    Only a packable item is raised: JSON storage per user never is (A4).
    """
    if not catalog.items[item].packable:
        return 0
    return sum(
        catalog.packs[pack_id].quantity
        for pack_id in packs
        if pack_id in catalog.packs and catalog.packs[pack_id].item == item
    )


def grace_percent(catalog: Catalog, plan: Plan, item: str) -> Decimal:
    """The plan's grace zone on ``item`` (B7); meters and gauges only have one (D5)."""
    if not isinstance(catalog.items[item], Meter | Gauge):
        return Decimal(0)
    return plan.item_grace_percent.get(item, plan.grace_percent)


def terms_of(
    catalog: Catalog,
    plan: Plan,
    item: str,
    *,
    packs: Iterable[str] = (),
    override: LimitOverride | None = None,
) -> ItemTerms:
    """The effective terms of ``item`` on ``plan``: its limit and grace, or an operator's
    override of them (D14), plus the units of the packs owned (A6).

    Admission, usage reports, rating and period close all take their limits from here.
    """
    plan_limit = plan.limits.get(item, UNLIMITED)
    included: int | None = None if plan_limit is UNLIMITED else int(plan_limit)
    grace = grace_percent(catalog, plan, item)
    if override is not None:
        included = override.limit
        if override.grace_percent is not None:
            grace = override.grace_percent
    offer = plan.overage.get(item)
    declared = catalog.items[item]
    return ItemTerms(
        item=item,
        kind=declared.kind,
        included=included,
        pack_units=pack_units(catalog, packs, item),
        grace_percent=grace,
        overage_charge=offer.charge if offer is not None else None,
        refusal_status=declared.refusal_status,
    )


def item_terms(
    catalog: Catalog, state: AccountState, item: str, project_id: str = ACCOUNT_WIDE
) -> ItemTerms:
    """Terms of ``item`` at the account scope, or at one project when it has an override.

    Packs are held on the account (D11): a project's own cap is never raised by them.
    """
    override = state.overrides.get((project_id, item))
    if project_id != ACCOUNT_WIDE and override is None:
        raise KeyError((project_id, item))
    packs = state.packs if project_id == ACCOUNT_WIDE else ()
    return terms_of(catalog, plan_of(catalog, state), item, packs=packs, override=override)


def overage_enabled(
    catalog: Catalog, state: AccountState, item: str, project_id: str | None
) -> bool:
    """The overage switch for ``item`` as the requesting project sees it (A5, D3)."""
    return overage_switch(plan_of(catalog, state), item, state.switches, project_id)


def overage_switch(
    plan: Plan,
    item: str,
    switches: Mapping[tuple[str, str], bool],
    project_id: str | None = None,
) -> bool:
    """Whether overage is on for ``item`` (A5, D3), from switches keyed (project or
    ``ACCOUNT_WIDE``, item or ``ALL_ITEMS``).

    Most specific wins: the project's switch for the item, the project's switch for all items,
    the account's for the item, the account's for all items, then the catalog's default.
    A plan without an overage price for the item, or without payments, has no overage.
    """
    offer = plan.overage.get(item)
    if offer is None or not plan.payments:
        return False
    candidates: list[tuple[str, str]] = []
    if project_id:
        candidates += [(project_id, item), (project_id, ALL_ITEMS)]
    candidates += [(ACCOUNT_WIDE, item), (ACCOUNT_WIDE, ALL_ITEMS)]
    for key in candidates:
        if key in switches:
            return switches[key]
    return offer.enabled


def account_switches(switches: Mapping[str, bool]) -> dict[tuple[str, str], bool]:
    """Account-wide switches given per item (or ``ALL_ITEMS``), keyed as :func:`overage_switch`
    reads them."""
    return {(ACCOUNT_WIDE, item): enabled for item, enabled in switches.items()}
