"""Rating a period's usage and checking the catalogs' worked examples (A3, B7, C9, D1-D5, D18)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from meterstack.catalog import Catalog, load_catalog
from meterstack.catalog.schema import (
    Example,
    ExampleExpectation,
    Graduated,
    Overage,
    PerBlock,
    Percentage,
    PriceTier,
    Standard,
)
from meterstack.rules.examples import ExampleResult, evaluate_examples
from meterstack.rules.rating import RatingError, period_fee, rate_usage

D = Decimal


@pytest.fixture(scope="module")
def agentstack() -> Catalog:
    return load_catalog("agentstack").catalog


@pytest.fixture(scope="module")
def flowstack() -> Catalog:
    return load_catalog("flowstack").catalog


@pytest.fixture(scope="module")
def aerostack() -> Catalog:
    return load_catalog("aerostack").catalog


def with_examples(catalog: Catalog, *examples: dict[str, Any]) -> Catalog:
    return catalog.model_copy(
        update={"examples": tuple(Example.model_validate(body) for body in examples)}
    )


def only(catalog: Catalog) -> ExampleResult:
    [result] = evaluate_examples(catalog)
    return result


def by_name(results: list[ExampleResult], start: str) -> ExampleResult:
    [result] = [r for r in results if r.name.startswith(start)]
    return result


# --------------------------------------------------------------------------- shipped examples


def test_a3_agentstack_seed_examples_match(agentstack: Catalog) -> None:
    results = evaluate_examples(agentstack)
    logic = by_name(results, "Logic engine overage, 50K included")
    api = by_name(results, "API calls overage, 500K included")
    assert logic.ok, logic.message
    assert str(logic.computed.items["logic_engine_calls"]) == "10.00"
    assert api.ok, api.message
    assert str(api.computed.items["api_calls"]) == "50.00"


def test_d18_every_agentstack_example_matches(agentstack: Catalog) -> None:
    results = evaluate_examples(agentstack)
    assert len(results) == len(agentstack.examples) == 6
    assert [r.message for r in results if not r.ok] == []


def test_d1_agentstack_examples_carry_the_three_figures(agentstack: Catalog) -> None:
    results = evaluate_examples(agentstack)
    assert str(by_name(results, "One logic engine").computed.items["logic_engine_calls"]) == "0.01"
    assert str(by_name(results, "1,500 logic").computed.items["logic_engine_calls"]) == "1.50"
    assert str(by_name(results, "35 API calls").computed.items["api_calls"]) == "0.02"


def test_c9_flowstack_99_dollar_example_is_reported(flowstack: Catalog) -> None:
    results = evaluate_examples(flowstack)
    failing = [r for r in results if not r.ok]
    assert [r.name for r in failing] == ["High-volume application, 10,000 sessions a month"]
    [wrong] = failing
    assert wrong.plan == "professional"
    assert wrong.expected.total == D("99.00")
    assert wrong.computed.total is None
    assert "expected total 99.00" in wrong.message
    assert "the fee alone is 200.00" in wrong.message
    assert "5,000 beyond the limit have no price" in wrong.message
    assert "professional has no overage or usage price for sessions" in wrong.message


def test_c9_flowstack_examples_that_follow_the_tier_list_match(flowstack: Catalog) -> None:
    results = evaluate_examples(flowstack)
    chatbot = by_name(results, "Simple chatbot, 1,000 sessions")
    free = by_name(results, "Simple chatbot on the free tier")
    assert (chatbot.ok, str(chatbot.computed.total)) == (True, "50.00")
    assert (free.ok, str(free.computed.total)) == (True, "0.00")
    assert chatbot.message == "matches: total 50.00"


# --------------------------------------------------------------------------- what a total means


def test_d18_total_is_the_period_fee_plus_usage(agentstack: Catalog) -> None:
    example = {
        "name": "STARTER with 10K logic engine calls over",
        "plan": "starter",
        "usage": {"logic_engine_calls": 60_000, "api_calls": 200_035},
        "expect": {"total": "39.02"},
    }
    result = only(with_examples(agentstack, example))
    assert result.ok, result.message
    assert result.computed.total == D("39.02")  # 29.00 + 10.00 + 0.02

    wrong = only(with_examples(agentstack, {**example, "expect": {"total": "10.02"}}))
    assert not wrong.ok
    assert wrong.message == "expected total 10.02, computed 39.02 (fee 29.00 + usage 10.02)"


def test_d18_packs_in_an_example_raise_limits_but_are_not_in_the_total(
    agentstack: Catalog,
) -> None:
    result = only(
        with_examples(
            agentstack,
            {
                "name": "pack owned",
                "plan": "starter",
                "packs": ["logic_engine_small"],
                "usage": {"logic_engine_calls": 60_000},
                "expect": {"total": "29.00", "items": {"logic_engine_calls": "0.00"}},
            },
        )
    )
    assert result.ok, result.message


def test_d18_yearly_example_uses_the_yearly_fee(aerostack: Catalog) -> None:
    result = only(
        with_examples(
            aerostack,
            {
                "name": "Starter yearly",
                "plan": "starter",
                "interval": "yearly",
                "usage": {"api_requests": 10_000},
                "expect": {"total": "171.00"},
            },
        )
    )
    assert result.ok, result.message
    assert period_fee(aerostack, aerostack.plan("starter"), "yearly") == D("171.00")


def test_d14_custom_plan_has_no_fee_to_total(agentstack: Catalog) -> None:
    result = only(
        with_examples(agentstack, {"name": "x", "plan": "enterprise", "expect": {"total": "0"}})
    )
    assert not result.ok
    assert result.message == "expected total 0.00, but enterprise has no monthly fee"


def test_a5_example_with_overage_off_mismatches_with_the_reason(agentstack: Catalog) -> None:
    result = only(
        with_examples(
            agentstack,
            {
                "name": "switch off",
                "plan": "starter",
                "overage": False,
                "usage": {"logic_engine_calls": 60_000},
                "expect": {"items": {"logic_engine_calls": "10.00"}},
            },
        )
    )
    assert not result.ok
    assert "expected logic_engine_calls 10.00, computed 0.00" in result.message
    assert "10,000 beyond the limit have no price" in result.message
    assert "overage on logic_engine_calls is off" in result.message


def test_d18_example_that_cannot_be_rated_is_a_mismatch(agentstack: Catalog) -> None:
    bad = agentstack.model_copy(
        update={
            "examples": (
                Example(
                    name="unknown pack",
                    plan="starter",
                    packs=("huge",),
                    expect=ExampleExpectation(total=D(29)),
                ),
            )
        }
    )
    result = only(bad)
    assert not result.ok
    assert result.message == "cannot be rated: unknown pack 'huge'"


# --------------------------------------------------------------------------- rate_usage


def test_d1_rated_line_shows_its_derivation(agentstack: Catalog) -> None:
    [line] = rate_usage(agentstack, "starter", {"logic_engine_calls": 51_500})
    assert (line.item, line.kind, line.model) == ("logic_engine_calls", "overage", "per_block")
    assert (line.used, line.included, line.hard_limit) == (51_500, 50_000, 50_000)
    assert (line.overage_units, line.billed_units, line.unpriced_units) == (1500, 1500, 0)
    assert (line.block_size, line.block_price, line.unit_price) == (1000, D("1.00"), D("0.001"))
    assert (line.raw_amount, str(line.amount), line.minimum_applied) == (D("1.5"), "1.50", False)
    assert line.note == ("51,500 used, 50,000 included: 1,500 over, x 1.00 per 1,000 = 1.5 -> 1.50")


def test_d1_minimum_charge_is_flagged_on_the_line(agentstack: Catalog) -> None:
    [line] = rate_usage(agentstack, "starter", {"logic_engine_calls": 50_001})
    assert (line.raw_amount, str(line.amount), line.minimum_applied) == (D("0.001"), "0.01", True)
    assert line.note.endswith("-> 0.01 (the minimum charge)")


def test_a6_packs_raise_the_included_units(agentstack: Catalog) -> None:
    [line] = rate_usage(
        agentstack,
        "starter",
        {"logic_engine_calls": 65_000},
        packs=["logic_engine_small", "logic_engine_small"],
    )
    assert (line.included, line.overage_units, str(line.amount)) == (70_000, 0, "0.00")


def test_a5_overage_switch_per_item_falls_back_to_the_catalog_default(
    agentstack: Catalog,
) -> None:
    usage = {"logic_engine_calls": 60_000, "api_calls": 300_000}
    lines = rate_usage(agentstack, "starter", usage, overage={"api_calls": True})
    logic, api = lines
    # The catalog's switches are off by default (D3): logic engine calls stay unpriced.
    assert (logic.unpriced_units, str(logic.amount)) == (10_000, "0.00")
    assert (api.unpriced_units, str(api.amount)) == (0, "50.00")


def test_d3_plan_without_payments_has_no_overage(agentstack: Catalog) -> None:
    starter = agentstack.plan("starter").model_copy(update={"payments": False})
    [line] = rate_usage(agentstack, starter, {"api_calls": 200_001})
    assert line.unpriced_units == 1
    assert "no payments" in line.note


def test_b7_grace_units_are_free_and_overage_starts_past_the_hard_limit(
    aerostack: Catalog,
) -> None:
    free = aerostack.plan("free")
    offer = Overage(enabled=True, charge=PerBlock(price=D("1.00"), per=1000, minimum=D("0.01")))
    priced = free.model_copy(update={"overage": {"api_requests": offer}})
    [within] = rate_usage(aerostack, priced, {"api_requests": 55_000})
    assert (within.hard_limit, within.overage_units, str(within.amount)) == (55_000, 0, "0.00")
    [past] = rate_usage(aerostack, priced, {"api_requests": 56_500})
    assert (past.overage_units, str(past.amount)) == (1_500, "1.50")
    assert "hard limit 55,000 after grace" in past.note


def test_d5_without_overage_units_past_the_hard_limit_are_unpriced(aerostack: Catalog) -> None:
    [line] = rate_usage(aerostack, "free", {"api_requests": 55_001})
    assert line.unpriced_units == 1
    assert "1 beyond the hard limit have no price" in line.note


def test_d5_no_grace_on_counted_resources(aerostack: Catalog) -> None:
    [line] = rate_usage(aerostack, "free", {"projects": 11})
    assert (line.included, line.hard_limit, line.unpriced_units) == (10, 10, 1)


def test_d2_recorded_overage_is_priced_as_recorded(agentstack: Catalog) -> None:
    [line] = rate_usage(
        agentstack,
        "starter",
        {"logic_engine_calls": 60_000},
        packs=["logic_engine_small"],
        recorded_overage={"logic_engine_calls": 10_000},
    )
    assert (line.overage_units, str(line.amount)) == (10_000, "10.00")


def test_usage_price_prices_the_whole_period_and_its_base_fee(agentstack: Catalog) -> None:
    graduated = Graduated(
        model="graduated",
        tiers=(
            PriceTier(up_to=1000, flat_fee=D("5.00")),
            PriceTier(unit_price=D("0.01")),
        ),
    )
    plan = agentstack.plan("starter").model_copy(update={"usage_prices": {"api_calls": graduated}})
    idle, no_overage = rate_usage(agentstack, plan, {})
    assert (idle.kind, idle.used, str(idle.amount)) == ("usage", 0, "5.00")
    assert (no_overage.kind, str(no_overage.amount)) == ("overage", "0.00")
    lines = rate_usage(agentstack, plan, {"api_calls": 200_100})
    usage, overage = lines
    assert (usage.kind, usage.billed_units, str(usage.amount)) == ("usage", 200_000, "1995.00")
    assert (overage.kind, overage.billed_units, str(overage.amount)) == ("overage", 100, "0.05")


def test_percentage_usage_price_needs_transaction_amounts(agentstack: Catalog) -> None:
    card = Percentage(model="percentage", percent=D("2.9"), fixed_fee=D("0.30"))
    plan = agentstack.plan("starter").model_copy(update={"usage_prices": {"api_calls": card}})
    with pytest.raises(RatingError, match="needs the transactions' amounts"):
        rate_usage(agentstack, plan, {"api_calls": 2})
    line, _ = rate_usage(agentstack, plan, {}, transactions={"api_calls": [D(10), D(20)]})
    assert (line.kind, line.used, str(line.amount)) == ("usage", 2, "1.47")


def test_unknown_plan_and_item_are_rating_errors(agentstack: Catalog) -> None:
    with pytest.raises(RatingError, match="unknown plan 'gold'"):
        rate_usage(agentstack, "gold", {})
    with pytest.raises(RatingError, match="unknown item 'tokens'"):
        rate_usage(agentstack, "starter", {"tokens": 1})


def test_c5_usage_price_without_overage_leaves_units_past_the_limit_unpriced(
    flowstack: Catalog,
) -> None:
    per_session = Standard(model="standard", unit_price=D("0.04"))
    plan = flowstack.plan("professional").model_copy(
        update={"usage_prices": {"sessions": per_session}}
    )
    usage, overage = rate_usage(flowstack, plan, {"sessions": 6_000})
    assert (usage.kind, usage.billed_units, str(usage.amount)) == ("usage", 5_000, "200.00")
    assert (overage.kind, overage.unpriced_units, str(overage.amount)) == ("overage", 1_000, "0.00")
