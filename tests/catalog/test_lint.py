"""The linter warns about legal but suspicious catalogs, with file, line and path (B1, A4, D3)."""

from __future__ import annotations

import pytest

from meterstack.catalog import LintWarning, lint_catalog, load_catalog, parse_catalog

BASE = """\
catalog: demo
name: Demo
version: 1
meters:
  api_calls:
    name: API calls
gauges:
  json_storage:
    name: JSON storage per user
    packable: false
resources:
  projects:
    name: Projects
features:
  webhooks:
    name: Webhooks
  analytics:
    name: Analytics
    levels: [basic, advanced]
plans:
  free:
    name: Free
    price: {monthly: "0.00", yearly: "0.00"}
    limits: {api_calls: 1000, json_storage: 100 MB, projects: 1}
    features: {webhooks: false, analytics: basic}
  pro:
    name: Pro
    price: {monthly: "20.00", yearly: "200.00"}
    limits: {api_calls: 50000, json_storage: 1 GB, projects: 10}
    features: {webhooks: true, analytics: advanced}
  enterprise:
    name: Enterprise
    price: custom
    limits: {api_calls: unlimited, json_storage: unlimited, projects: unlimited}
    features: {webhooks: true, analytics: advanced}
policies:
  fallback_plan: free
  intervals: [monthly, yearly]
"""


def line_of(text: str, marker: str) -> int:
    return text.count("\n", 0, text.index(marker)) + 1


def lint(text: str) -> list[LintWarning]:
    return lint_catalog(parse_catalog(text, source="demo.yaml"))


def shown(warnings: list[LintWarning]) -> list[str]:
    return [f"{warning} [{warning.code}]" for warning in warnings]


def test_a_consistent_catalog_has_no_warning() -> None:
    assert lint(BASE) == []


@pytest.mark.parametrize("name", ["agentstack", "flowstack"])
def test_a2_c2_shipped_catalogs_without_inversions_are_clean(name: str) -> None:
    assert lint_catalog(load_catalog(name)) == []


def test_b1_both_aerostack_inversions_are_reported() -> None:
    # Seed 002's table: Free 10 projects but Starter 5; Pro unlimited but Business 50.
    loaded = load_catalog("aerostack")
    starter = line_of(loaded.text, "projects: 5  # seed")
    business = line_of(loaded.text, "projects: 50  # seed")

    assert shown(lint_catalog(loaded)) == [
        f"builtin:aerostack:{starter}: plans.starter.limits.projects: Starter at $19.00/month "
        "allows 5 projects, less than the cheaper Free at $0.00/month with 10 [limit_inversion]",
        f"builtin:aerostack:{business}: plans.business.limits.projects: Business at "
        "$149.00/month allows 50 projects, less than the cheaper Pro at $49.00/month with "
        "unlimited [limit_inversion]",
    ]


def test_limit_inversion_names_the_most_generous_cheaper_plan() -> None:
    text = BASE.replace("projects: unlimited}", "projects: 5}")
    (warning,) = lint(text)
    assert warning.code == "limit_inversion"
    assert warning.path == "plans.enterprise.limits.projects"
    assert warning.line == line_of(text, "projects: 5}")
    # Free allows 1 and Pro 10: Pro is the one to compare with. A custom price counts as the
    # most expensive of all.
    assert warning.message == (
        "Enterprise (custom price) allows 5 projects, less than the cheaper Pro at "
        "$20.00/month with 10"
    )


def test_limit_inversion_shows_sizes_in_bytes_as_sizes() -> None:
    text = BASE.replace("json_storage: 1 GB", "json_storage: 50 MB")
    (warning,) = lint(text)
    assert warning.message == (
        "Pro at $20.00/month allows 50 MB JSON storage per user, less than the cheaper Free at "
        "$0.00/month with 100 MB"
    )


def test_plans_at_the_same_price_are_not_compared() -> None:
    # AgentStack's ANONYMOUS and FREE are both $0: different limits, no inversion.
    text = BASE.replace('{monthly: "20.00", yearly: "200.00"}', '{monthly: "0.00", yearly: "0.00"}')
    text = text.replace("api_calls: 50000", "api_calls: 500")
    assert [warning.code for warning in lint(text)] == []


def test_a8_feature_lost_on_a_more_expensive_plan() -> None:
    text = BASE.replace(
        "features: {webhooks: true, analytics: advanced}\n  enterprise",
        "features: {webhooks: false, analytics: advanced}\n  enterprise",
    ).replace("webhooks: false, analytics: basic}", "webhooks: true, analytics: basic}")
    assert shown(lint(text)) == [
        f"demo.yaml:{line_of(text, 'webhooks: false, analytics: advanced')}: "
        "plans.pro.features.webhooks: Pro at $20.00/month has Webhooks off, but the cheaper "
        "Free at $0.00/month has it on [feature_inversion]"
    ]


def test_a8_lower_feature_level_on_a_more_expensive_plan() -> None:
    text = BASE.replace(
        "features: {webhooks: true, analytics: advanced}\n  enterprise",
        "features: {webhooks: true, analytics: basic}\n  enterprise",
    ).replace("webhooks: false, analytics: basic}", "webhooks: false, analytics: advanced}")
    (warning,) = lint(text)
    assert (warning.code, warning.path) == ("feature_inversion", "plans.pro.features.analytics")
    assert warning.message.endswith(
        "has Analytics basic, but the cheaper Free at $0.00/month has it advanced"
    )


def test_b1_yearly_price_not_cheaper_than_twelve_months() -> None:
    text = BASE.replace('yearly: "200.00"', 'yearly: "240.00"')
    line = line_of(text, 'yearly: "240.00"')
    assert shown(lint(text)) == [
        f"demo.yaml:{line}: plans.pro.price.yearly: Pro's yearly "
        "price $240.00 is not cheaper than 12 monthly payments ($240.00) [yearly_not_cheaper]"
    ]


def test_b1_derived_yearly_price_points_at_the_discount() -> None:
    text = (
        BASE.replace(', yearly: "0.00"', "")
        .replace(', yearly: "200.00"', "")
        .replace(
            "intervals: [monthly, yearly]",
            "intervals: [monthly, yearly]\n  yearly_discount_percent: 0",
        )
    )
    (warning,) = lint(text)
    assert (warning.code, warning.path) == (
        "yearly_not_cheaper",
        "policies.yearly_discount_percent",
    )
    assert warning.line == line_of(text, "yearly_discount_percent")


def test_b12_yearly_price_without_yearly_billing() -> None:
    text = BASE.replace("intervals: [monthly, yearly]", "intervals: [monthly]")
    assert [(w.code, w.path) for w in lint(text)] == [
        ("yearly_not_offered", "plans.free.price.yearly"),
        ("yearly_not_offered", "plans.pro.price.yearly"),
    ]


def test_d5_grace_on_an_unlimited_item() -> None:
    text = BASE.replace(
        "    price: custom\n", "    price: custom\n    item_grace_percent: {api_calls: 15}\n"
    )
    assert shown(lint(text)) == [
        f"demo.yaml:{line_of(text, 'item_grace_percent')}: "
        "plans.enterprise.item_grace_percent.api_calls: a 15% grace on api_calls, whose limit is "
        "unlimited: it never applies [grace_on_unlimited]"
    ]


def test_d14_plan_wide_grace_on_an_all_unlimited_plan_is_not_reported() -> None:
    # Aerostack's Enterprise keeps 20 % for the finite limits a contract may set.
    text = BASE.replace("    price: custom\n", "    price: custom\n    grace_percent: 20\n")
    assert lint(text) == []


def test_a3_overage_on_an_unlimited_item() -> None:
    text = BASE.replace(
        "    price: custom\n",
        "    price: custom\n    overage:\n      api_calls:\n"
        '        charge: {price: "1.00", per: 1000}\n',
    )
    (warning,) = lint(text)
    assert (warning.code, warning.path) == (
        "overage_on_unlimited",
        "plans.enterprise.overage.api_calls",
    )
    assert (
        warning.message
        == "an overage price on api_calls, whose limit is unlimited: it is never charged"
    )


def test_d3_overage_on_by_default_without_payments() -> None:
    text = BASE.replace(
        "    name: Free\n",
        "    name: Free\n    payments: false\n    overage:\n      api_calls:\n"
        '        enabled: true\n        charge: {price: "1.00", per: 1000}\n',
    )
    (warning,) = lint(text)
    assert warning.code == "overage_without_payments"
    assert warning.path == "plans.free.overage.api_calls.enabled"
    assert warning.line == line_of(text, "enabled: true")
    assert warning.message == (
        "overage on api_calls is on by default, but Free has no payments and cannot turn "
        "overage on (D3)"
    )


def test_a4_pack_on_an_item_packs_may_not_raise() -> None:
    text = BASE + (
        "packs:\n  json_5gb:\n    name: JSON 5 GB\n    item: json_storage\n"
        '    quantity: 5 GB\n    price: "0.50"\n'
    )
    assert shown(lint(text)) == [
        f"demo.yaml:{line_of(text, 'item: json_storage')}: packs.json_5gb.item: json_storage is "
        "not raised by packs (packable: false), so this pack adds nothing [pack_not_packable]"
    ]


def test_warnings_come_in_file_order() -> None:
    text = BASE.replace('yearly: "200.00"', 'yearly: "300.00"').replace(
        "projects: unlimited}", "projects: 2}"
    )
    warnings = lint(text)
    assert [w.code for w in warnings] == ["yearly_not_cheaper", "limit_inversion"]
    assert [w.line for w in warnings] == sorted(w.line or 0 for w in warnings)
