"""``diff_catalogs``: every price and limit that changed, stricter or looser for customers."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from meterstack.catalog import (
    UNLIMITED,
    Catalog,
    CatalogChange,
    Direction,
    diff_catalogs,
    load_catalog,
    parse_catalog,
)

STRICTER, LOOSER, CHANGED = Direction.STRICTER, Direction.LOOSER, Direction.CHANGED


@pytest.fixture(scope="module")
def agentstack_text() -> str:
    return load_catalog("agentstack").text


def edited(text: str, *replacements: tuple[str, str]) -> Catalog:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_catalog(text).catalog


def changes(text: str, *replacements: tuple[str, str]) -> list[tuple[str, object, object, str]]:
    before = parse_catalog(text).catalog
    after = edited(text, *replacements)
    return [(c.path, c.old, c.new, c.direction) for c in diff_catalogs(before, after)]


def test_a1_a2_one_price_raised_and_one_limit_lowered_are_both_stricter(
    agentstack_text: str,
) -> None:
    assert changes(
        agentstack_text,
        ('price: {monthly: "199.00"}', 'price: {monthly: "249.00"}'),
        ("api_calls: 2000000", "api_calls: 1500000"),
    ) == [
        ("plans.pro.price.monthly", Decimal("199.00"), Decimal("249.00"), STRICTER),
        ("plans.pro.limits.api_calls", 2_000_000, 1_500_000, STRICTER),
    ]


def test_a1_a2_a_lower_price_and_a_higher_limit_are_looser(agentstack_text: str) -> None:
    assert changes(
        agentstack_text,
        ('price: {monthly: "29.00"}', 'price: {monthly: "25.00"}'),
        ("      triggers: 100\n", "      triggers: 150\n"),
    ) == [
        ("plans.starter.price.monthly", Decimal("29.00"), Decimal("25.00"), LOOSER),
        ("plans.starter.limits.triggers", 100, 150, LOOSER),
    ]


@pytest.mark.parametrize("name", ["agentstack", "aerostack", "flowstack"])
def test_a_catalog_against_itself_has_no_change(name: str) -> None:
    catalog = load_catalog(name).catalog
    assert diff_catalogs(catalog, catalog) == []


def test_a2_unlimited_is_above_every_number(agentstack_text: str) -> None:
    assert changes(
        agentstack_text,
        ("      members: unlimited\n", "      members: 100000\n"),
        ("      api_keys: 200\n", "      api_keys: unlimited\n"),
    ) == [
        ("plans.pro.limits.members", UNLIMITED, 100_000, STRICTER),
        ("plans.premium.limits.api_keys", 200, UNLIMITED, LOOSER),
    ]


def test_d8_storage_limit_keeps_its_unit() -> None:
    text = load_catalog("aerostack").text
    after = edited(text, ("storage: 7 GB", "storage: 5 GB"))
    (change,) = diff_catalogs(parse_catalog(text).catalog, after)
    assert change == CatalogChange(
        "plans.starter.limits.storage", 7 * 10**9, 5 * 10**9, STRICTER, "byte"
    )


def test_b1_a_lower_yearly_price_is_looser() -> None:
    text = load_catalog("aerostack").text.replace('yearly: "171.00"', 'yearly: "190.00"')
    assert changes(text, ('yearly: "190.00"', 'yearly: "171.00"')) == [
        ("plans.starter.price.yearly", Decimal("190.00"), Decimal("171.00"), LOOSER),
    ]


def test_b1_a_smaller_yearly_discount_raises_every_derived_yearly_price() -> None:
    # Without explicit yearly prices, the yearly price is 12 x monthly x (1 - discount).
    text = re.sub(r', yearly: "[0-9.]+"', "", load_catalog("aerostack").text)
    result = changes(text, ("yearly_discount_percent: 25", "yearly_discount_percent: 20"))
    assert result == [
        ("plans.starter.price.yearly", Decimal("171"), Decimal("182.4"), STRICTER),
        ("plans.pro.price.yearly", Decimal("441"), Decimal("470.4"), STRICTER),
        ("plans.business.price.yearly", Decimal("1341"), Decimal("1430.4"), STRICTER),
    ]


def test_b7_a_smaller_grace_is_stricter() -> None:
    text = load_catalog("aerostack").text
    assert changes(text, ("grace_percent: 15", "grace_percent: 10")) == [
        ("plans.starter.grace_percent", Decimal(15), Decimal(10), STRICTER),
    ]


def test_a3_a_dearer_overage_is_stricter(agentstack_text: str) -> None:
    result = changes(
        agentstack_text,
        ('price: "1.00", per: 1000, minimum', 'price: "1.50", per: 1000, minimum'),
    )
    # The overage offer is an anchor shared by FREE to PREMIUM: all five plans change.
    assert [(path, direction) for path, _, _, direction in result] == [
        (f"plans.{plan}.overage.logic_engine_calls", STRICTER)
        for plan in ("free", "starter", "basic", "pro", "premium")
    ]


def test_a3_a_higher_minimum_at_the_same_unit_price_is_stricter(agentstack_text: str) -> None:
    result = changes(
        agentstack_text, ('per: 1000, minimum: "0.01"}', 'per: 1000, minimum: "0.05"}')
    )
    assert {direction for *_, direction in result} == {STRICTER}


def test_a5_overage_withdrawn_is_stricter_and_offered_is_looser(agentstack_text: str) -> None:
    head, pro = agentstack_text.split("\n  pro:\n")
    pro = pro.replace("      api_calls: *api_calls_overage\n", "", 1)
    with_offer = parse_catalog(agentstack_text).catalog
    without = parse_catalog(f"{head}\n  pro:\n{pro}").catalog

    (withdrawn,) = diff_catalogs(with_offer, without)
    (offered,) = diff_catalogs(without, with_offer)

    assert (withdrawn.path, withdrawn.new, withdrawn.direction) == (
        "plans.pro.overage.api_calls",
        None,
        STRICTER,
    )
    assert (offered.path, offered.old, offered.direction) == (
        "plans.pro.overage.api_calls",
        None,
        LOOSER,
    )


def test_a8_a_feature_lost_is_stricter(agentstack_text: str) -> None:
    assert changes(agentstack_text, ("      audit_logs: true\n", "      audit_logs: false\n")) == [
        ("plans.pro.features.audit_logs", True, False, STRICTER),
    ]


def test_a8_a_higher_feature_level_is_looser(agentstack_text: str) -> None:
    # STARTER's webhooks: basic -> advanced.
    assert changes(
        agentstack_text,
        ("      webhooks: basic\n", "      webhooks: advanced\n"),
    ) == [("plans.starter.features.webhooks", "basic", "advanced", LOOSER)]


def test_a4_a6_pack_price_quantity_and_removal(agentstack_text: str) -> None:
    result = changes(
        agentstack_text,
        ('quantity: 5 GB\n    price: "0.50"', 'quantity: 4 GB\n    price: "0.60"'),
        (
            "  storage_25gb:\n    name: Storage pack 25 GB\n    item: project_storage\n"
            '    quantity: 25 GB\n    price: "2.00"\n',
            "",
        ),
    )
    assert result == [
        ("packs.storage_5gb.price", Decimal("0.50"), Decimal("0.60"), STRICTER),
        ("packs.storage_5gb.quantity", 5 * 10**9, 4 * 10**9, STRICTER),
        ("packs.storage_25gb", Decimal("2.00"), None, STRICTER),
    ]


def test_a1_a_price_becoming_custom_is_neither(agentstack_text: str) -> None:
    assert changes(agentstack_text, ('price: {monthly: "999.00"}', "price: custom")) == [
        ("plans.premium.price.monthly", Decimal("999.00"), "custom", CHANGED),
    ]


def test_b2_a_dearer_wallet_operation_is_stricter() -> None:
    text = load_catalog("aerostack").text
    assert changes(text, ('price: "0.002"', 'price: "0.003"')) == [
        ("wallet.operations.bot_message.price", Decimal("0.002"), Decimal("0.003"), STRICTER),
    ]


def test_plans_added_and_removed() -> None:
    text = load_catalog("flowstack").text
    result = changes(
        text,
        ("  hobbyist:\n    name: Hobbyist", "  maker:\n    name: Hobbyist"),
    )
    assert result == [
        ("plans.maker", None, "Hobbyist", LOOSER),
        ("plans.hobbyist", "Hobbyist", None, STRICTER),
    ]


def test_d15_json_form_of_a_change() -> None:
    money = CatalogChange("plans.pro.price.monthly", Decimal("199.00"), Decimal("249.00"), STRICTER)
    limit = CatalogChange("plans.pro.limits.members", UNLIMITED, 100_000, STRICTER)
    assert money.to_dict() == {
        "path": "plans.pro.price.monthly",
        "old": "199.00",
        "new": "249.00",
        "direction": "stricter",
    }
    assert limit.to_dict()["old"] == "unlimited"
