"""Catalogs as text: values formatted for people, and the tables of ``meterstack plans``.

The comparison table has one column per plan in tier order and one row per price, limit,
grace, overage price, feature and support term, so that it reads like a pricing page. A size
keeps the spelling of the catalog file when it has one (``0.02 GB`` stays ``0.02 GB``);
otherwise it is written in the largest decimal unit that keeps it at least 1 (D8).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import yaml
from pydantic import BaseModel
from rich import box
from rich.table import Table
from rich.text import Text

from meterstack.catalog.diff import CatalogChange, Value
from meterstack.catalog.loader import LoadedCatalog
from meterstack.catalog.schema import (
    UNLIMITED,
    Catalog,
    ChargeModel,
    Graduated,
    Item,
    Meter,
    Package,
    PerBlock,
    Plan,
    PlanPrice,
    Standard,
    Unlimited,
    Volume,
    parse_size,
)
from meterstack.money import round_money

_SIZES = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
_SIZE_SPELLING = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B)\s*$")
_Cell = str | None


# --------------------------------------------------------------------------- values


def format_size(size: int) -> str:
    """Bytes in the largest decimal unit that keeps the number at least 1: ``2.5 GB``."""
    for unit, factor in _SIZES:
        if size >= factor:
            number = Decimal(size) / factor
            return f"{number.normalize():f} {unit}"
    return f"{size} B"


def format_limit(value: int | Unlimited | None, unit: str = "unit") -> str:
    """A limit as a person reads it: ``50,000``, ``2.5 GB`` or ``unlimited``."""
    if value is None or value is UNLIMITED:
        return "unlimited"
    if unit == "byte":
        return format_size(int(value))
    return f"{int(value):,}"


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """An amount with its currency, rounded by the one rounding rule: ``$19.00``."""
    rounded = round_money(amount, currency)
    if currency == "USD":
        return f"-${-rounded:,}" if rounded < 0 else f"${rounded:,}"
    return f"{rounded:,} {currency}"


def format_unit_price(amount: Decimal, currency: str = "USD") -> str:
    """A unit price keeps its own decimals (a bot message at $0.002, D17)."""
    cents = round_money(amount, currency)
    if cents == amount:
        return format_money(amount, currency)
    return f"${amount.normalize():f}" if currency == "USD" else f"{amount.normalize():f} {currency}"


def format_percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def format_charge(model: ChargeModel, unit: str, currency: str, *, minimum: bool = True) -> str:
    """``$1.00 / 1,000, min $0.01``, ``$0.10 / GB``; other charge models by name."""
    if isinstance(model, PerBlock):
        block = format_limit(model.per, unit).removeprefix("1 ") if model.per > 1 else unit
        text = f"{format_unit_price(model.price, currency)} / {block}"
        if minimum and model.minimum > 0:
            text += f", min {format_money(model.minimum, currency)}"
        return text
    if isinstance(model, Standard):
        return f"{format_unit_price(model.unit_price, currency)} / {unit}"
    if isinstance(model, Graduated | Volume):
        return f"{model.model} ({len(model.tiers)} tiers)"
    if isinstance(model, Package):
        size = format_limit(model.package_size, unit)
        return f"{format_unit_price(model.package_price, currency)} per {size}"
    return f"{format_percent(model.percent)} + {format_unit_price(model.fixed_fee, currency)}"


# --------------------------------------------------------------------------- tables


def new_table(title: str | None = None, caption: str | None = None) -> Table:
    return Table(
        title=title, caption=caption, box=box.SQUARE, title_justify="left", caption_justify="left"
    )


def catalogs_table(catalogs: Iterable[tuple[str, LoadedCatalog]]) -> Table:
    """``meterstack plans list``: one row per built-in catalog."""
    table = new_table("Built-in catalogs")
    for column in ("name", "platform", "version", "plans", "period"):
        table.add_column(column)
    for name, loaded in catalogs:
        catalog = loaded.catalog
        table.add_row(
            Text(name),
            Text(catalog.name),
            Text(str(catalog.version)),
            Text(", ".join(catalog.plan_ids)),
            Text(catalog.policies.period.replace("_", " ")),
        )
    return table


def plans_table(loaded: LoadedCatalog) -> Table:
    """The comparison table of ``meterstack plans show``."""
    catalog = loaded.catalog
    spelled = _scalars(loaded.text)
    title = f"{catalog.name} ({catalog.catalog}, version {catalog.version}, {catalog.currency})"
    table = new_table(title, caption=" ".join(_notes(catalog)))
    table.add_column("")
    for plan in catalog.plans:
        table.add_column(plan.name, justify="right")
    for label, cells in _plan_rows(catalog, spelled):
        if any(cell is not None for cell in cells):
            table.add_row(Text(label), *(Text("-" if cell is None else cell) for cell in cells))
    return table


def comparison_rows(catalog: Catalog, text: str | None = None) -> list[tuple[str, list[_Cell]]]:
    """The comparison's rows (a label, one cell per plan in tier order), empty rows left out.

    ``text`` is the catalog file, whose spelling of sizes the cells keep when given.
    """
    spelled = _scalars(text) if text else {}
    return [
        (label, cells)
        for label, cells in _plan_rows(catalog, spelled)
        if any(cell is not None for cell in cells)
    ]


def packs_table(catalog: Catalog) -> Table | None:
    if not catalog.packs:
        return None
    table = new_table("Packs (one-time purchases adding capacity every period)")
    for column in ("pack", "adds", "to", "price", "size"):
        table.add_column(column, justify="right" if column in ("adds", "price") else "left")
    for pack_id, pack in catalog.packs.items():
        item = catalog.items[pack.item]
        table.add_row(
            Text(pack_id),
            Text(format_limit(pack.quantity, item.unit)),
            Text(item.name),
            Text(format_money(pack.price, catalog.currency)),
            Text(pack.size or "-"),
        )
    return table


def wallet_table(catalog: Catalog) -> Table | None:
    wallet = catalog.wallet
    if wallet is None or not wallet.operations:
        return None
    fee = format_percent(wallet.platform_fee_percent)
    minimum = format_money(wallet.minimum_deposit, catalog.currency)
    caption = f"Platform fee on creator sales {fee}; minimum deposit {minimum}."
    table = new_table("Wallet operations (paid from the prepaid balance)", caption)
    for column in ("operation", "price", "free with your own key (BYOK)"):
        table.add_column(column, justify="right" if column == "price" else "left")
    for operation_id, operation in wallet.operations.items():
        price = operation.price
        shown = (
            "set per item" if price == "per_item" else format_unit_price(price, catalog.currency)
        )
        table.add_row(Text(operation_id), Text(shown), Text("yes" if operation.byok_free else "no"))
    return table


# --------------------------------------------------------------------------- rows


def _notes(catalog: Catalog) -> list[str]:
    """The caption: when limits reset, and the overage minimum when every offer shares it."""
    if catalog.policies.period == "calendar_month":
        notes = ["Limits per month reset on the 1st of each calendar month."]
    else:
        notes = ["Limits per month reset on each subscription anniversary (billing cycle)."]
    minimums = _overage_minimums(catalog)
    if len(minimums) == 1 and next(iter(minimums)) > 0:
        minimum = format_money(next(iter(minimums)), catalog.currency)
        notes.append(f"Any overage costs at least {minimum} per item and period.")
    return notes


def _overage_minimums(catalog: Catalog) -> set[Decimal]:
    return {
        offer.charge.minimum if isinstance(offer.charge, PerBlock) else Decimal(0)
        for plan in catalog.plans
        for offer in plan.overage.values()
    }


_Spelling = dict[tuple[str | int, ...], str]


def _plan_rows(catalog: Catalog, spelled: _Spelling) -> Iterator[tuple[str, list[_Cell]]]:
    plans = catalog.plans
    money = catalog.currency
    yield "Price / month", [_monthly_price(plan, money) for plan in plans]
    if "yearly" in catalog.policies.intervals:
        yield "Price / year", [_yearly_price(catalog, plan) for plan in plans]
    for item_id, item in _items_in_table_order(catalog):
        label = f"{item.name} / month" if isinstance(item, Meter) else item.name
        yield label, [_limit_cell(plan, item_id, item, spelled) for plan in plans]
    yield "Grace above limits", [_grace(plan.grace_percent) for plan in plans]
    for item_id in _keys(plan.item_grace_percent for plan in plans):
        cells = [_grace(plan.item_grace_percent.get(item_id)) for plan in plans]
        yield f"Grace on {catalog.items[item_id].name}", cells
    each_minimum = len(_overage_minimums(catalog)) > 1
    for item_id in _keys(plan.overage for plan in plans):
        item = catalog.items[item_id]
        offers = [plan.overage.get(item_id) for plan in plans]
        cells = [
            None if o is None else format_charge(o.charge, item.unit, money, minimum=each_minimum)
            for o in offers
        ]
        yield f"{item.name} overage", cells
    for item_id in _keys(plan.usage_prices for plan in plans):
        item = catalog.items[item_id]
        prices = [plan.usage_prices.get(item_id) for plan in plans]
        cells = [None if m is None else format_charge(m, item.unit, money) for m in prices]
        yield f"{item.name} price", cells
    for feature_id, feature in catalog.features.items():
        yield feature.name, [_feature(plan.features.get(feature_id)) for plan in plans]
    if not all(plan.payments for plan in plans):
        yield "Buys packs and overage", ["yes" if plan.payments else "no" for plan in plans]
    yield "Analytics retention", [_days(plan.analytics_retention_days) for plan in plans]
    yield "Analytics exports", [_count(plan.analytics_exports) for plan in plans]
    yield "Support", [plan.support for plan in plans]
    yield "Uptime SLA", [_sla(plan.uptime_sla_percent) for plan in plans]


def _items_in_table_order(catalog: Catalog) -> list[tuple[str, Item]]:
    """Counted resources first, then meters, gauges and concurrency, as pricing pages do."""
    sections: Sequence[dict[str, Any]] = (
        catalog.resources,
        catalog.meters,
        catalog.gauges,
        catalog.concurrency,
    )
    return [(item_id, item) for section in sections for item_id, item in section.items()]


def _keys(mappings: Iterable[dict[str, Any]]) -> list[str]:
    """The keys of several mappings, in order of first appearance."""
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _monthly_price(plan: Plan, currency: str) -> str:
    if not isinstance(plan.price, PlanPrice):
        return "Custom"
    return format_money(plan.price.monthly, currency)


def _yearly_price(catalog: Catalog, plan: Plan) -> str:
    yearly = catalog.yearly_price(plan)
    if yearly is None:
        return "Custom"
    return format_money(yearly, catalog.currency)


def _limit_cell(plan: Plan, item_id: str, item: Item, spelled: _Spelling) -> str:
    value = plan.limits.get(item_id, UNLIMITED)
    if value is UNLIMITED:
        return "Unlimited"
    if item.unit == "byte":
        written = spelled.get(("plans", plan.id, "limits", item_id), "")
        match = _SIZE_SPELLING.match(written)
        if match and parse_size(written) == value:
            return f"{match.group(1)} {match.group(2)}"
    return format_limit(value, item.unit)


def _grace(percent: Decimal | None) -> _Cell:
    return None if not percent else format_percent(percent)


def _feature(value: bool | str | None) -> _Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _days(value: int | Unlimited | None) -> _Cell:
    if value is None:
        return None
    return "Unlimited" if value is UNLIMITED else f"{int(value):,} days"


def _count(value: int | Unlimited | None) -> _Cell:
    if value is None:
        return None
    return "Unlimited" if value is UNLIMITED else f"{int(value):,}"


def _sla(percent: Decimal | None) -> _Cell:
    return None if percent is None else f"{percent}%"


def _scalars(text: str) -> _Spelling:
    """Every scalar of the catalog file as written, by path (mapping keys only)."""
    spelled: _Spelling = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.ScalarNode):
            spelled[path] = str(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, str(key.value)))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return spelled


# --------------------------------------------------------------------------- diff


def diff_table(changes: Sequence[CatalogChange], old: Catalog, new: Catalog) -> Table:
    """``meterstack plans diff``: one row per change, with its direction for customers."""
    title = f"{old.name} version {old.version} -> {new.name} version {new.version}"
    table = new_table(title)
    table.add_column("what changed")
    table.add_column("old", justify="right")
    table.add_column("new", justify="right")
    table.add_column("for customers")
    for change in changes:
        table.add_row(
            Text(change.path),
            Text(format_change_value(change, change.old, old.currency)),
            Text(
                "removed"
                if change.new is None
                else format_change_value(change, change.new, new.currency)
            ),
            Text(str(change.direction)),
        )
    return table


def format_change_value(change: CatalogChange, value: Value, currency: str) -> str:
    if value is None:
        return "-"
    if value is UNLIMITED:
        return "unlimited"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, BaseModel):
        return format_charge(value, change.unit, currency)
    if isinstance(value, Decimal):
        if change.path.endswith("percent") or ".item_grace_percent." in change.path:
            return format_percent(value)
        return format_unit_price(value, currency)
    if isinstance(value, int):
        return format_limit(value, change.unit)
    return str(value)
