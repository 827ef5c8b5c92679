"""The catalog linter: what is legal but probably not what the author meant.

A catalog that loads is usable; the linter points at the places a customer would find odd,
each as a :class:`LintWarning` with the file, line and dotted path, like a validation error:

- ``limit_inversion``: a more expensive plan with a lower limit than a cheaper one (the shipped
  Aerostack catalog has two, copied from its pricing page on purpose);
- ``feature_inversion``: a more expensive plan without a feature, or with a lower level of it,
  than a cheaper one;
- ``yearly_not_cheaper``: a yearly price not below twelve monthly payments;
- ``yearly_not_offered``: a yearly price on a catalog that does not bill yearly;
- ``grace_on_unlimited`` and ``overage_on_unlimited``: an item grace or an overage price on an
  unlimited limit, which can never apply;
- ``overage_without_payments``: overage switched on by default on a plan without payments,
  which cannot turn it on (D3);
- ``pack_not_packable``: a pack on an item packs may not raise (A4: JSON storage per user).

A plan-wide ``grace_percent`` on a plan whose limits are all unlimited is not reported: it
applies to the finite limits a contract may give one account (D14).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.loader import CatalogProblem, LoadedCatalog
from meterstack.catalog.render import format_limit, format_money
from meterstack.catalog.schema import UNLIMITED, Catalog, Plan, PlanPrice, Unlimited

_Path = tuple[str | int, ...]
_Finding = tuple[str, _Path, str]  # code, path, message
_ABOVE_ALL = Decimal("Infinity")  # a custom price and an unlimited limit: above any number


@dataclass(frozen=True)
class LintWarning(CatalogProblem):
    """A suspicious but legal construct; ``code`` names the kind of suspicion."""

    code: str


def lint_catalog(loaded: LoadedCatalog) -> list[LintWarning]:
    """Every warning for a loaded catalog, in file order."""
    catalog = loaded.catalog
    findings = [
        *_limit_inversions(catalog),
        *_feature_inversions(catalog),
        *_yearly_prices(catalog),
        *_unlimited_items(catalog),
        *_packs(catalog),
    ]
    warnings = [
        LintWarning(
            loaded.source,
            loaded.line_of(path),
            ".".join(str(part) for part in path),
            message,
            code,
        )
        for code, path, message in findings
    ]
    return sorted(warnings, key=lambda w: (w.line is None, w.line or 0))


def _monthly(plan: Plan) -> Decimal:
    return plan.price.monthly if isinstance(plan.price, PlanPrice) else _ABOVE_ALL


def _priced(catalog: Catalog, plan: Plan) -> str:
    if not isinstance(plan.price, PlanPrice):
        return f"{plan.name} (custom price)"
    return f"{plan.name} at {format_money(plan.price.monthly, catalog.currency)}/month"


def _cheaper_pairs(catalog: Catalog) -> Iterator[tuple[Plan, list[Plan]]]:
    """Each plan with the plans strictly cheaper than it, nearest in tier order first."""
    for plan in catalog.plans:
        cheaper = [other for other in catalog.plans if _monthly(other) < _monthly(plan)]
        yield plan, list(reversed(cheaper))


def _lowered(name: str) -> str:
    """In a sentence "Projects" becomes "projects", but "MCP workspaces" stays as it is."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _size(limit: int | Unlimited) -> Decimal:
    return _ABOVE_ALL if limit is UNLIMITED else Decimal(int(limit))


def _limit_inversions(catalog: Catalog) -> Iterator[_Finding]:
    for plan, cheaper in _cheaper_pairs(catalog):
        for item_id, limit in plan.limits.items():
            item = catalog.items[item_id]
            richer = [p for p in cheaper if _size(p.limits.get(item_id, 0)) > _size(limit)]
            if not richer:
                continue
            # The cheaper plan that gives the most: one warning per limit, not one per pair.
            best = max(richer, key=lambda other: _size(other.limits[item_id]))
            yield (
                "limit_inversion",
                ("plans", plan.id, "limits", item_id),
                f"{_priced(catalog, plan)} allows {format_limit(limit, item.unit)} "
                f"{_lowered(item.name)}, less than the cheaper {_priced(catalog, best)} with "
                f"{format_limit(best.limits[item_id], item.unit)}",
            )


def _feature_rank(catalog: Catalog, feature_id: str, value: bool | str) -> int:
    levels = catalog.features[feature_id].levels
    if levels is None or isinstance(value, bool):
        return int(bool(value))
    return levels.index(value)


def _feature_inversions(catalog: Catalog) -> Iterator[_Finding]:
    for plan, cheaper in _cheaper_pairs(catalog):
        for feature_id, value in plan.features.items():
            rank = _feature_rank(catalog, feature_id, value)
            for other in cheaper:
                theirs = other.features.get(feature_id)
                if theirs is None or _feature_rank(catalog, feature_id, theirs) <= rank:
                    continue
                shown = "off" if value is False else str(value)
                other_shown = "on" if theirs is True else str(theirs)
                yield (
                    "feature_inversion",
                    ("plans", plan.id, "features", feature_id),
                    f"{_priced(catalog, plan)} has {catalog.features[feature_id].name} "
                    f"{shown}, but the cheaper {_priced(catalog, other)} has it {other_shown}",
                )
                break


def _yearly_prices(catalog: Catalog) -> Iterator[_Finding]:
    offers_yearly = "yearly" in catalog.policies.intervals
    for plan in catalog.plans:
        if not isinstance(plan.price, PlanPrice):
            continue
        path = ("plans", plan.id, "price", "yearly")
        if plan.price.yearly is not None and not offers_yearly:
            yield (
                "yearly_not_offered",
                path,
                "a yearly price, but policies.intervals does not offer yearly billing",
            )
        yearly = catalog.yearly_price(plan)
        twelve = plan.price.monthly * 12
        if offers_yearly and yearly is not None and plan.price.monthly > 0 and yearly >= twelve:
            where = (
                path if plan.price.yearly is not None else ("policies", "yearly_discount_percent")
            )
            yield (
                "yearly_not_cheaper",
                where,
                f"{plan.name}'s yearly price {format_money(yearly, catalog.currency)} is not "
                f"cheaper than 12 monthly payments ({format_money(twelve, catalog.currency)})",
            )


def _unlimited_items(catalog: Catalog) -> Iterator[_Finding]:
    for plan in catalog.plans:
        base = ("plans", plan.id)
        for item_id, grace in plan.item_grace_percent.items():
            if grace > 0 and plan.limits.get(item_id) is UNLIMITED:
                yield (
                    "grace_on_unlimited",
                    (*base, "item_grace_percent", item_id),
                    f"a {grace}% grace on {item_id}, whose limit is unlimited: it never applies",
                )
        for item_id, overage in plan.overage.items():
            if plan.limits.get(item_id) is UNLIMITED:
                yield (
                    "overage_on_unlimited",
                    (*base, "overage", item_id),
                    f"an overage price on {item_id}, whose limit is unlimited: it is never charged",
                )
            if overage.enabled and not plan.payments:
                yield (
                    "overage_without_payments",
                    (*base, "overage", item_id, "enabled"),
                    f"overage on {item_id} is on by default, but {plan.name} has no payments "
                    "and cannot turn overage on (D3)",
                )


def _packs(catalog: Catalog) -> Iterator[_Finding]:
    for pack_id, pack in catalog.packs.items():
        item = catalog.items.get(pack.item)
        if item is not None and not item.packable:
            yield (
                "pack_not_packable",
                ("packs", pack_id, "item"),
                f"{pack.item} is not raised by packs (packable: false), so this pack adds nothing",
            )
