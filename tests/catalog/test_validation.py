"""A malformed catalog is refused with the file, the line and the dotted path of each problem.

Each case breaks one thing in a small valid catalog and asserts the exact line a user reads:
``FILE:LINE: dotted.path: message``. The expected line is found by searching the broken text
for the case's marker, independently of the YAML parser the loader uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meterstack.catalog import CatalogError, load_catalog, parse_catalog

VALID = """\
catalog: demo
name: Demo
version: 1
meters:
  api_calls:
    name: API calls
    unit: call
gauges:
  storage:
    name: Storage
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
    price: {monthly: "0.00"}
    limits:
      api_calls: 1000
      storage: 1 GB
      projects: 1
    features: {webhooks: false, analytics: basic}
  pro:
    name: Pro
    price: {monthly: "20.00"}
    limits:
      api_calls: 2000000
      storage: 10 GB
      projects: unlimited
    overage:
      api_calls:
        charge: {model: per_block, price: "0.50", per: 1000}
    features: {webhooks: true, analytics: advanced}
packs:
  extra_calls:
    name: Extra calls
    item: api_calls
    quantity: 100000
    price: "5.00"
wallet:
  operations:
    image:
      name: Image generation
      price: "0.04"
policies:
  fallback_plan: free
examples:
  - name: Overage on Pro
    plan: pro
    usage: {api_calls: 2001000}
    expect:
      items: {api_calls: "0.50"}
"""

# id, text to replace, replacement, marker of the offending line, dotted path, message
CASES = [
    (
        "a2_limit_not_a_number",
        "api_calls: 2000000",
        "api_calls: 2M",
        "api_calls: 2M",
        "plans.pro.limits.api_calls",
        'expected a whole number or "unlimited", got "2M"',
    ),
    (
        "a2_negative_limit",
        "api_calls: 2000000",
        "api_calls: -5",
        "api_calls: -5",
        "plans.pro.limits.api_calls",
        'expected a whole number or "unlimited", got -5',
    ),
    (
        "limit_on_undeclared_meter",
        "      projects: unlimited\n",
        "      projects: unlimited\n      seats: 3\n",
        "seats: 3",
        "plans.pro.limits.seats",
        'unknown item "seats"; declared: api_calls, storage, projects',
    ),
    (
        "missing_limit",
        "      projects: unlimited\n",
        "",
        "    limits:\n      api_calls: 2000000",
        "plans.pro.limits",
        'missing limit for "projects": every declared item needs a whole number or "unlimited"',
    ),
    (
        "pack_for_unknown_meter",
        "    item: api_calls",
        "    item: api_call",
        "item: api_call",
        "packs.extra_calls.item",
        'unknown item "api_call"; did you mean "api_calls"?',
    ),
    (
        "unknown_fallback_plan",
        "fallback_plan: free",
        "fallback_plan: hobby",
        "fallback_plan: hobby",
        "policies.fallback_plan",
        'unknown plan "hobby"; declared: free, pro',
    ),
    (
        "price_neither_mapping_nor_custom",
        'price: {monthly: "20.00"}',
        "price: costum",
        "price: costum",
        "plans.pro.price",
        'expected a mapping of prices such as {monthly: "10.00"} or "custom", got "costum"',
    ),
    (
        "negative_price",
        'price: {monthly: "20.00"}',
        'price: {monthly: "-20.00"}',
        '"-20.00"',
        "plans.pro.price.monthly",
        'expected 0 or more, got "-20.00"',
    ),
    (
        "price_not_an_amount",
        'price: {monthly: "20.00"}',
        "price: {monthly: twenty}",
        "twenty",
        "plans.pro.price.monthly",
        'expected a decimal amount such as "10.00", got "twenty"',
    ),
    (
        "misspelt_field",
        "    name: Pro\n",
        "    name: Pro\n    grace: 10\n",
        "grace: 10",
        "plans.pro.grace",
        'unknown field; did you mean "grace_percent"?',
    ),
    (
        "required_field_missing",
        "    name: Pro\n",
        "",
        "  pro:",
        "plans.pro.name",
        "required field missing",
    ),
    (
        "scope_not_allowed",
        "    unit: call\n",
        "    unit: call\n    scope: team\n",
        "scope: team",
        "meters.api_calls.scope",
        'expected "account", "project", "end_user" or "api_key", got "team"',
    ),
    (
        "unknown_charge_model",
        "model: per_block",
        "model: flat",
        "model: flat",
        "plans.pro.overage.api_calls.charge",
        'unknown charge model "flat"; expected one of per_block, standard, graduated, volume, '
        "package, percentage",
    ),
    (
        "a3_block_of_zero_units",
        "per: 1000",
        "per: 0",
        "per: 0",
        "plans.pro.overage.api_calls.charge.per",
        "expected more than 0, got 0",
    ),
    (
        "d5_grace_on_a_resource",
        "    name: Pro\n",
        "    name: Pro\n    item_grace_percent: {projects: 10}\n",
        "item_grace_percent",
        "plans.pro.item_grace_percent.projects",
        'grace applies to meters and gauges only, not to resource "projects" (D5)',
    ),
    (
        "overage_on_a_resource",
        "      api_calls:\n        charge:",
        "      projects:\n        charge:",
        "      projects:\n        charge:",
        "plans.pro.overage.projects",
        'overage applies to meters and gauges only, not to resource "projects"',
    ),
    (
        "a4_pack_on_a_resource",
        "    item: api_calls",
        "    item: projects",
        "item: projects",
        "packs.extra_calls.item",
        'packs raise meters and gauges only, not resource "projects"',
    ),
    (
        "a8_level_not_declared",
        "analytics: advanced}",
        "analytics: premium}",
        "analytics: premium}",
        "plans.pro.features.analytics",
        'expected one of the levels basic, advanced, got "premium"',
    ),
    (
        "currency_code",
        "version: 1\n",
        "version: 1\ncurrency: usd\n",
        "currency: usd",
        "currency",
        'expected a three-letter currency code such as "USD", got "usd"',
    ),
    (
        "d18_example_on_unknown_plan",
        "    plan: pro\n    usage",
        "    plan: gold\n    usage",
        "plan: gold",
        "examples.0.plan",
        'unknown plan "gold"; declared: free, pro',
    ),
    (
        "b2_operation_price",
        'price: "0.04"',
        "price: cheap",
        "price: cheap",
        "wallet.operations.image.price",
        'expected a decimal amount such as "10.00" or "per_item", got "cheap"',
    ),
    (
        "plan_id_not_an_identifier",
        "  pro:\n",
        "  Pro-Plan:\n",
        "Pro-Plan:",
        "plans.Pro-Plan",
        'expected an identifier (lower case letters, digits and _), got "Pro-Plan"',
    ),
    (
        "limits_as_a_list",
        "    limits:\n      api_calls: 1000\n      storage: 1 GB\n      projects: 1\n",
        "    limits: [1000, 1 GB, 1]\n",
        "limits: [1000",
        "plans.free.limits",
        "expected a mapping, got a list",
    ),
]


def line_of(text: str, marker: str) -> int:
    """1-based line on which ``marker`` starts."""
    offset = text.index(marker)
    return text.count("\n", 0, offset) + 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return [str(problem) for problem in caught.value.problems]


def test_the_valid_catalog_loads() -> None:
    loaded = parse_catalog(VALID, source="demo.yaml")
    assert loaded.catalog.plan_ids == ("free", "pro")


@pytest.mark.parametrize(
    ("old", "new", "marker", "path", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_malformed_catalog_gets_file_line_path_and_message(
    tmp_path: Path, old: str, new: str, marker: str, path: str, message: str
) -> None:
    assert old in VALID
    broken = VALID.replace(old, new, 1)
    file = write(tmp_path, broken)

    assert problems_of(file) == [f"{file}:{line_of(broken, marker)}: {path}: {message}"]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    broken = (
        VALID.replace("fallback_plan: free", "fallback_plan: hobby")
        .replace("api_calls: 2000000", "api_calls: 2M")
        .replace("    unit: call\n", "    unit: call\n    scope: team\n")
    )
    file = write(tmp_path, broken)

    assert problems_of(file) == [
        f'{file}:8: meters.api_calls.scope: expected "account", "project", "end_user" or '
        '"api_key", got "team"',
        f"{file}:{line_of(broken, '2M')}: plans.pro.limits.api_calls: expected a whole number "
        'or "unlimited", got "2M"',
    ]
    # Cross references are checked once the shape is right: the fallback is reported next.
    fixed = broken.replace("    scope: team\n", "").replace("2M", "2000000")
    file.write_text(fixed, encoding="utf-8")
    assert problems_of(file) == [
        f'{file}:{line_of(fixed, "fallback_plan")}: policies.fallback_plan: unknown plan "hobby"; '
        "declared: free, pro"
    ]


def test_a_key_written_twice_is_not_silently_dropped(tmp_path: Path) -> None:
    # YAML itself would keep the second value and forget the first without a word.
    broken = VALID.replace(
        "      api_calls: 1000\n", "      api_calls: 1000\n      api_calls: 5000\n"
    )
    file = write(tmp_path, broken)

    first, second = line_of(broken, "api_calls: 1000"), line_of(broken, "api_calls: 5000")
    assert problems_of(file) == [
        f'{file}:{second}: plans.free.limits.api_calls: "api_calls" is written twice '
        f"(first on line {first})"
    ]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    broken = VALID.replace("    name: Pro\n", "    name: Pro\n   colour: [red\n")
    file = write(tmp_path, broken)

    (problem,) = problems_of(file)
    assert problem.startswith(f"{file}:{line_of(broken, '   colour')}: invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "got"), [("", "an empty document"), ("- a\n- b\n", "a list"), ("42\n", "42")]
)
def test_a_catalog_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    file = write(tmp_path, text)
    assert problems_of(file) == [f"{file}:1: expected a catalog (a YAML mapping), got {got}"]


def test_unknown_top_level_field_lists_the_fields(tmp_path: Path) -> None:
    file = write(tmp_path, VALID + "colour: red\n")
    (problem,) = problems_of(file)
    assert problem == (
        f"{file}:{line_of(VALID + 'colour: red', 'colour')}: colour: unknown field; expected one "
        "of catalog, name, version, description, currency, meters, gauges, resources, "
        "concurrency, features, plans, packs, wallet, policies, examples"
    )


def test_an_item_named_like_a_charge_model_keeps_its_path(tmp_path: Path) -> None:
    # "volume" and "standard" are also names of charge models; the path is still the item's.
    broken = VALID.replace("api_calls", "volume").replace("volume: 2000000", "volume: 2M")
    file = write(tmp_path, broken)
    assert problems_of(file) == [
        f"{file}:{line_of(broken, 'volume: 2M')}: plans.pro.limits.volume: expected a whole "
        'number or "unlimited", got "2M"'
    ]


def test_missing_file_names_the_built_in_catalogs(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems_of(missing) == [
        f"{missing}: no such file, and not a built-in catalog (aerostack, agentstack, flowstack)"
    ]


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    file = tmp_path / "demo.yaml"
    file.write_bytes(b"catalog: \xff\xfe\n")
    assert problems_of(file) == [f"{file}: cannot read: not UTF-8 text"]


def test_a_problem_carries_its_parts(tmp_path: Path) -> None:
    file = write(tmp_path, VALID.replace("api_calls: 2000000", "api_calls: 2M"))
    with pytest.raises(CatalogError) as caught:
        load_catalog(file)
    (problem,) = caught.value.problems
    line = line_of(VALID, "api_calls: 2000000")
    assert (problem.file, problem.line, problem.path) == (
        str(file),
        line,
        "plans.pro.limits.api_calls",
    )
    assert str(caught.value) == str(problem)
