"""The shipped AgentStack catalog reproduces seed 000 cell by cell (A1-A4, A6, A8, A9, D3, D16).

Every expected value below is transcribed from the seed's text, not read from the catalog.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import pytest
import yaml

from meterstack.catalog import UNLIMITED, Catalog, Unlimited, load_catalog
from meterstack.catalog.schema import PerBlock, PlanPrice

MB = 10**6
GB = 10**9  # D8: 1 GB = 10^9 bytes
U = UNLIMITED
T = TypeVar("T")
TIERS = ("anonymous", "free", "starter", "basic", "pro", "premium", "enterprise")

# The seed's limits table, one row per item, columns in tier order (A2).
A2_LIMITS: dict[str, tuple[int | Unlimited, ...]] = {
    "projects": (1, 1, 3, 5, 25, U, U),
    "active_projects": (1, 1, 3, 3, 15, U, U),
    "members": (10, 1_000, 5_000, 25_000, U, U, U),
    "api_keys": (1, 2, 10, 10, 50, 200, U),
    "user_api_keys": (1, 1, 3, 5, 10, U, U),
    "logic_engine_calls": (1_000, 10_000, 50_000, 50_000, 200_000, 1_000_000, U),
    "api_calls": (10_000, 50_000, 200_000, 500_000, 2_000_000, 10_000_000, U),
    "triggers": (20, 50, 100, 100, 250, 1_000, U),
    "logic_pages": (3, 3, 5, 5, 10, 50, U),
    # 20 MB, 100 MB, 500 MB, 500 MB, 2 GB, 10 GB
    "json_storage": (20 * MB, 100 * MB, 500 * MB, 500 * MB, 2 * GB, 10 * GB, U),
    # 0.02 GB, 0.1 GB, 0.5 GB, 1 GB, 5 GB, 20 GB
    "project_storage": (20 * MB, 100 * MB, 500 * MB, 1 * GB, 5 * GB, 20 * GB, U),
    # The exports row is also the limit of the analytics_exports meter, which exports count on.
    "analytics_exports": (1, 1, 5, 5, 20, 100, U),
}
A2_PAYMENTS = (False, True, True, True, True, True, True)
A2_ANALYTICS_RETENTION_DAYS: tuple[int | Unlimited, ...] = (7, 7, 30, 30, 90, 365, U)
A2_ANALYTICS_EXPORTS: tuple[int | Unlimited, ...] = (1, 1, 5, 5, 20, 100, U)
# D16: the table wins; PREMIUM and ENTERPRISE are blank in it and take the prose.
A2_SUPPORT = (
    "Community",
    "Community",
    "Priority",
    "Priority",
    "Dedicated",
    "Priority",
    "Dedicated",
)
A2_UPTIME_SLA = ("99.0", "99.0", "99.5", "99.5", "99.9", "99.95", "99.99")

A1_NAMES = ("ANONYMOUS", "FREE", "STARTER", "BASIC", "PRO", "PREMIUM", "ENTERPRISE")
A1_MONTHLY_PRICES = ("0", "0", "29", "69", "199", "999")

# Feature matrix (A8), columns in tier order.
A8_FEATURES: dict[str, tuple[str | bool, ...]] = {
    "user_management": ("basic", "basic", "enabled", "enabled", "advanced", "advanced", "advanced"),
    "api_access": ("basic", "basic", "advanced", "advanced", "advanced", "advanced", "advanced"),
    "analytics": ("basic", "basic", "advanced", "advanced", "custom", "custom", "custom"),
    "webhooks": ("none", "none", "basic", "basic", "advanced", "advanced", "advanced"),
    "security": ("basic", "basic", "basic", "basic", "advanced", "advanced", "advanced"),
    "audit_logs": (False, False, False, False, True, True, True),
    "custom_domain": (False, False, False, False, True, True, True),
    "admin_functions": (False, False, False, False, True, True, True),
    "white_label": (False, False, False, False, False, True, True),
    "system_admin": (False, False, False, False, False, True, True),
    "payments": (False, True, True, True, True, True, True),
    "service_caps": (False, False, True, True, True, True, True),
}
A8_LEVELS = {
    "user_management": ("basic", "enabled", "advanced"),
    "api_access": ("basic", "advanced"),
    "analytics": ("basic", "advanced", "custom"),
    "webhooks": ("none", "basic", "advanced"),
    "security": ("basic", "advanced"),
}

# A3: overage on every plan with payments and a finite limit; ANONYMOUS has no payments (D3).
OVERAGE_TIERS = ("free", "starter", "basic", "pro", "premium")

# A4: storage packs, (bytes, price).
A4_STORAGE_PACKS = {
    "storage_5gb": (5 * GB, "0.50"),
    "storage_10gb": (10 * GB, "0.90"),
    "storage_25gb": (25 * GB, "2.00"),
}
# A6: expansion packs, (item, calls per month, price, package_size).
A6_EXPANSION_PACKS = {
    "logic_engine_small": ("logic_engine_calls", 10_000, "5.00", "small"),
    "logic_engine_medium": ("logic_engine_calls", 50_000, "20.00", "medium"),
    "logic_engine_large": ("logic_engine_calls", 100_000, "35.00", "large"),
    "api_calls_small": ("api_calls", 100_000, "5.00", "small"),
    "api_calls_medium": ("api_calls", 500_000, "20.00", "medium"),
    "api_calls_large": ("api_calls", 1_000_000, "35.00", "large"),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog("agentstack").catalog


@pytest.fixture(scope="module")
def text() -> str:
    return load_catalog("agentstack").text


def yaml_line(text: str, *path: str) -> str:
    """The source line on which the value at ``path`` is written."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key in path:
        assert isinstance(node, yaml.MappingNode)
        node = next(value for name, value in node.value if name.value == key)
    assert node is not None
    return text.splitlines()[node.start_mark.line]


def key_line(text: str, *path: str) -> str:
    """The source line on which the key at the end of ``path`` is written.

    Unlike :func:`yaml_line` this follows the keys, not the value, so a key whose value is an
    alias (``*project_storage_overage``) gives its own line rather than the anchor's.
    """
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    line = 0
    for key in path:
        assert isinstance(node, yaml.MappingNode)
        name, node = next((name, value) for name, value in node.value if name.value == key)
        line = name.start_mark.line
    return text.splitlines()[line]


def columns(row: tuple[T, ...]) -> list[tuple[str, T]]:
    return list(zip(TIERS, row, strict=True))


# --------------------------------------------------------------------------- A1


def test_a1_tiers_in_order(catalog: Catalog) -> None:
    assert catalog.plan_ids == TIERS
    assert tuple(plan.name for plan in catalog.plans) == A1_NAMES


@pytest.mark.parametrize(("tier", "monthly"), list(zip(TIERS[:-1], A1_MONTHLY_PRICES, strict=True)))
def test_a1_monthly_price(catalog: Catalog, tier: str, monthly: str) -> None:
    price = catalog.plan(tier).price
    assert isinstance(price, PlanPrice)
    assert price.monthly == Decimal(monthly)


def test_a1_enterprise_price_is_custom(catalog: Catalog) -> None:
    enterprise = catalog.plan("enterprise")
    assert enterprise.is_custom
    assert not enterprise.self_serve


def test_a1_monthly_billing_only(catalog: Catalog) -> None:
    assert catalog.policies.intervals == ("monthly",)
    assert catalog.currency == "USD"
    assert catalog.version == 1


# --------------------------------------------------------------------------- A2


@pytest.mark.parametrize(
    ("item", "tier", "expected"),
    [(item, tier, value) for item, row in A2_LIMITS.items() for tier, value in columns(row)],
)
def test_a2_limit_per_tier(
    catalog: Catalog, item: str, tier: str, expected: int | Unlimited
) -> None:
    limit = catalog.plan(tier).limits[item]
    if expected is UNLIMITED:
        assert limit is UNLIMITED
    else:
        assert type(limit) is int
        assert limit == expected


def test_a2_every_plan_limits_exactly_the_table_rows(catalog: Catalog) -> None:
    for plan in catalog.plans:
        assert set(plan.limits) == set(A2_LIMITS)


@pytest.mark.parametrize(("tier", "enabled"), columns(A2_PAYMENTS))
def test_a2_payments_per_tier(catalog: Catalog, tier: str, enabled: bool) -> None:
    plan = catalog.plan(tier)
    assert plan.payments is enabled
    assert plan.features["payments"] is enabled


@pytest.mark.parametrize(("tier", "days"), columns(A2_ANALYTICS_RETENTION_DAYS))
def test_a2_analytics_retention_days_per_tier(
    catalog: Catalog, tier: str, days: int | Unlimited
) -> None:
    assert catalog.plan(tier).analytics_retention_days == days


@pytest.mark.parametrize(("tier", "exports"), columns(A2_ANALYTICS_EXPORTS))
def test_a2_analytics_exports_per_tier(
    catalog: Catalog, tier: str, exports: int | Unlimited
) -> None:
    assert catalog.plan(tier).analytics_exports == exports


@pytest.mark.parametrize(("tier", "support"), columns(A2_SUPPORT))
def test_a2_d16_support_level_per_tier(catalog: Catalog, tier: str, support: str) -> None:
    assert catalog.plan(tier).support == support


@pytest.mark.parametrize(("tier", "sla"), columns(A2_UPTIME_SLA))
def test_a2_d16_uptime_sla_per_tier(catalog: Catalog, tier: str, sla: str) -> None:
    assert catalog.plan(tier).uptime_sla_percent == Decimal(sla)


def test_a2_item_kinds(catalog: Catalog) -> None:
    assert set(catalog.meters) == {"logic_engine_calls", "api_calls", "analytics_exports"}
    assert set(catalog.gauges) == {"project_storage", "json_storage"}
    assert set(catalog.resources) == {
        "projects",
        "active_projects",
        "members",
        "api_keys",
        "user_api_keys",
        "triggers",
        "logic_pages",
    }
    assert catalog.concurrency == {}
    assert catalog.resources["active_projects"].subset_of == "projects"


# --------------------------------------------------------------------------- A3, D1, D3


@pytest.mark.parametrize(
    ("meter", "price"), [("logic_engine_calls", "1.00"), ("api_calls", "0.50")]
)
@pytest.mark.parametrize("tier", OVERAGE_TIERS)
def test_a3_overage_price_per_meter(catalog: Catalog, tier: str, meter: str, price: str) -> None:
    plan = catalog.plan(tier)
    assert plan.limits[meter] is not UNLIMITED
    overage = plan.overage[meter]
    assert isinstance(overage.charge, PerBlock)
    assert overage.charge.price == Decimal(price)
    assert overage.charge.per == 1_000
    assert overage.charge.minimum == Decimal("0.01")


@pytest.mark.parametrize("tier", OVERAGE_TIERS)
def test_d3_overage_switches_default_off(catalog: Catalog, tier: str) -> None:
    overage = catalog.plan(tier).overage
    assert set(overage) == {"logic_engine_calls", "api_calls", "project_storage"}
    assert all(not entry.enabled for entry in overage.values())


def test_d3_anonymous_cannot_turn_overage_on(catalog: Catalog) -> None:
    anonymous = catalog.plan("anonymous")
    assert anonymous.payments is False
    assert anonymous.overage == {}


def test_a3_unlimited_plan_has_no_overage(catalog: Catalog) -> None:
    assert catalog.plan("enterprise").overage == {}


@pytest.mark.parametrize("tier", OVERAGE_TIERS)
def test_d3_storage_overage_ten_cents_per_gb(catalog: Catalog, tier: str) -> None:
    charge = catalog.plan(tier).overage["project_storage"].charge
    assert isinstance(charge, PerBlock)
    assert charge.price == Decimal("0.10")
    assert charge.per == GB
    assert charge.minimum == Decimal("0.01")


def test_a4_json_storage_has_no_overage(catalog: Catalog) -> None:
    assert all("json_storage" not in plan.overage for plan in catalog.plans)


def test_d3_storage_overage_price_marked_assumption(text: str) -> None:
    charge = ("plans", "free", "overage", "project_storage", "charge")
    assert yaml_line(text, *charge, "price").endswith("# assumption")
    assert yaml_line(text, *charge, "minimum").endswith("# assumption")


@pytest.mark.parametrize("tier", OVERAGE_TIERS[1:])
def test_d3_storage_overage_marked_on_every_plan(text: str, tier: str) -> None:
    # FREE writes the assumed price out (above); the other plans reuse it through an alias.
    assert "# assumption" in key_line(text, "plans", tier, "overage", "project_storage")


@pytest.mark.parametrize(
    ("plan", "usage", "item", "expected"),
    [
        # Seed: "50K calls included and use 60K, you pay $10.00" (STARTER has 50K).
        ("starter", {"logic_engine_calls": 60_000}, "logic_engine_calls", "10.00"),
        # Seed: "500K calls included and use 600K, you pay $50.00" (BASIC has 500K).
        ("basic", {"api_calls": 600_000}, "api_calls", "50.00"),
        # D1: 1 call over -> $0.01; 1,500 over -> $1.50; 35 API calls over -> $0.02.
        ("starter", {"logic_engine_calls": 50_001}, "logic_engine_calls", "0.01"),
        ("starter", {"logic_engine_calls": 51_500}, "logic_engine_calls", "1.50"),
        ("starter", {"api_calls": 200_035}, "api_calls", "0.02"),
    ],
)
def test_a3_d1_worked_examples_carried(
    catalog: Catalog, plan: str, usage: dict[str, int], item: str, expected: str
) -> None:
    matches = [
        example
        for example in catalog.examples
        if example.plan == plan and dict(example.usage) == usage and not example.packs
    ]
    assert len(matches) == 1
    assert matches[0].overage is True
    assert matches[0].expect.items == {item: Decimal(expected)}


# --------------------------------------------------------------------------- A4, A6


@pytest.mark.parametrize(("pack_id", "expected"), list(A4_STORAGE_PACKS.items()))
def test_a4_storage_pack(catalog: Catalog, pack_id: str, expected: tuple[int, str]) -> None:
    quantity, price = expected
    pack = catalog.packs[pack_id]
    assert pack.item == "project_storage"
    assert pack.quantity == quantity
    assert pack.price == Decimal(price)


def test_a4_packs_never_raise_json_storage(catalog: Catalog) -> None:
    assert catalog.gauges["json_storage"].packable is False
    assert catalog.gauges["json_storage"].scope == "end_user"
    assert catalog.gauges["project_storage"].packable is True
    assert all(pack.item != "json_storage" for pack in catalog.packs.values())


@pytest.mark.parametrize(("pack_id", "expected"), list(A6_EXPANSION_PACKS.items()))
def test_a6_expansion_pack(
    catalog: Catalog, pack_id: str, expected: tuple[str, int, str, str]
) -> None:
    item, quantity, price, size = expected
    pack = catalog.packs[pack_id]
    assert (pack.item, pack.quantity, pack.price, pack.size) == (
        item,
        quantity,
        Decimal(price),
        size,
    )


def test_a4_a6_no_other_packs(catalog: Catalog) -> None:
    assert set(catalog.packs) == set(A4_STORAGE_PACKS) | set(A6_EXPANSION_PACKS)


def test_a6_pack_example_covers_usage(catalog: Catalog) -> None:
    (example,) = (example for example in catalog.examples if example.packs)
    assert example.packs == ("logic_engine_small",)
    assert example.plan == "starter"
    # 50,000 included + 10,000 from the pack = 60,000: nothing over.
    assert example.usage == {"logic_engine_calls": 60_000}
    assert example.expect.items == {"logic_engine_calls": Decimal("0.00")}


# --------------------------------------------------------------------------- A8


@pytest.mark.parametrize(("feature", "levels"), list(A8_LEVELS.items()))
def test_a8_feature_levels_in_order(
    catalog: Catalog, feature: str, levels: tuple[str, ...]
) -> None:
    assert catalog.features[feature].levels == levels


@pytest.mark.parametrize(
    ("feature", "tier", "expected"),
    [
        (feature, tier, value)
        for feature, row in A8_FEATURES.items()
        for tier, value in columns(row)
    ],
)
def test_a8_feature_per_tier(
    catalog: Catalog, feature: str, tier: str, expected: str | bool
) -> None:
    assert catalog.plan(tier).features[feature] == expected
    assert type(catalog.plan(tier).features[feature]) is type(expected)


def test_a8_every_plan_sets_every_feature(catalog: Catalog) -> None:
    assert set(catalog.features) == set(A8_FEATURES)
    for plan in catalog.plans:
        assert set(plan.features) == set(A8_FEATURES)


def test_a8_d4_payments_refused_as_not_allowed_for_tier(catalog: Catalog) -> None:
    assert catalog.features["payments"].refusal == "not_allowed_for_tier"
    others = {fid: f.refusal for fid, f in catalog.features.items() if fid != "payments"}
    assert set(others.values()) == {"upgrade_required"}


# --------------------------------------------------------------------------- A9, D8, policies


def test_a9_every_limit_is_aggregated_over_the_account(catalog: Catalog) -> None:
    scopes = {item_id: item.scope for item_id, item in catalog.items.items()}
    assert scopes.pop("json_storage") == "end_user"
    assert set(scopes.values()) == {"account"}


def test_d8_calendar_month_period(catalog: Catalog) -> None:
    assert catalog.policies.period == "calendar_month"


def test_a7_accounts_start_anonymous_and_fall_back_to_free(catalog: Catalog) -> None:
    assert catalog.default_plan == "anonymous"
    assert catalog.policies.fallback_plan == "free"
    assert catalog.plan("anonymous").self_serve is False


def test_a7_fallback_to_free_marked_assumption(text: str) -> None:
    # The seed never says where a cancelled subscription goes.
    assert yaml_line(text, "policies", "fallback_plan").endswith("# assumption")
