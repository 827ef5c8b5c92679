"""The rating engine: one period's usage of a plan, priced line by line (D1, D2, D3, D10).

:func:`rate_usage` turns a period's usage into lines, one per item and kind, each carrying its
derivation (used, included, hard limit, overage units, block size and price, exact and rounded
amount, whether the minimum applied). Period close rates every invoice with it, and a catalog's
worked examples are checked with it (``rules.examples``). Limits, grace, packs, overrides and
overage switches come from the same functions admission uses (``rules.terms``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from meterstack.catalog.schema import Catalog, ChargeModel, Percentage, Plan, PlanPrice
from meterstack.money import format_money, round_money
from meterstack.rules.charges import block_terms, charge, describe
from meterstack.rules.terms import (
    ALL_ITEMS,
    LimitOverride,
    account_switches,
    overage_switch,
    terms_of,
)

ZERO = Decimal(0)
LineKind = Literal["usage", "overage"]


class RatingError(ValueError):
    """Usage that cannot be rated: an unknown plan, item or pack, or missing transactions."""


@dataclass(frozen=True)
class RatedLine:
    """One priced line of a period, with how its amount came about."""

    item: str
    #: ``usage``: a usage price of the plan; ``overage``: units past the (hard) limit.
    kind: LineKind
    #: The charge model's name, or None when no price applies.
    model: str | None
    used: int
    #: The effective limit (plan limit + packs); None is unlimited.
    included: int | None
    #: The limit plus the grace zone (B7, D5); overage begins past it.
    hard_limit: int | None
    #: Units the line's charge model priced.
    billed_units: int
    #: Units past the hard limit (D1).
    overage_units: int
    #: Units past the hard limit that no enabled price covers (they would have been refused).
    unpriced_units: int
    block_size: int | None
    block_price: Decimal | None
    #: Exact price of one unit (block price / block size) when the model has one.
    unit_price: Decimal | None
    raw_amount: Decimal
    amount: Decimal
    minimum_applied: bool
    #: The derivation in words, e.g. "60,000 used, 50,000 included: 10,000 over x 1.00 per 1,000".
    note: str


# --------------------------------------------------------------------------- rating


def period_fee(catalog: Catalog, plan: Plan, interval: str = "monthly") -> Decimal | None:
    """The plan's subscription fee for one period; None for a custom (contract) price."""
    if not isinstance(plan.price, PlanPrice):
        return None
    if interval == "yearly":
        return catalog.yearly_price(plan)
    return plan.price.monthly


def rate_usage(
    catalog: Catalog,
    plan: str | Plan,
    usage: Mapping[str, int],
    *,
    packs: Sequence[str] = (),
    overage: bool | Mapping[str, bool] = True,
    recorded_overage: Mapping[str, int] | None = None,
    transactions: Mapping[str, Sequence[Decimal]] | None = None,
    overrides: Mapping[str, LimitOverride] | None = None,
) -> list[RatedLine]:
    """Rate one period's ``usage`` (item -> units used; a gauge's peak) on ``plan``.

    ``packs`` are pack ids owned (one per purchase). ``overage`` is the switch for every item,
    or per item (``ALL_ITEMS`` for the rest) with the catalog's default for the others (A5,
    D3); a plan without payments has none. ``recorded_overage`` gives the overage units
    recorded when consumed (D2): they are priced as recorded instead of being derived from the
    limit. ``transactions`` gives the amounts of each transaction of an item priced by a
    percentage model. ``overrides`` are an operator's limits and grace of this account (D14).

    Units within a grace zone are not charged; overage begins past the hard limit (D5). Items
    are rated in the catalog's order; an item gets a ``usage`` line when the plan prices its
    usage and an ``overage`` line when the plan offers overage on it or nothing else covers it.
    """
    resolved = plan_named(catalog, plan)
    amounts = dict(transactions or {})
    recorded = dict(recorded_overage or {})
    for item in (*usage, *amounts, *recorded):
        if item not in catalog.items:
            raise RatingError(f"unknown item {item!r}")
    for pack_id in packs:
        if pack_id not in catalog.packs:
            raise RatingError(f"unknown pack {pack_id!r}")
    switches = account_switches({ALL_ITEMS: overage} if isinstance(overage, bool) else overage)
    rated = [
        item
        for item in catalog.items
        if item in usage or item in amounts or item in recorded or item in resolved.usage_prices
    ]
    lines: list[RatedLine] = []
    for item in rated:
        used = usage.get(item, len(amounts.get(item, ())))
        if item in amounts and len(amounts[item]) != used:
            raise RatingError(f"{item}: {used} used but {len(amounts[item])} transaction amounts")
        terms = terms_of(catalog, resolved, item, packs=packs, override=(overrides or {}).get(item))
        lines.extend(
            _rate_item(
                catalog,
                resolved,
                item,
                used,
                terms.limit,
                terms.hard_limit,
                overage_switch(resolved, item, switches),
                recorded.get(item),
                amounts.get(item),
            )
        )
    return lines


def plan_named(catalog: Catalog, plan: str | Plan) -> Plan:
    """``plan`` itself, or the catalog's plan of that id."""
    if isinstance(plan, Plan):
        return plan
    if plan not in catalog.plans_by_id:
        raise RatingError(f"unknown plan {plan!r}")
    return catalog.plan(plan)


def _rate_item(
    catalog: Catalog,
    plan: Plan,
    item: str,
    used: int,
    included: int | None,
    hard: int | None,
    overage_on: bool,
    recorded: int | None,
    amounts: Sequence[Decimal] | None,
) -> list[RatedLine]:
    offer = plan.overage.get(item)
    if recorded is not None:
        over = recorded
        priced_over = offer is not None
    else:
        over = 0 if hard is None else max(0, used - hard)
        priced_over = overage_on
    base = _Base(item, used, included, hard, over, catalog.currency)
    lines: list[RatedLine] = []
    usage_price = plan.usage_prices.get(item)
    if usage_price is not None:
        units = max(0, used - over)
        txs = None if amounts is None else amounts[:units]
        lines.append(base.priced("usage", usage_price, units, txs))
    if offer is not None or usage_price is None or over > 0:
        if priced_over and offer is not None:
            txs = None if amounts is None else amounts[len(amounts) - over :]
            lines.append(base.priced("overage", offer.charge, over, txs))
        else:
            lines.append(base.unpriced(over, _why_unpriced(plan, item, offer is not None)))
    return lines


def _why_unpriced(plan: Plan, item: str, offered: bool) -> str:
    if not offered:
        return f"{plan.id} has no overage or usage price for {item}"
    if not plan.payments:
        return f"{plan.id} has no payments, so its overage cannot be on"
    return f"overage on {item} is off, so these units would have been refused"


@dataclass(frozen=True)
class _Base:
    """What every line of one item shares."""

    item: str
    used: int
    included: int | None
    hard: int | None
    over: int
    currency: str

    def header(self) -> str:
        text = f"{self.used:,} used"
        text += ", unlimited" if self.included is None else f", {self.included:,} included"
        if self.hard is not None and self.hard != self.included:
            text += f", hard limit {self.hard:,} after grace"
        return text

    def priced(
        self,
        kind: LineKind,
        model: ChargeModel,
        units: int,
        amounts: Sequence[Decimal] | None,
    ) -> RatedLine:
        if isinstance(model, Percentage) and amounts is None:
            raise RatingError(f"{self.item}: a percentage price needs the transactions' amounts")
        result = charge(model, units, transactions=amounts, currency=self.currency)
        block = block_terms(model)
        what = f"{units:,} over" if kind == "overage" else f"{units:,} priced"
        derivation = describe(model, units, result)
        note = f"{self.header()}: {what}, {derivation}"
        note += f" -> {format_money(result.amount, self.currency)}"
        if result.minimum_applied:
            note += " (the minimum charge)"
        return RatedLine(
            item=self.item,
            kind=kind,
            model=model.model,
            used=self.used,
            included=self.included,
            hard_limit=self.hard,
            billed_units=units,
            overage_units=self.over,
            unpriced_units=0,
            block_size=None if block is None else block.size,
            block_price=None if block is None else block.price,
            unit_price=None if block is None else block.unit_price,
            raw_amount=result.raw,
            amount=result.amount,
            minimum_applied=result.minimum_applied,
            note=note,
        )

    def unpriced(self, unpriced: int, why: str) -> RatedLine:
        note = f"{self.header()}: nothing to charge"
        if unpriced:
            bound = "limit" if self.hard == self.included else "hard limit"
            note = f"{self.header()}: {unpriced:,} beyond the {bound} have no price ({why})"
        return RatedLine(
            item=self.item,
            kind="overage",
            model=None,
            used=self.used,
            included=self.included,
            hard_limit=self.hard,
            billed_units=0,
            overage_units=self.over,
            unpriced_units=unpriced,
            block_size=None,
            block_price=None,
            unit_price=None,
            raw_amount=ZERO,
            amount=round_money(ZERO, self.currency),
            minimum_applied=False,
            note=note,
        )
