"""Cross-reference checks of a catalog: errors that make a catalog unusable.

Shape and types are checked by the pydantic models; here we check that every reference names
something declared (a limit on an undeclared meter, a pack for an unknown item, an unknown
fallback plan…). Suspicious but legal catalogs are the linter's business
(:mod:`meterstack.catalog.lint`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from meterstack.catalog.schema import Catalog, Gauge, Meter, Plan, PlanPrice
from meterstack.money import CURRENCY_MINOR_UNITS

Problem = tuple[tuple[str | int, ...], str]


def cross_reference_problems(catalog: Catalog) -> list[Problem]:
    return [
        *_item_problems(catalog),
        *(problem for plan in catalog.plans for problem in _plan_problems(catalog, plan)),
        *_pack_problems(catalog),
        *_policy_problems(catalog),
        *_example_problems(catalog),
    ]


def _item_problems(catalog: Catalog) -> Iterator[Problem]:
    if catalog.currency not in CURRENCY_MINOR_UNITS:
        yield ("currency",), f"unknown currency {catalog.currency!r}"
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
                    f"item {item_id!r} is declared twice (also in {seen[item_id]})",
                )
            seen[item_id] = section
    for resource_id, resource in catalog.resources.items():
        if resource.subset_of is not None and resource.subset_of not in catalog.resources:
            yield (
                ("resources", resource_id, "subset_of"),
                f"unknown resource {resource.subset_of!r}",
            )
    plan_ids = [plan.id for plan in catalog.plans]
    for plan_id in plan_ids:
        if plan_ids.count(plan_id) > 1:
            yield ("plans", plan_id), f"plan {plan_id!r} is declared twice"
            break


def _plan_problems(catalog: Catalog, plan: Plan) -> Iterator[Problem]:
    items = catalog.items
    base = ("plans", plan.id)
    for item_id in plan.limits:
        if item_id not in items:
            yield (
                (*base, "limits", item_id),
                f"unknown item {item_id!r} (not a declared meter, gauge, resource or concurrency)",
            )
    for item_id in items:
        if item_id not in plan.limits:
            yield (*base, "limits"), f"missing limit for {item_id!r}"
    for item_id in plan.item_grace_percent:
        item = items.get(item_id)
        if item is None:
            yield (*base, "item_grace_percent", item_id), f"unknown item {item_id!r}"
        elif not isinstance(item, Meter | Gauge):
            yield (
                (*base, "item_grace_percent", item_id),
                f"grace applies to meters and gauges only, not to {item_id!r} (D5)",
            )
    for item_id in plan.overage:
        item = items.get(item_id)
        if item is None:
            yield (*base, "overage", item_id), f"unknown item {item_id!r}"
        elif not isinstance(item, Meter | Gauge):
            yield (
                (*base, "overage", item_id),
                f"overage applies to meters and gauges only, not to {item_id!r}",
            )
    for item_id in plan.usage_prices:
        if item_id not in catalog.meters:
            yield (*base, "usage_prices", item_id), f"unknown meter {item_id!r}"
    for feature_id, value in plan.features.items():
        feature = catalog.features.get(feature_id)
        if feature is None:
            yield (*base, "features", feature_id), f"unknown feature {feature_id!r}"
        elif feature.levels is None and not isinstance(value, bool):
            yield (
                (*base, "features", feature_id),
                f"expected true or false for on/off feature {feature_id!r}, got {value!r}",
            )
        elif feature.levels is not None and (
            isinstance(value, bool) or value not in feature.levels
        ):
            levels = ", ".join(feature.levels)
            yield (
                (*base, "features", feature_id),
                f"expected one of the levels {levels}, got {value!r}",
            )
    offers_yearly = "yearly" in catalog.policies.intervals
    if offers_yearly and isinstance(plan.price, PlanPrice) and catalog.yearly_price(plan) is None:
        yield (
            (*base, "price", "yearly"),
            "yearly billing is offered but this plan has no yearly price "
            "and the catalog no yearly_discount_percent",
        )


def _pack_problems(catalog: Catalog) -> Iterator[Problem]:
    items = catalog.items
    sizes: dict[tuple[str, str], str] = {}
    for pack_id, pack in catalog.packs.items():
        item = items.get(pack.item)
        if item is None:
            yield ("packs", pack_id, "item"), f"unknown item {pack.item!r}"
        elif not isinstance(item, Meter | Gauge):
            yield (
                ("packs", pack_id, "item"),
                f"packs raise meters and gauges only, not {pack.item!r}",
            )
        if pack.size is not None:
            key = (pack.item, pack.size)
            if key in sizes:
                yield (
                    ("packs", pack_id, "size"),
                    f"size {pack.size!r} of {pack.item!r} is also pack {sizes[key]!r}",
                )
            sizes[key] = pack_id


def _policy_problems(catalog: Catalog) -> Iterator[Problem]:
    plan_ids = catalog.plan_ids
    policies = catalog.policies
    if policies.fallback_plan not in plan_ids:
        yield ("policies", "fallback_plan"), f"unknown plan {policies.fallback_plan!r}"
    if policies.default_plan is not None and policies.default_plan not in plan_ids:
        yield ("policies", "default_plan"), f"unknown plan {policies.default_plan!r}"


def _example_problems(catalog: Catalog) -> Iterator[Problem]:
    items = catalog.items
    for index, example in enumerate(catalog.examples):
        base = ("examples", index)
        if example.plan not in catalog.plan_ids:
            yield (*base, "plan"), f"unknown plan {example.plan!r}"
        for item_id in example.usage:
            if not isinstance(items.get(item_id), Meter | Gauge):
                yield (*base, "usage", item_id), f"unknown meter or gauge {item_id!r}"
        for item_id in example.expect.items:
            if item_id not in items:
                yield (*base, "expect", "items", item_id), f"unknown item {item_id!r}"
        for pack_id in example.packs:
            if pack_id not in catalog.packs:
                yield (*base, "packs"), f"unknown pack {pack_id!r}"
