"""Cross-reference checks of a catalog: errors that make a catalog unusable.

Shape and types are checked by the pydantic models; here we check that every reference names
something declared (a limit on an undeclared meter, a pack for an unknown item, an unknown
fallback plan…). Suspicious but legal catalogs are the linter's business
(:mod:`meterstack.catalog.lint`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping

from meterstack.catalog.amounts import amount_problems
from meterstack.catalog.schema import Catalog, Gauge, Meter, Plan, PlanPrice, show
from meterstack.money import CURRENCY_MINOR_UNITS

Problem = tuple[tuple[str | int, ...], str]


def cross_reference_problems(catalog: Catalog) -> list[Problem]:
    return [
        *_item_problems(catalog),
        *(problem for plan in catalog.plans for problem in _plan_problems(catalog, plan)),
        *_pack_problems(catalog),
        *_policy_problems(catalog),
        *_example_problems(catalog),
        *amount_problems(catalog),
    ]


def unknown(kind: str, name: str, known: Collection[str]) -> str:
    """``unknown item "api_call"; did you mean "api_calls"?``, or the names that are declared."""
    message = f"unknown {kind} {show(name)}"
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"{message}; did you mean {show(close[0])}?"
    if known:
        return f"{message}; declared: {', '.join(known)}"
    return f"{message}; none is declared"


def _item_problems(catalog: Catalog) -> Iterator[Problem]:
    if catalog.currency not in CURRENCY_MINOR_UNITS:
        known = ", ".join(CURRENCY_MINOR_UNITS)
        yield ("currency",), f"unknown currency {show(catalog.currency)}; supported: {known}"
    seen: dict[str, str] = {}
    sections: dict[str, Mapping[str, object]] = {
        "meters": catalog.meters,
        "gauges": catalog.gauges,
        "resources": catalog.resources,
        "concurrency": catalog.concurrency,
    }
    for section, items in sections.items():
        for item_id in items:
            if item_id in seen:
                yield (
                    (section, item_id),
                    f"item {show(item_id)} is declared twice (also in {seen[item_id]})",
                )
            seen[item_id] = section
    for resource_id, resource in catalog.resources.items():
        if resource.subset_of is not None and resource.subset_of not in catalog.resources:
            yield (
                ("resources", resource_id, "subset_of"),
                unknown("resource", resource.subset_of, catalog.resources),
            )
    plan_ids = [plan.id for plan in catalog.plans]
    for plan_id in plan_ids:
        if plan_ids.count(plan_id) > 1:
            yield ("plans", plan_id), f"plan {show(plan_id)} is declared twice"
            break


def _plan_problems(catalog: Catalog, plan: Plan) -> Iterator[Problem]:
    items = catalog.items
    base = ("plans", plan.id)
    for item_id, limit in plan.limits.items():
        if item_id not in items:
            yield (*base, "limits", item_id), unknown("item", item_id, items)
        elif isinstance(limit, int) and limit < 0:
            yield (
                (*base, "limits", item_id),
                f'expected a whole number or "unlimited", got {limit}',
            )
    missing = [item_id for item_id in items if item_id not in plan.limits]
    if missing:
        names = ", ".join(show(item_id) for item_id in missing)
        yield (
            (*base, "limits"),
            f'missing limit for {names}: every declared item needs a whole number or "unlimited"',
        )
    for item_id in plan.item_grace_percent:
        item = items.get(item_id)
        if item is None:
            yield (*base, "item_grace_percent", item_id), unknown("item", item_id, items)
        elif not isinstance(item, Meter | Gauge):
            yield (
                (*base, "item_grace_percent", item_id),
                f"grace applies to meters and gauges only, not to {item.kind} {show(item_id)} (D5)",
            )
    for item_id in plan.overage:
        item = items.get(item_id)
        if item is None:
            yield (*base, "overage", item_id), unknown("item", item_id, items)
        elif not isinstance(item, Meter | Gauge):
            yield (
                (*base, "overage", item_id),
                f"overage applies to meters and gauges only, not to {item.kind} {show(item_id)}",
            )
    for item_id in plan.usage_prices:
        if item_id not in catalog.meters:
            yield (*base, "usage_prices", item_id), unknown("meter", item_id, catalog.meters)
    yield from _feature_problems(catalog, plan)
    offers_yearly = "yearly" in catalog.policies.intervals
    if offers_yearly and isinstance(plan.price, PlanPrice) and catalog.yearly_price(plan) is None:
        yield (
            (*base, "price", "yearly"),
            "yearly billing is offered but this plan has no yearly price "
            "and the catalog no yearly_discount_percent",
        )


def _feature_problems(catalog: Catalog, plan: Plan) -> Iterator[Problem]:
    for feature_id, value in plan.features.items():
        path = ("plans", plan.id, "features", feature_id)
        feature = catalog.features.get(feature_id)
        if feature is None:
            yield path, unknown("feature", feature_id, catalog.features)
        elif feature.levels is None and not isinstance(value, bool):
            yield (
                path,
                f"expected true or false for on/off feature {show(feature_id)}, got {show(value)}",
            )
        elif feature.levels is not None and (
            isinstance(value, bool) or value not in feature.levels
        ):
            levels = ", ".join(feature.levels)
            got = str(value).lower() if isinstance(value, bool) else show(value)
            yield path, f"expected one of the levels {levels}, got {got}"


def _pack_problems(catalog: Catalog) -> Iterator[Problem]:
    items = catalog.items
    sizes: dict[tuple[str, str], str] = {}
    for pack_id, pack in catalog.packs.items():
        item = items.get(pack.item)
        if item is None:
            yield ("packs", pack_id, "item"), unknown("item", pack.item, items)
        elif not isinstance(item, Meter | Gauge):
            yield (
                ("packs", pack_id, "item"),
                f"packs raise meters and gauges only, not {item.kind} {show(pack.item)}",
            )
        if pack.size is not None:
            key = (pack.item, pack.size)
            if key in sizes:
                yield (
                    ("packs", pack_id, "size"),
                    f"size {show(pack.size)} of {show(pack.item)} is also pack {show(sizes[key])}",
                )
            sizes[key] = pack_id


def _policy_problems(catalog: Catalog) -> Iterator[Problem]:
    plan_ids = catalog.plan_ids
    policies = catalog.policies
    if policies.fallback_plan not in plan_ids:
        yield ("policies", "fallback_plan"), unknown("plan", policies.fallback_plan, plan_ids)
    if policies.default_plan is not None and policies.default_plan not in plan_ids:
        yield ("policies", "default_plan"), unknown("plan", policies.default_plan, plan_ids)


def _example_problems(catalog: Catalog) -> Iterator[Problem]:
    items = catalog.items
    rated = [item_id for item_id, item in items.items() if isinstance(item, Meter | Gauge)]
    for index, example in enumerate(catalog.examples):
        base = ("examples", index)
        if example.plan not in catalog.plan_ids:
            yield (*base, "plan"), unknown("plan", example.plan, catalog.plan_ids)
        for item_id in example.usage:
            if item_id not in rated:
                yield (*base, "usage", item_id), unknown("meter or gauge", item_id, rated)
        for item_id in example.transactions:
            if item_id not in catalog.meters:
                yield (*base, "transactions", item_id), unknown("meter", item_id, catalog.meters)
        for item_id in example.expect.items:
            if item_id not in items:
                yield (*base, "expect", "items", item_id), unknown("item", item_id, items)
        for position, pack_id in enumerate(example.packs):
            if pack_id not in catalog.packs:
                yield (*base, "packs", position), unknown("pack", pack_id, catalog.packs)
