"""A catalog's worked examples (D18), checked with the rating engine (C9).

:func:`evaluate_examples` rates every example of a catalog with :func:`rules.rating.rate_usage`
and compares the result with what the example expects. An example's ``total`` is the
subscription fee of one billing period at the example's interval plus every usage and overage
line of its usage. Packs named by an example are already owned: they raise limits, and their
one-time price is not part of the period's total (D11).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.money import format_money, round_money
from meterstack.rules.rating import RatedLine, RatingError, period_fee, plan_named, rate_usage

ZERO = Decimal(0)


@dataclass(frozen=True)
class ExampleFigures:
    #: The period's total; None when it cannot be computed (see the result's message).
    total: Decimal | None = None
    items: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ExampleResult:
    index: int
    name: str
    plan: str
    expected: ExampleFigures
    computed: ExampleFigures
    ok: bool
    message: str
    lines: tuple[RatedLine, ...] = ()


def evaluate_examples(catalog: Catalog) -> list[ExampleResult]:
    """Rate each example of ``catalog`` with the real rating code and say where it disagrees."""
    return [_evaluate(catalog, index) for index in range(len(catalog.examples))]


def _evaluate(catalog: Catalog, index: int) -> ExampleResult:
    example = catalog.examples[index]
    expected = ExampleFigures(total=example.expect.total, items=dict(example.expect.items))

    def result(
        computed: ExampleFigures, ok: bool, message: str, lines: Sequence[RatedLine] = ()
    ) -> ExampleResult:
        return ExampleResult(
            index, example.name, example.plan, expected, computed, ok, message, tuple(lines)
        )

    try:
        plan = plan_named(catalog, example.plan)
        lines = rate_usage(
            catalog,
            plan,
            example.usage,
            packs=example.packs,
            overage=example.overage,
            transactions=example.transactions,
        )
    except RatingError as exc:
        return result(ExampleFigures(), False, f"cannot be rated: {exc}")
    money = catalog.currency
    by_item: dict[str, Decimal] = {}
    for line in lines:
        by_item[line.item] = by_item.get(line.item, ZERO) + line.amount
    usage_total = sum((line.amount for line in lines), ZERO)
    reasons = [f"{line.item}: {line.note}" for line in lines if line.unpriced_units]
    fee = period_fee(catalog, plan, example.interval)
    total: Decimal | None = None
    if fee is not None and not reasons:
        total = round_money(fee, money) + usage_total
    computed = ExampleFigures(total=total, items=by_item)

    problems: list[str] = []
    if expected.total is not None:
        wanted = format_money(expected.total, money)
        if fee is None:
            problems.append(f"expected total {wanted}, but {plan.id} has no {example.interval} fee")
        elif total is None:
            problems.append(
                f"expected total {wanted}, but the usage cannot be fully priced"
                f" (the fee alone is {format_money(fee, money)})"
            )
        elif total != round_money(expected.total, money):
            problems.append(
                f"expected total {wanted}, computed {format_money(total, money)}"
                f" (fee {format_money(fee, money)} + usage {format_money(usage_total, money)})"
            )
    for item, amount in expected.items.items():
        got = by_item.get(item, round_money(ZERO, money))
        if got != round_money(amount, money):
            want = format_money(amount, money)
            problems.append(f"expected {item} {want}, computed {format_money(got, money)}")
    if not problems and reasons:
        problems.append("the usage cannot be fully priced")
    if problems:
        return result(computed, False, "; ".join([*problems, *reasons]), lines)
    shown = [f"{item} {format_money(amount, money)}" for item, amount in expected.items.items()]
    if expected.total is not None and total is not None:
        shown.insert(0, f"total {format_money(total, money)}")
    message = "matches: " + ", ".join(shown) if shown else "nothing expected to compare"
    return result(computed, True, message, lines)
