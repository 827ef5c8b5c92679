"""The shipped FlowStack catalog reproduces seed 003 (C1-C7, C9, D4, D8, D18).

Every expected value below is transcribed from the seed's "Pricing Tiers" list and its cost
examples, not read from the catalog.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import pytest
import yaml

from meterstack.catalog import UNLIMITED, Catalog, load_catalog
from meterstack.catalog.schema import PlanPrice

T = TypeVar("T")
TIERS = ("free", "hobbyist", "starter", "professional", "enterprise")

# C2: the seed's tier list, column by column. Enterprise is "Custom pricing".
C2_NAMES = ("Free", "Hobbyist", "Starter", "Professional", "Enterprise")
C2_MONTHLY = ("$0/month", "$15/month", "$50/month", "$200/month")
# "25 sessions/month" ... "25,000+ sessions/month": the enterprise base a contract may raise.
C2_SESSIONS = ("25", "200", "1,000", "5,000", "25,000+")
C2_SUPPORT = ("Community", "Email", "Email", "Priority", "Dedicated")

# C3: "BYOK required for all providers / No managed Bedrock access" on Free; "Managed Bedrock
# included" on Hobbyist and Starter; Professional and Enterprise keep it (an assumption).
C3_CAN_USE_MANAGED = (False, True, True, True, True)


def seed_count(cell: str) -> int:
    """A session count as the seed writes it: "1,000" -> 1000; "25,000+" -> 25000."""
    return int(cell.rstrip("+").replace(",", ""))


def seed_price(cell: str) -> Decimal:
    """A price as the seed writes it: "$200/month" -> Decimal("200")."""
    return Decimal(cell.removeprefix("$").split("/")[0].replace(",", ""))


def columns(row: tuple[T, ...]) -> list[tuple[str, T]]:
    return list(zip(TIERS[: len(row)], row, strict=True))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog("flowstack").catalog


@pytest.fixture(scope="module")
def text() -> str:
    return load_catalog("flowstack").text


def yaml_line(text: str, *path: str) -> str:
    """The source line on which the value at ``path`` is written."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key in path:
        assert isinstance(node, yaml.MappingNode)
        node = next(value for name, value in node.value if name.value == key)
    assert node is not None
    return text.splitlines()[node.start_mark.line]


# --------------------------------------------------------------------------- C1, C6


def test_c1_sessions_are_the_only_metered_item(catalog: Catalog) -> None:
    # Tool calls and DataVault access never count; only processed messages (sessions) do.
    assert set(catalog.items) == {"sessions"}
    assert set(catalog.meters) == {"sessions"}
    assert catalog.meters["sessions"].unit == "session"
    assert catalog.meters["sessions"].scope == "account"


def test_c6_session_hold_lapses_after_five_minutes(catalog: Catalog) -> None:
    assert catalog.meters["sessions"].max_hold_seconds == 5 * 60


# --------------------------------------------------------------------------- C2


def test_c2_tiers_in_order(catalog: Catalog) -> None:
    assert catalog.plan_ids == TIERS
    assert tuple(plan.name for plan in catalog.plans) == C2_NAMES


@pytest.mark.parametrize(("tier", "cell"), columns(C2_MONTHLY))
def test_c2_monthly_price(catalog: Catalog, tier: str, cell: str) -> None:
    price = catalog.plan(tier).price
    assert isinstance(price, PlanPrice)
    assert price.monthly == seed_price(cell)
    assert catalog.plan(tier).self_serve


def test_c2_enterprise_custom_pricing(catalog: Catalog) -> None:
    enterprise = catalog.plan("enterprise")
    assert enterprise.is_custom
    assert not enterprise.self_serve


def test_c2_monthly_billing_only(catalog: Catalog) -> None:
    assert catalog.policies.intervals == ("monthly",)
    assert catalog.currency == "USD"


@pytest.mark.parametrize(("tier", "cell"), columns(C2_SESSIONS))
def test_c2_sessions_per_tier(catalog: Catalog, tier: str, cell: str) -> None:
    limit = catalog.plan(tier).limits["sessions"]
    assert limit is not UNLIMITED
    assert type(limit) is int
    assert limit == seed_count(cell)


@pytest.mark.parametrize(("tier", "support"), columns(C2_SUPPORT))
def test_c2_support_per_tier(catalog: Catalog, tier: str, support: str) -> None:
    assert catalog.plan(tier).support == support


def test_c2_enterprise_volume_discounts_listed(catalog: Catalog) -> None:
    highlights = catalog.plan("enterprise").highlights
    assert "25,000+ sessions a month" in highlights
    assert "Volume pricing discounts" in highlights


# --------------------------------------------------------------------------- C3, D4


@pytest.mark.parametrize(("tier", "managed"), columns(C3_CAN_USE_MANAGED))
def test_c3_can_use_managed_per_tier(catalog: Catalog, tier: str, managed: bool) -> None:
    assert catalog.plan(tier).features["managed_models"] is managed


def test_c3_d4_managed_models_on_free_not_allowed_for_tier(catalog: Catalog) -> None:
    feature = catalog.features["managed_models"]
    assert feature.levels is None
    assert feature.refusal == "not_allowed_for_tier"
    assert set(catalog.features) == {"managed_models"}


@pytest.mark.parametrize("tier", ["professional", "enterprise"])
def test_c3_managed_models_above_starter_marked_assumption(text: str, tier: str) -> None:
    # The seed's list names managed Bedrock on Hobbyist and Starter only.
    assert "# assumption" in yaml_line(text, "plans", tier, "features", "managed_models")


# --------------------------------------------------------------------------- C4, C5, C7, D8


def test_c4_near_limit_at_80_percent(catalog: Catalog) -> None:
    assert catalog.policies.near_limit_percent == Decimal(80)


@pytest.mark.parametrize("tier", TIERS)
def test_c5_no_overage_and_no_grace_past_the_limit(catalog: Catalog, tier: str) -> None:
    plan = catalog.plan(tier)
    assert plan.overage == {}
    assert plan.usage_prices == {}
    assert plan.grace_percent == 0
    assert plan.item_grace_percent == {}


def test_c5_new_sessions_refused_with_429(catalog: Catalog) -> None:
    assert catalog.meters["sessions"].refusal_status == 429


def test_c7_plan_changes_and_rollover(catalog: Catalog) -> None:
    policies = catalog.policies
    assert policies.rollover is False
    assert policies.upgrades == "immediate"
    assert policies.downgrades == "period_end"
    assert policies.cancellations == "period_end"


def test_c7_cancellation_falls_back_to_free_assumption(catalog: Catalog, text: str) -> None:
    assert catalog.policies.fallback_plan == "free"
    assert catalog.default_plan == "free"
    assert yaml_line(text, "policies", "fallback_plan").endswith("# assumption")


def test_d8_anniversary_billing_cycle(catalog: Catalog) -> None:
    assert catalog.policies.period == "anniversary"


# --------------------------------------------------------------------------- C9, D18


def test_c9_d18_seed_high_volume_example_carried(catalog: Catalog) -> None:
    # Seed: "High-Volume Application (10,000 sessions/month) ... FlowStack: $99/month".
    (example,) = (e for e in catalog.examples if e.usage == {"sessions": 10_000})
    assert example.expect.total == Decimal("99.00")
    assert example.plan == "professional"


def test_c9_high_volume_example_contradicts_the_tier_list(catalog: Catalog) -> None:
    (example,) = (e for e in catalog.examples if e.usage == {"sessions": 10_000})
    plan = catalog.plan(example.plan)
    assert isinstance(plan.price, PlanPrice)
    # No published tier gives 10,000 sessions for $99: Professional is $200 for 5,000.
    assert plan.price.monthly == seed_price("$200/month")
    assert plan.price.monthly != example.expect.total
    assert plan.limits["sessions"] == seed_count("5,000") < 10_000
    for tier in TIERS[:-1]:
        price = catalog.plan(tier).price
        assert isinstance(price, PlanPrice)
        assert price.monthly != Decimal(99)


@pytest.mark.parametrize(
    ("plan", "sessions", "total"),
    [
        # "Simple Chatbot (1,000 sessions/month) ... FlowStack: $50/month".
        ("starter", 1_000, "50.00"),
        # "FlowStack: $0/month (if under 25 sessions)".
        ("free", 25, "0.00"),
    ],
)
def test_c9_d18_consistent_seed_examples_carried(
    catalog: Catalog, plan: str, sessions: int, total: str
) -> None:
    (example,) = (e for e in catalog.examples if e.usage == {"sessions": sessions})
    assert example.plan == plan
    assert example.expect.total == Decimal(total)
    price = catalog.plan(plan).price
    assert isinstance(price, PlanPrice)
    # These agree with the tier list: within the tier's sessions, at the tier's price.
    assert price.monthly == Decimal(total)
    limit = catalog.plan(plan).limits["sessions"]
    assert isinstance(limit, int)
    assert limit >= sessions


def test_c9_only_the_seed_examples(catalog: Catalog) -> None:
    assert len(catalog.examples) == 3
    assert all(example.source.startswith("seed 003") for example in catalog.examples)
