"""What changed between two versions of a catalog, and which way it cuts for customers.

Each :class:`CatalogChange` is one price, limit or term that differs, with its direction:
``stricter`` when customers get less for their money (a higher price, a lower limit, a smaller
grace, a feature lost), ``looser`` for the opposite, and ``changed`` when neither applies (a
price becoming custom, a different charge model, another support level). An item new to the
catalog was not counted before, so its limit is stricter; an item gone from the catalog is no
longer counted at all, which is neither (its new value is ``None``: removed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from meterstack.catalog.schema import (
    UNLIMITED,
    Catalog,
    ChargeModel,
    PerBlock,
    Plan,
    PlanPrice,
    Standard,
    Unlimited,
)

_INFINITY = Decimal("Infinity")

Value = Decimal | int | bool | str | Unlimited | ChargeModel | None


class Direction(StrEnum):
    STRICTER = "stricter"
    LOOSER = "looser"
    CHANGED = "changed"


@dataclass(frozen=True)
class CatalogChange:
    """One difference; ``None`` as a value means absent from that version."""

    path: str
    old: Value
    new: Value
    direction: Direction
    #: The unit of the item a limit or a pack is counted in (``byte`` for storage).
    unit: str = "unit"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": _json(self.old),
            "new": _json(self.new),
            "direction": str(self.direction),
        }


def diff_catalogs(old: Catalog, new: Catalog) -> list[CatalogChange]:
    """Every price, limit and term that differs from ``old`` to ``new``, plan by plan."""
    changes: list[CatalogChange] = []
    old_plans = old.plans_by_id
    for plan in new.plans:
        if plan.id in old_plans:
            changes.extend(_plan_changes(old, new, old_plans[plan.id], plan))
        else:
            changes.append(CatalogChange(f"plans.{plan.id}", None, plan.name, Direction.LOOSER))
    for plan in old.plans:
        if plan.id not in new.plans_by_id:
            changes.append(CatalogChange(f"plans.{plan.id}", plan.name, None, Direction.STRICTER))
    changes.extend(_pack_changes(old, new))
    changes.extend(_operation_changes(old, new))
    return changes


# --------------------------------------------------------------------------- directions


def _order(value: Value) -> Decimal | None:
    """A value on one scale: unlimited above every number; None when it has no order."""
    if value is UNLIMITED:
        return _INFINITY
    if isinstance(value, bool | int | Decimal):
        return Decimal(value)
    return None


def _allowance(old: Value, new: Value) -> Direction:
    """More of something customers receive (a limit, a grace, a feature) is looser."""
    before, after = _order(old), _order(new)
    if before is None or after is None:
        return Direction.CHANGED
    return Direction.LOOSER if after > before else Direction.STRICTER


def _cost(old: Value, new: Value) -> Direction:
    """More of something customers pay is stricter."""
    before, after = _order(old), _order(new)
    if before is None or after is None:
        return Direction.CHANGED
    return Direction.STRICTER if after > before else Direction.LOOSER


# --------------------------------------------------------------------------- plans


def _plan_changes(old: Catalog, new: Catalog, before: Plan, after: Plan) -> Iterator[CatalogChange]:
    base = f"plans.{after.id}"
    units = {
        **{i: item.unit for i, item in old.items.items()},
        **{i: item.unit for i, item in new.items.items()},
    }
    yield from _price_changes(base, old, new, before, after)
    for item_id, unit in units.items():
        path = f"{base}.limits.{item_id}"
        a_limit = before.limits.get(item_id, UNLIMITED)
        if item_id not in new.items:
            yield CatalogChange(path, a_limit, None, Direction.CHANGED, unit)
            continue
        b_limit = after.limits.get(item_id, UNLIMITED)
        yield from _change(path, a_limit, b_limit, _allowance, unit)
    yield from _change(f"{base}.grace_percent", before.grace_percent, after.grace_percent)
    for item_id in _keys(before.item_grace_percent, after.item_grace_percent):
        a_grace = before.item_grace_percent.get(item_id, before.grace_percent)
        b_grace = after.item_grace_percent.get(item_id, after.grace_percent)
        yield from _change(f"{base}.item_grace_percent.{item_id}", a_grace, b_grace)
    # The prices of an item gone from the catalog went with it: its limit says "removed".
    kept = new.items
    old_offers = {item: model for item, model in _offers(before).items() if item in kept}
    old_usage = {item: model for item, model in before.usage_prices.items() if item in kept}
    yield from _charge_changes(f"{base}.overage", old_offers, _offers(after), units)
    yield from _charge_changes(f"{base}.usage_prices", old_usage, after.usage_prices, units)
    for item_id in _keys(before.overage, after.overage):
        a_on, b_on = _switch(before, item_id), _switch(after, item_id)
        if a_on is not None and b_on is not None:
            yield from _change(f"{base}.overage.{item_id}.enabled", a_on, b_on, _neither)
    yield from _feature_changes(base, old, new, before, after)
    for term in ("payments", "analytics_retention_days", "analytics_exports", "uptime_sla_percent"):
        yield from _change(f"{base}.{term}", getattr(before, term), getattr(after, term))
    yield from _change(f"{base}.support", before.support, after.support, _neither)


def _change(
    path: str,
    old: Value,
    new: Value,
    direction: Callable[[Value, Value], Direction] = _allowance,
    unit: str = "unit",
) -> Iterator[CatalogChange]:
    if old != new:
        yield CatalogChange(path, old, new, direction(old, new), unit)


def _neither(old: Value, new: Value) -> Direction:
    return Direction.CHANGED


def _price_changes(
    base: str, old: Catalog, new: Catalog, before: Plan, after: Plan
) -> Iterator[CatalogChange]:
    yield from _change(f"{base}.price.monthly", _monthly(before), _monthly(after), _cost)
    if "yearly" in old.policies.intervals and "yearly" in new.policies.intervals:
        a_year, b_year = _yearly(old, before), _yearly(new, after)
        yield from _change(f"{base}.price.yearly", a_year, b_year, _cost)


def _feature_changes(
    base: str, old: Catalog, new: Catalog, before: Plan, after: Plan
) -> Iterator[CatalogChange]:
    for feature_id in _keys(before.features, after.features):
        a_value, b_value = before.features.get(feature_id), after.features.get(feature_id)
        if a_value != b_value:
            a_rank = _feature_rank(old, feature_id, a_value)
            b_rank = _feature_rank(new, feature_id, b_value)
            direction = _allowance(a_rank, b_rank)
            yield CatalogChange(f"{base}.features.{feature_id}", a_value, b_value, direction)


def _monthly(plan: Plan) -> Decimal | str:
    return plan.price.monthly if isinstance(plan.price, PlanPrice) else "custom"


def _yearly(catalog: Catalog, plan: Plan) -> Decimal | str:
    yearly = catalog.yearly_price(plan)
    return "custom" if yearly is None else yearly


def _keys(*mappings: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _offers(plan: Plan) -> dict[str, ChargeModel]:
    return {item_id: overage.charge for item_id, overage in plan.overage.items()}


def _switch(plan: Plan, item_id: str) -> bool | None:
    offer = plan.overage.get(item_id)
    return None if offer is None else offer.enabled


def _feature_rank(catalog: Catalog, feature_id: str, value: bool | str | None) -> Value:
    feature = catalog.features.get(feature_id)
    if value is None or feature is None:
        return None
    if isinstance(value, bool) or feature.levels is None:
        return bool(value)
    return feature.levels.index(value) if value in feature.levels else None


def _unit_price(model: ChargeModel) -> Decimal | None:
    if isinstance(model, PerBlock):
        return model.price / model.per
    if isinstance(model, Standard):
        return model.unit_price
    return None


def _charge_direction(before: ChargeModel, after: ChargeModel) -> Direction:
    a_unit, b_unit = _unit_price(before), _unit_price(after)
    if a_unit is None or b_unit is None:
        return Direction.CHANGED
    if a_unit != b_unit:
        return _cost(a_unit, b_unit)
    a_min = before.minimum if isinstance(before, PerBlock) else Decimal(0)
    b_min = after.minimum if isinstance(after, PerBlock) else Decimal(0)
    return _cost(a_min, b_min)


def _charge_changes(
    base: str,
    before: Mapping[str, ChargeModel],
    after: Mapping[str, ChargeModel],
    units: Mapping[str, str],
) -> Iterator[CatalogChange]:
    for item_id in _keys(before, after):
        a_model, b_model = before.get(item_id), after.get(item_id)
        if a_model == b_model:
            continue
        unit = units.get(item_id, "unit")
        if a_model is None or b_model is None:
            # Offering overage lets customers go on past a limit instead of being refused.
            gained = Direction.LOOSER if a_model is None else Direction.STRICTER
            yield CatalogChange(f"{base}.{item_id}", a_model, b_model, gained, unit)
        else:
            direction = _charge_direction(a_model, b_model)
            yield CatalogChange(f"{base}.{item_id}", a_model, b_model, direction, unit)


# --------------------------------------------------------------------------- packs, wallet


def _pack_changes(old: Catalog, new: Catalog) -> Iterator[CatalogChange]:
    for pack_id in _keys(old.packs, new.packs):
        before, after = old.packs.get(pack_id), new.packs.get(pack_id)
        base = f"packs.{pack_id}"
        if before is None or after is None:
            # A pack withdrawn from sale is capacity customers can no longer buy.
            direction = Direction.LOOSER if before is None else Direction.STRICTER
            a_price = None if before is None else before.price
            b_price = None if after is None else after.price
            yield CatalogChange(base, a_price, b_price, direction)
            continue
        unit = (new.items.get(after.item) or old.items[before.item]).unit
        yield from _change(f"{base}.price", before.price, after.price, _cost)
        yield from _change(f"{base}.quantity", before.quantity, after.quantity, _allowance, unit)
        yield from _change(f"{base}.item", before.item, after.item, _neither)


def _operation_changes(old: Catalog, new: Catalog) -> Iterator[CatalogChange]:
    before_ops = old.wallet.operations if old.wallet else {}
    after_ops = new.wallet.operations if new.wallet else {}
    for op_id in _keys(before_ops, after_ops):
        before, after = before_ops.get(op_id), after_ops.get(op_id)
        base = f"wallet.operations.{op_id}"
        a_price = None if before is None else before.price
        b_price = None if after is None else after.price
        yield from _change(f"{base}.price", a_price, b_price, _cost)
        if before is not None and after is not None:
            yield from _change(f"{base}.byok_free", before.byok_free, after.byok_free)


def _json(value: Value) -> Any:
    """JSON as the catalog writes it: money as a decimal string, ``"unlimited"``, a model."""
    if value is UNLIMITED:
        return "unlimited"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
