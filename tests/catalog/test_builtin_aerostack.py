"""The shipped Aerostack catalog reproduces seed 002 cell by cell (B1-B3, B6, B7, B9, B12, D5, D17).

Every expected value below is transcribed from the seed's text (or from SPEC D17 where the seed
is silent), not read from the catalog. The seed's table writes "50K", "2M", "2.5 GB"; the tables
here keep that spelling and :func:`seed_cell` turns it into units.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
import yaml

from meterstack.catalog import UNLIMITED, Catalog, Unlimited, load_catalog
from meterstack.catalog.schema import PlanPrice
from meterstack.rules.terms import AccountState, hard_limit, item_terms

GB = 10**9  # D8: 1 GB = 10^9 bytes
T = TypeVar("T")
TIERS = ("free", "starter", "pro", "business", "enterprise")
PAID_TIERS = TIERS[:-1]

B1_NAMES = ("Free", "Starter", "Pro", "Business", "Enterprise")
# "Price" and "Yearly price" rows of the seed's Plan Overview; Enterprise is "Custom".
B1_MONTHLY = ("$0", "$19/mo", "$49/mo", "$149/mo")
B1_YEARLY = ("$0", "$171/yr", "$441/yr", "$1,341/yr")

# The rest of the Plan Overview, exactly as the seed writes each cell.
B1_TABLE: dict[str, tuple[str, ...]] = {
    "projects": ("10", "5", "Unlimited", "50", "Unlimited"),
    "mcp_workspaces": ("3", "10", "50", "200", "Unlimited"),
    "api_requests": ("50K", "500K", "2M", "10M", "Unlimited"),
    "ai_tokens": ("100K", "1M", "10M", "100M", "Unlimited"),
    "storage": ("2.5 GB", "7 GB", "30 GB", "110 GB", "Unlimited"),
    "team_members": ("1", "3", "10", "25", "Unlimited"),
    "gateway_apis": ("3", "10", "50", "200", "Unlimited"),
}

# D17: values the seed does not give. Starter's are the seed's example usage response.
D17_TABLE: dict[str, tuple[str, ...]] = {
    "gateway_requests": ("10,000", "50,000", "250,000", "1,000,000", "Unlimited"),
    "mcp_proxy_calls": ("10,000", "50,000", "250,000", "1,000,000", "Unlimited"),
    "realtime_connections": ("100", "1,000", "5,000", "25,000", "Unlimited"),
}

# B7: the seed's Grace Period table. Enterprise is not in it (see test_b7_enterprise_grace).
B7_GRACE = {"free": 10, "starter": 15, "pro": 20, "business": 20}

# B7, D5: hard limit = limit x (1 + grace), rounded up to a whole unit. The seed's own example
# is the first cell: "on the Free plan with 50,000 API requests/month, the hard limit is 55,000".
B7_HARD_LIMITS: dict[str, tuple[int, ...]] = {
    "api_requests": (55_000, 575_000, 2_400_000, 12_000_000),
    "ai_tokens": (110_000, 1_150_000, 12_000_000, 120_000_000),
    "storage": (2_750_000_000, 8_050_000_000, 36 * GB, 132 * GB),
    "gateway_requests": (11_000, 57_500, 300_000, 1_200_000),
    "mcp_proxy_calls": (11_000, 57_500, 300_000, 1_200_000),
}

# B6: the seed's GET /api/billing/usage response, for an account on Starter.
B6_SEED_USAGE_RESPONSE = {
    "tier": "starter",
    "period": "2026-03",
    "usage": {
        "api_requests": {"used": 42000, "limit": 500000},
        "ai_tokens": {"used": 150000, "limit": 1000000},
        "gateway_requests": {"used": 3000, "limit": 50000},
        "mcp_proxy_calls": {"used": 1200, "limit": 50000},
    },
    "resource_counts": {
        "projects": {"limit": 5},
        "team_members": {"limit": 3},
        "gateway_apis": {"limit": 10},
        "mcp_workspaces": {"limit": 10},
        "realtime_connections": {"limit": 1000},
    },
}


def seed_cell(cell: str) -> int | Unlimited:
    """A limit as the seed writes it ("50K", "2.5 GB", "1,000", "Unlimited") in units or bytes."""
    if cell == "Unlimited":
        return UNLIMITED
    if cell.endswith(" GB"):
        return int(Decimal(cell.removesuffix(" GB")) * GB)
    multiplier = {"K": 10**3, "M": 10**6}.get(cell[-1], 1)
    digits = cell.rstrip("KM").replace(",", "")
    return int(Decimal(digits) * multiplier)


def seed_price(cell: str) -> Decimal:
    """A price as the seed writes it: "$1,341/yr" -> Decimal("1341")."""
    return Decimal(cell.removeprefix("$").split("/")[0].replace(",", ""))


def columns(row: tuple[T, ...]) -> list[tuple[str, T]]:
    return list(zip(TIERS[: len(row)], row, strict=True))


def cells(table: dict[str, tuple[T, ...]]) -> list[tuple[str, str, T]]:
    return [(item, tier, value) for item, row in table.items() for tier, value in columns(row)]


def state_on(tier: str) -> AccountState:
    return AccountState(
        account_id="acct",
        plan_id=tier,
        catalog_hash="",
        version=1,
        period_anchor=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog("aerostack").catalog


@pytest.fixture(scope="module")
def text() -> str:
    return load_catalog("aerostack").text


def yaml_line(text: str, *path: str) -> str:
    """The source line on which the value at ``path`` is written."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key in path:
        assert isinstance(node, yaml.MappingNode)
        node = next(value for name, value in node.value if name.value == key)
    assert node is not None
    return text.splitlines()[node.start_mark.line]


def test_b1_seed_cell_reads_the_seed_spelling() -> None:
    assert seed_cell("50K") == 50_000
    assert seed_cell("2M") == 2_000_000
    assert seed_cell("2.5 GB") == 2_500_000_000
    assert seed_cell("1,000,000") == 1_000_000
    assert seed_cell("Unlimited") is UNLIMITED
    assert seed_price("$1,341/yr") == Decimal(1341)


# --------------------------------------------------------------------------- B1, B12


def test_b1_plans_in_tier_order(catalog: Catalog) -> None:
    assert catalog.plan_ids == TIERS
    assert tuple(plan.name for plan in catalog.plans) == B1_NAMES


@pytest.mark.parametrize(("tier", "cell"), columns(B1_MONTHLY))
def test_b1_monthly_price(catalog: Catalog, tier: str, cell: str) -> None:
    price = catalog.plan(tier).price
    assert isinstance(price, PlanPrice)
    assert price.monthly == seed_price(cell)


@pytest.mark.parametrize(("tier", "cell"), columns(B1_YEARLY))
def test_b1_yearly_price(catalog: Catalog, tier: str, cell: str) -> None:
    plan = catalog.plan(tier)
    assert isinstance(plan.price, PlanPrice)
    assert plan.price.yearly == seed_price(cell)
    assert catalog.yearly_price(plan) == seed_price(cell)


@pytest.mark.parametrize(
    ("tier", "monthly", "yearly"),
    list(zip(PAID_TIERS, B1_MONTHLY, B1_YEARLY, strict=True)),
)
def test_b1_yearly_price_is_25_percent_off(tier: str, monthly: str, yearly: str) -> None:
    # "Yearly billing saves 25%": the seed's two price rows agree with each other.
    assert seed_price(monthly) * 12 * Decimal("0.75") == seed_price(yearly)


def test_b1_discount_derives_the_same_yearly_prices(catalog: Catalog) -> None:
    assert catalog.policies.yearly_discount_percent == Decimal(25)
    for plan in catalog.plans[:-1]:
        assert isinstance(plan.price, PlanPrice)
        assert plan.price.monthly * 12 * (100 - Decimal(25)) / 100 == catalog.yearly_price(plan)


def test_b1_enterprise_is_custom(catalog: Catalog) -> None:
    enterprise = catalog.plan("enterprise")
    assert enterprise.is_custom
    assert catalog.yearly_price(enterprise) is None
    assert not enterprise.self_serve
    assert all(catalog.plan(tier).self_serve for tier in PAID_TIERS)


def test_b12_monthly_or_yearly_interval(catalog: Catalog) -> None:
    assert catalog.policies.intervals == ("monthly", "yearly")
    assert catalog.currency == "USD"


@pytest.mark.parametrize(("item", "tier", "cell"), cells(B1_TABLE))
def test_b1_limit_per_plan(catalog: Catalog, item: str, tier: str, cell: str) -> None:
    limit = catalog.plan(tier).limits[item]
    expected = seed_cell(cell)
    if expected is UNLIMITED:
        assert limit is UNLIMITED
    else:
        assert type(limit) is int
        assert limit == expected


def test_b1_item_kinds(catalog: Catalog) -> None:
    assert set(catalog.meters) == {
        "api_requests",
        "ai_tokens",
        "gateway_requests",
        "mcp_proxy_calls",
    }
    assert set(catalog.gauges) == {"storage"}
    assert catalog.gauges["storage"].unit == "byte"
    assert set(catalog.resources) == {"projects", "team_members", "gateway_apis", "mcp_workspaces"}
    # Realtime connections are concurrent, not monthly.
    assert set(catalog.concurrency) == {"realtime_connections"}


def test_b1_every_plan_limits_exactly_the_declared_items(catalog: Catalog) -> None:
    for plan in catalog.plans:
        assert set(plan.limits) == set(B1_TABLE) | set(D17_TABLE)


def test_b1_seed_inversions_are_kept(catalog: Catalog) -> None:
    # The seed's table, as written: Free 10 projects > Starter 5; Pro unlimited > Business 50.
    projects = {tier: catalog.plan(tier).limits["projects"] for tier in TIERS}
    assert projects["free"] == 10
    assert projects["starter"] == 5
    assert projects["pro"] is UNLIMITED
    assert projects["business"] == 50


def test_b1_no_overage_and_no_packs(catalog: Catalog) -> None:
    # Aerostack has a grace zone and a wallet, never pay-as-you-go overage on plan limits.
    assert all(plan.overage == {} for plan in catalog.plans)
    assert catalog.packs == {}


@pytest.mark.parametrize("tier", TIERS)
def test_b5_every_plan_has_a_feature_list(catalog: Catalog, tier: str) -> None:
    plan = catalog.plan(tier)
    assert plan.highlights
    assert plan.name == B1_NAMES[TIERS.index(tier)]


# --------------------------------------------------------------------------- B6


def test_b6_seed_usage_response_limits_are_starter_limits(catalog: Catalog) -> None:
    starter = catalog.plan(str(B6_SEED_USAGE_RESPONSE["tier"]))
    usage = B6_SEED_USAGE_RESPONSE["usage"]
    resource_counts = B6_SEED_USAGE_RESPONSE["resource_counts"]
    assert isinstance(usage, dict)
    assert isinstance(resource_counts, dict)
    assert set(usage) == set(catalog.meters)
    assert set(resource_counts) == set(catalog.resources) | set(catalog.concurrency)
    for item, body in {**usage, **resource_counts}.items():
        assert starter.limits[item] == body["limit"], item


# --------------------------------------------------------------------------- B7, D5


@pytest.mark.parametrize(("tier", "grace"), list(B7_GRACE.items()))
def test_b7_grace_percent_per_plan(catalog: Catalog, tier: str, grace: int) -> None:
    plan = catalog.plan(tier)
    assert plan.grace_percent == Decimal(grace)
    assert plan.item_grace_percent == {}


def test_b7_free_api_requests_hard_limit_is_55000(catalog: Catalog) -> None:
    terms = item_terms(catalog, state_on("free"), "api_requests")
    assert terms.limit == 50_000
    assert terms.hard_limit == 55_000


@pytest.mark.parametrize(
    ("item", "tier", "expected"),
    [(item, tier, value) for item, row in B7_HARD_LIMITS.items() for tier, value in columns(row)],
)
def test_b7_d5_hard_limit_per_plan(catalog: Catalog, item: str, tier: str, expected: int) -> None:
    terms = item_terms(catalog, state_on(tier), item)
    assert terms.hard_limit == expected


def test_d5_hard_limit_rounds_up_in_the_customers_favour(catalog: Catalog) -> None:
    # 25 + 15 % = 28.75 -> 29 with Starter's grace.
    assert hard_limit(25, catalog.plan("starter").grace_percent) == 29


@pytest.mark.parametrize("tier", PAID_TIERS)
@pytest.mark.parametrize(
    "item", ["projects", "team_members", "gateway_apis", "mcp_workspaces", "realtime_connections"]
)
def test_d5_no_grace_on_resources_or_concurrency(catalog: Catalog, tier: str, item: str) -> None:
    terms = item_terms(catalog, state_on(tier), item)
    assert terms.grace_percent == 0
    assert terms.hard_limit == terms.limit


@pytest.mark.parametrize("item", sorted(B7_HARD_LIMITS))
def test_b7_enterprise_unlimited_has_no_hard_limit(catalog: Catalog, item: str) -> None:
    assert item_terms(catalog, state_on("enterprise"), item).hard_limit is None


def test_b7_enterprise_grace_is_an_assumption(catalog: Catalog, text: str) -> None:
    # Not in the seed's grace table; a contract with finite limits keeps Business's 20 %.
    assert catalog.plan("enterprise").grace_percent == Decimal(20)
    assert "# assumption" in yaml_line(text, "plans", "enterprise", "grace_percent")


# --------------------------------------------------------------------------- D17


@pytest.mark.parametrize(("item", "tier", "cell"), cells(D17_TABLE))
def test_d17_assumed_limit_per_plan(catalog: Catalog, item: str, tier: str, cell: str) -> None:
    assert catalog.plan(tier).limits[item] == seed_cell(cell)


@pytest.mark.parametrize(("item", "tier", "_cell"), cells(D17_TABLE))
def test_d17_assumed_limit_marked(text: str, item: str, tier: str, _cell: str) -> None:
    assert "# assumption" in yaml_line(text, "plans", tier, "limits", item)


def test_d17_realtime_lease_marked(catalog: Catalog, text: str) -> None:
    assert catalog.concurrency["realtime_connections"].max_lease_seconds == 3600
    line = yaml_line(text, "concurrency", "realtime_connections", "max_lease_seconds")
    assert "# assumption" in line


# --------------------------------------------------------------------------- B2, B3, D17 wallet


def test_b2_d17_wallet_operation_prices(catalog: Catalog) -> None:
    wallet = catalog.wallet
    assert wallet is not None
    prices = {op_id: op.price for op_id, op in wallet.operations.items()}
    assert prices == {
        "bot_message": Decimal("0.002"),
        "agent_execution": Decimal("0.01"),
        "marketplace_tool_call": "per_item",
    }


def test_b2_d17_platform_fee_and_auto_reload(catalog: Catalog) -> None:
    wallet = catalog.wallet
    assert wallet is not None
    assert wallet.platform_fee_percent == Decimal(20)
    assert wallet.auto_reload is True
    assert wallet.minimum_deposit == Decimal("5.00")  # D24
    assert wallet.minimum_payout == Decimal("10.00")  # D23


def test_b3_byok_runs_cost_nothing_from_the_wallet(catalog: Catalog) -> None:
    wallet = catalog.wallet
    assert wallet is not None
    byok_free = {op_id: op.byok_free for op_id, op in wallet.operations.items()}
    # Bot conversations and agent executions on the customer's own key are free; a paid
    # marketplace tool is the creator's price whatever key runs it.
    assert byok_free == {
        "bot_message": True,
        "agent_execution": True,
        "marketplace_tool_call": False,
    }


def test_d17_wallet_prices_fit_the_ledger_and_deposits_the_cent(catalog: Catalog) -> None:
    wallet = catalog.wallet
    assert wallet is not None
    for operation in wallet.operations.values():
        if isinstance(operation.price, Decimal):
            exponent = operation.price.as_tuple().exponent
            assert isinstance(exponent, int)
            assert exponent >= -6
    assert wallet.minimum_deposit == wallet.minimum_deposit.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "path",
    [
        ("wallet", "operations", "bot_message", "price"),
        ("wallet", "operations", "agent_execution", "price"),
        ("wallet", "platform_fee_percent"),
        ("wallet", "minimum_deposit"),
        ("wallet", "minimum_payout"),
        ("wallet", "max_item_price"),
    ],
)
def test_d17_wallet_values_marked_assumption(text: str, path: tuple[str, ...]) -> None:
    assert yaml_line(text, *path).endswith("# assumption")


# --------------------------------------------------------------------------- B9, D8


def test_d8_calendar_month_period(catalog: Catalog) -> None:
    assert catalog.policies.period == "calendar_month"


def test_b9_cancel_falls_back_to_free_at_period_end(catalog: Catalog) -> None:
    assert catalog.policies.fallback_plan == "free"
    assert catalog.policies.cancellations == "period_end"
    assert catalog.default_plan == "free"
