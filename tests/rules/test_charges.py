"""Charge models priced exactly, rounded once per line (A3, D1, D17) and their properties."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterstack.catalog import load_catalog
from meterstack.catalog.schema import (
    ChargeModel,
    Graduated,
    Package,
    PerBlock,
    Percentage,
    PriceTier,
    Standard,
    Volume,
)
from meterstack.rules.charges import (
    block_terms,
    charge,
    describe,
    graduated_charge,
    graduated_parts,
    package_charge,
    per_block_charge,
    percentage_charge,
    percentage_fees,
    standard_charge,
    volume_charge,
    volume_tier,
)

D = Decimal
LOGIC_ENGINE = PerBlock(price=D("1.00"), per=1000, minimum=D("0.01"))
API_CALLS = PerBlock(price=D("0.50"), per=1000, minimum=D("0.01"))


def tiers(*rows: tuple[int | None, str, str]) -> tuple[PriceTier, ...]:
    return tuple(
        PriceTier(up_to=up_to, unit_price=D(price), flat_fee=D(fee)) for up_to, price, fee in rows
    )


GRADUATED = Graduated(
    model="graduated",
    tiers=tiers((1000, "0", "10.00"), (5000, "0.01", "0"), (None, "0.005", "5.00")),
)
VOLUME = Volume(
    model="volume",
    tiers=tiers((100, "1.00", "0"), (1000, "0.90", "5.00"), (None, "0.80", "0")),
)
CARD = Percentage(model="percentage", percent=D("2.9"), fixed_fee=D("0.30"))


# --------------------------------------------------------------------------- D1, A3


def test_d1_one_call_over_costs_the_minimum_cent() -> None:
    result = per_block_charge(LOGIC_ENGINE, 1)
    assert result.raw == D("0.001")
    assert result.amount == D("0.01")
    assert result.minimum_applied


def test_d1_1500_calls_over_cost_1_50_not_two_blocks() -> None:
    result = per_block_charge(LOGIC_ENGINE, 1500)
    assert result.raw == D("1.5")
    assert str(result.amount) == "1.50"
    assert not result.minimum_applied


def test_d1_35_api_calls_over_round_half_up_to_0_02() -> None:
    result = per_block_charge(API_CALLS, 35)
    assert result.raw == D("0.0175")
    assert str(result.amount) == "0.02"
    assert not result.minimum_applied


def test_d1_rounding_is_half_up_to_the_cent() -> None:
    no_minimum = PerBlock(price=D("1.00"), per=1000)
    assert str(per_block_charge(no_minimum, 5).amount) == "0.01"  # 0.005 rounds up
    assert str(per_block_charge(no_minimum, 4).amount) == "0.00"  # 0.004 rounds down


def test_a3_seed_examples_10_00_and_50_00() -> None:
    assert str(per_block_charge(LOGIC_ENGINE, 60_000 - 50_000).amount) == "10.00"
    assert str(per_block_charge(API_CALLS, 600_000 - 500_000).amount) == "50.00"


def test_a3_no_overage_no_minimum() -> None:
    result = per_block_charge(LOGIC_ENGINE, 0)
    assert str(result.amount) == "0.00"
    assert not result.minimum_applied


def test_a3_the_shipped_catalog_prices_overage_as_the_seed_says() -> None:
    starter = load_catalog("agentstack").catalog.plan("starter")
    logic = starter.overage["logic_engine_calls"].charge
    api = starter.overage["api_calls"].charge
    assert str(charge(logic, 10_000).amount) == "10.00"
    assert str(charge(api, 100_000).amount) == "50.00"
    assert str(charge(logic, 1).amount) == "0.01"


# --------------------------------------------------------------------------- other models


def test_d17_standard_unit_price_keeps_its_decimals_until_the_line() -> None:
    message = Standard(model="standard", unit_price=D("0.002"))
    assert standard_charge(message, 3).raw == D("0.006")
    assert str(standard_charge(message, 3).amount) == "0.01"
    assert str(standard_charge(message, 2).amount) == "0.00"  # 0.004


def test_d17_lines_round_to_the_currency_minor_unit() -> None:
    half_yen = Standard(model="standard", unit_price=D("0.5"))
    assert str(standard_charge(half_yen, 3, currency="JPY").amount) == "2"


def test_graduated_tiers_bill_their_own_units_with_inclusive_bounds() -> None:
    def amount(units: int) -> str:
        return str(graduated_charge(GRADUATED, units).amount)

    assert amount(0) == "10.00"  # the first tier's flat fee is due even at zero
    assert amount(1000) == "10.00"  # 1,000 is still in the first tier
    assert amount(1001) == "10.01"
    assert amount(5000) == "50.00"
    assert amount(5001) == "55.01"  # 50.005 + the last tier's fee, rounded once on the line
    assert [part.units for part in graduated_parts(GRADUATED, 5001)] == [1000, 4000, 1]


def test_volume_tier_reached_prices_every_unit() -> None:
    def amount(units: int) -> str:
        return str(volume_charge(VOLUME, units).amount)

    assert amount(0) == "0.00"
    assert amount(100) == "100.00"
    assert amount(101) == "95.90"  # 101 x 0.90 + 5.00: a volume discount may lower the total
    assert amount(1000) == "905.00"
    assert amount(1001) == "800.80"
    assert [volume_tier(VOLUME, n) for n in (0, 100, 101, 1000, 1001)] == [0, 0, 1, 1, 2]


def test_package_bills_whole_packages_after_the_free_units() -> None:
    model = Package(model="package", package_size=100, package_price=D("2.00"), free_units=50)
    assert [str(package_charge(model, n).amount) for n in (0, 50, 51, 150, 151)] == [
        "0.00",
        "0.00",
        "2.00",
        "2.00",
        "4.00",
    ]


def test_percentage_plus_fixed_fee_per_transaction() -> None:
    assert str(percentage_charge(CARD, [D("10.00")]).amount) == "0.59"
    assert str(percentage_charge(CARD, []).amount) == "0.00"


def test_percentage_free_transactions_come_first() -> None:
    model = CARD.model_copy(update={"free_transactions": 2})
    assert percentage_fees(model, [D(10), D(10), D(10)]) == (D(0), D(0), D("0.590"))


def test_percentage_free_amount_charges_the_part_beyond_it() -> None:
    model = CARD.model_copy(update={"free_amount": D(100)})
    fees = percentage_fees(model, [D(60), D(60), D(10)])
    assert fees == (D(0), D("0.880"), D("0.590"))  # 2.9 % of 20 + 0.30, then in full


def test_percentage_charging_starts_when_either_allowance_is_used_up() -> None:
    by_amount = CARD.model_copy(update={"free_transactions": 3, "free_amount": D(50)})
    assert percentage_fees(by_amount, [D(10), D(50), D(10)]) == (
        D(0),
        D("0.590"),
        D("0.590"),
    )
    by_count = CARD.model_copy(update={"free_transactions": 1, "free_amount": D(1000)})
    assert percentage_fees(by_count, [D(10), D(10)]) == (D(0), D("0.590"))


def test_percentage_minimum_and_maximum_per_transaction() -> None:
    model = CARD.model_copy(
        update={"minimum_per_transaction": D("0.50"), "maximum_per_transaction": D("2.00")}
    )
    assert percentage_fees(model, [D(1), D(1000)]) == (D("0.50"), D("2.00"))


def test_dispatcher_needs_transactions_for_a_percentage() -> None:
    with pytest.raises(ValueError, match="transactions' amounts"):
        charge(CARD, 1)
    with pytest.raises(ValueError, match="2 units but 1 transaction amounts"):
        charge(CARD, 2, transactions=[D(1)])
    assert str(charge(CARD, 1, transactions=[D(10)]).amount) == "0.59"


def test_negative_units_and_float_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        charge(LOGIC_ENGINE, -1)
    with pytest.raises(TypeError, match="must be a Decimal"):
        percentage_charge(CARD, [0.5])  # type: ignore[list-item]


def test_d1_block_terms_and_description_show_the_derivation() -> None:
    terms = block_terms(LOGIC_ENGINE)
    assert terms is not None
    assert (terms.size, terms.price, terms.unit_price) == (1000, D("1.00"), D("0.001"))
    assert describe(LOGIC_ENGINE, 1500, per_block_charge(LOGIC_ENGINE, 1500)) == (
        "x 1.00 per 1,000 = 1.5"
    )
    assert block_terms(GRADUATED) is None


# --------------------------------------------------------------------------- properties

prices = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False)
unit_counts = st.integers(min_value=0, max_value=10_000_000)
amounts = st.decimals(
    min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False
)


@st.composite
def tier_rows(draw: st.DrawFn) -> tuple[PriceTier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 100_000), max_size=4)))
    ups: list[int | None] = [*bounds, None]
    return tuple(PriceTier(up_to=up, unit_price=draw(prices), flat_fee=draw(prices)) for up in ups)


per_blocks = st.builds(
    PerBlock,
    price=prices,
    per=st.integers(1, 1_000_000),
    minimum=st.sampled_from([D(0), D("0.01"), D("1.00")]),
)
standards = st.builds(Standard, model=st.just("standard"), unit_price=prices)
graduateds = st.builds(Graduated, model=st.just("graduated"), tiers=tier_rows())
volumes = st.builds(Volume, model=st.just("volume"), tiers=tier_rows())
packages = st.builds(
    Package,
    model=st.just("package"),
    package_size=st.integers(1, 10_000),
    package_price=prices,
    free_units=st.integers(0, 10_000),
)
percentages = st.builds(
    Percentage,
    model=st.just("percentage"),
    percent=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False),
    fixed_fee=prices,
    free_transactions=st.integers(0, 5),
    free_amount=st.sampled_from([D(0), D(50), D(1000)]),
)
unit_models: st.SearchStrategy[ChargeModel] = st.one_of(
    per_blocks, standards, graduateds, volumes, packages
)
monotonic_models: st.SearchStrategy[ChargeModel] = st.one_of(
    per_blocks, standards, graduateds, packages
)


@given(unit_models, unit_counts)
def test_d1_charges_are_never_negative(model: ChargeModel, units: int) -> None:
    result = charge(model, units)
    assert result.raw >= 0
    assert result.amount >= 0


@given(percentages, st.lists(amounts, max_size=12))
def test_percentage_is_never_negative_and_grows_with_each_transaction(
    model: Percentage, transactions: list[Decimal]
) -> None:
    fees = percentage_fees(model, transactions)
    assert all(fee >= 0 for fee in fees)
    for n in range(len(transactions)):
        assert (
            percentage_charge(model, transactions[:n]).raw
            <= percentage_charge(model, transactions[: n + 1]).raw
        )


@given(monotonic_models, unit_counts, st.integers(0, 1_000_000))
def test_d1_charges_are_monotonic_in_units(model: ChargeModel, units: int, more: int) -> None:
    fewer, larger = charge(model, units), charge(model, units + more)
    assert fewer.raw <= larger.raw
    assert fewer.amount <= larger.amount


@given(graduateds, unit_counts)
def test_graduated_is_the_sum_of_its_tiers(model: Graduated, units: int) -> None:
    expected = D(0)
    lower = 0
    for index, tier in enumerate(model.tiers):
        upper = units if tier.up_to is None else min(units, tier.up_to)
        own = max(0, upper - lower)
        if index == 0 or units > lower:
            expected += own * tier.unit_price + tier.flat_fee
        lower = tier.up_to or lower
    assert graduated_charge(model, units).raw == expected
    assert sum((part.raw for part in graduated_parts(model, units)), D(0)) == expected


@given(volumes, st.integers(0, 200_000))
def test_volume_changes_rate_only_at_tier_bounds(model: Volume, units: int) -> None:
    bounds = {tier.up_to for tier in model.tiers}
    step = volume_charge(model, units + 1).raw - volume_charge(model, units).raw
    if units not in bounds:
        # Within a tier each unit adds exactly that tier's price: no jump, no flat fee again.
        assert step == model.tiers[volume_tier(model, units)].unit_price
        assert volume_tier(model, units + 1) == volume_tier(model, units)


@given(per_blocks, unit_counts)
def test_d1_per_block_is_units_times_price_before_rounding(model: PerBlock, units: int) -> None:
    result = per_block_charge(model, units)
    assert result.raw == units * model.price / model.per
    rounded = result.raw.quantize(D("0.01"), rounding=ROUND_HALF_UP)
    if units == 0:
        assert result.amount == 0
    else:
        assert result.amount == max(rounded, model.minimum)
        assert result.minimum_applied == (rounded < model.minimum)
