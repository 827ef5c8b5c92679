"""``meterstack plans list|show|validate|diff`` as a user runs them: output and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from meterstack.catalog import load_catalog, parse_catalog
from meterstack.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plans_show_agentstack.txt"

# Seed 000's limits table, cell by cell as the seed writes it (A1, A2). Rows are keyed by the
# label `plans show` gives them; the seed's own label is in the comment.
SEED_000_TABLE: dict[str, tuple[str, ...]] = {
    "Projects": ("1", "1", "3", "5", "25", "Unlimited", "Unlimited"),
    "Active projects": ("1", "1", "3", "3", "15", "Unlimited", "Unlimited"),
    # Total Members (Aggregated)
    "Total members": ("10", "1,000", "5,000", "25,000", "Unlimited", "Unlimited", "Unlimited"),
    "API keys": ("1", "2", "10", "10", "50", "200", "Unlimited"),
    "User API keys": ("1", "1", "3", "5", "10", "Unlimited", "Unlimited"),
    # Logic Engine Calls/Month
    "Logic engine calls / month": (
        "1,000",
        "10,000",
        "50,000",
        "50,000",
        "200,000",
        "1,000,000",
        "Unlimited",
    ),
    # API Calls/Month
    "API calls / month": (
        "10,000",
        "50,000",
        "200,000",
        "500,000",
        "2,000,000",
        "10,000,000",
        "Unlimited",
    ),
    "Triggers": ("20", "50", "100", "100", "250", "1,000", "Unlimited"),
    "Logic pages": ("3", "3", "5", "5", "10", "50", "Unlimited"),
    # JSON Storage (Per User)
    "JSON storage per user": ("20 MB", "100 MB", "500 MB", "500 MB", "2 GB", "10 GB", "Unlimited"),
    # Project Storage (Data Only)
    "Project storage": ("0.02 GB", "0.1 GB", "0.5 GB", "1 GB", "5 GB", "20 GB", "Unlimited"),
    "Analytics retention": (
        "7 days",
        "7 days",
        "30 days",
        "30 days",
        "90 days",
        "365 days",
        "Unlimited",
    ),
    "Analytics exports": ("1", "1", "5", "5", "20", "100", "Unlimited"),
    "Uptime SLA": ("99.0%", "99.0%", "99.5%", "99.5%", "99.9%", "99.95%", "99.99%"),
}
# Rows whose seed spelling differs: "$29/mo" is $29.00 a month; "❌ Disabled" / "✅ Unlimited"
# payments are no / yes; the seed's two blank support cells take its prose (D16).
SEED_000_SPELLED_OTHERWISE: dict[str, tuple[str, ...]] = {
    "Price / month": ("$0.00", "$0.00", "$29.00", "$69.00", "$199.00", "$999.00", "Custom"),
    "Payments": ("no", "yes", "yes", "yes", "yes", "yes", "yes"),
    "Support": (
        "Community",
        "Community",
        "Priority",
        "Priority",
        "Dedicated",
        "Priority",
        "Dedicated",
    ),
}


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["plans", *args])


def table_rows(output: str) -> dict[str, list[str]]:
    """The rows of a rendered table by their first cell."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("│"):
            label, *cells = (cell.strip() for cell in line.strip("│").split("│"))
            rows.setdefault(label, cells)
    return rows


def line_of(text: str, marker: str) -> int:
    return text.count("\n", 0, text.index(marker)) + 1


# --------------------------------------------------------------------------- list, show


def test_plans_list_shows_the_built_in_catalogs() -> None:
    result = run("list")
    assert result.exit_code == 0
    rows = table_rows(result.stdout)
    assert rows["agentstack"][:2] == ["AgentStack", "1"]
    assert rows["aerostack"][:2] == ["Aerostack", "1"]
    assert rows["flowstack"][:2] == ["FlowStack", "1"]
    assert rows["flowstack"][3] == "anniversary"


def test_a2_plans_show_agentstack_matches_the_golden_file() -> None:
    result = run("show", "agentstack")
    assert result.exit_code == 0
    assert result.stdout == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("label", [*SEED_000_TABLE, *SEED_000_SPELLED_OTHERWISE])
def test_a1_a2_d16_plans_show_agentstack_is_the_seed_table(label: str) -> None:
    rows = table_rows(GOLDEN.read_text(encoding="utf-8"))
    expected = {**SEED_000_TABLE, **SEED_000_SPELLED_OTHERWISE}[label]
    assert rows[""] == ["ANONYMOUS", "FREE", "STARTER", "BASIC", "PRO", "PREMIUM", "ENTERPRISE"]
    assert tuple(rows[label]) == expected


def test_a3_a4_a6_plans_show_agentstack_lists_overage_and_packs() -> None:
    rows = table_rows(run("show", "agentstack").stdout)
    assert rows["Logic engine calls overage"][2] == "$1.00 / 1,000"
    assert rows["API calls overage"][3] == "$0.50 / 1,000"
    assert rows["storage_10gb"] == ["10 GB", "Project storage", "$0.90", "-"]
    assert rows["api_calls_large"] == ["1,000,000", "API calls", "$35.00", "large"]


def test_b1_b7_plans_show_aerostack_has_yearly_prices_and_grace() -> None:
    rows = table_rows(run("show", "aerostack").stdout)
    assert rows["Price / year"] == ["$0.00", "$171.00", "$441.00", "$1,341.00", "Custom"]
    assert rows["Grace above limits"] == ["10%", "15%", "20%", "20%", "20%"]
    assert rows["Storage"] == ["2.5 GB", "7 GB", "30 GB", "110 GB", "Unlimited"]
    assert rows["bot_message"] == ["$0.002", "yes"]


@pytest.mark.parametrize(
    "args", [("list",), ("show", "aerostack"), ("diff", "agentstack", "agentstack")]
)
def test_no_colour_codes_when_not_a_terminal(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout


def test_width_option_fits_the_table() -> None:
    result = run("show", "agentstack", "--width", "100")
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_d15_plans_show_json_is_the_normalized_catalog_and_loads_again() -> None:
    result = run("show", "agentstack", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    starter = next(plan for plan in body["plans"] if plan["id"] == "starter")
    assert starter["price"] == {"monthly": "29.00", "yearly": None}
    assert starter["limits"]["json_storage"] == 500_000_000
    assert body["plans"][-1]["limits"]["api_calls"] == "unlimited"
    # The JSON is a catalog too (JSON is YAML): same content, same hash.
    again = parse_catalog(result.stdout, source="agentstack.json")
    assert again.content_hash == load_catalog("agentstack").content_hash


def test_plans_show_a_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(load_catalog("flowstack").text.replace("name: FlowStack", "name: Mine"))
    result = run("show", str(path))
    assert result.exit_code == 0
    assert result.stdout.startswith("Mine (flowstack, version 1, USD)\n")
    assert table_rows(result.stdout)["Sessions / month"] == [
        "25",
        "200",
        "1,000",
        "5,000",
        "25,000",
    ]


def test_plans_show_unknown_catalog_exits_1() -> None:
    result = run("show", "nostack")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: nostack: no such file, and not a built-in catalog (aerostack, agentstack, "
        "flowstack)\n"
    )


# --------------------------------------------------------------------------- validate


def test_plans_validate_malformed_file_exits_1_with_line_and_path(tmp_path: Path) -> None:
    text = load_catalog("agentstack").text.replace("api_calls: 2000000", "api_calls: 2M")
    path = tmp_path / "agentstack.yaml"
    path.write_text(text, encoding="utf-8")

    result = run("validate", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {path}:{line_of(text, 'api_calls: 2M')}: plans.pro.limits.api_calls: "
        'expected a whole number or "unlimited", got "2M"\n'
    )


def test_b1_plans_validate_aerostack_warns_about_both_inversions() -> None:
    result = run("validate", "aerostack")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split(": ")[2] for line in lines[:2]] == [
        "plans.starter.limits.projects",
        "plans.business.limits.projects",
    ]
    assert all(line.endswith("[limit_inversion]") for line in lines[:2])
    assert lines[2] == "builtin:aerostack: valid, 5 plans, 10 items; 2 warnings"


def test_c9_d18_plans_validate_flowstack_reports_the_99_dollar_example() -> None:
    text = load_catalog("flowstack").text
    result = run("validate", "flowstack")
    assert result.exit_code == 0
    warning, summary = result.stdout.splitlines()
    line = line_of(text, "  - name: High-volume application")
    assert warning.startswith(
        f"warning: builtin:flowstack:{line}: examples.2: High-volume application, 10,000 "
        "sessions a month: expected total 99.00"
    )
    assert warning.endswith("[example_mismatch]")
    assert (
        summary == "builtin:flowstack: valid, 5 plans, 1 item, 3 examples (2 reproduced); 1 warning"
    )


def test_a3_d1_plans_validate_agentstack_reproduces_its_examples() -> None:
    result = run("validate", "agentstack")
    assert result.exit_code == 0
    assert result.stdout == (
        "builtin:agentstack: valid, 7 plans, 12 items, 9 packs, 6 examples (6 reproduced); "
        "0 warnings\n"
    )


# --------------------------------------------------------------------------- diff


@pytest.fixture
def raised_and_lowered(tmp_path: Path) -> Path:
    """The shipped AgentStack with PRO's price raised and its API call limit lowered."""
    text = load_catalog("agentstack").text
    text = text.replace('price: {monthly: "199.00"}', 'price: {monthly: "249.00"}')
    text = text.replace("api_calls: 2000000", "api_calls: 1500000").replace(
        "version: 1", "version: 2"
    )
    path = tmp_path / "agentstack-v2.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a1_a2_plans_diff_reports_each_change_with_its_direction(raised_and_lowered: Path) -> None:
    result = run("diff", "agentstack", str(raised_and_lowered))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "AgentStack version 1 -> AgentStack version 2"
    rows = table_rows(result.stdout)
    assert rows["plans.pro.price.monthly"] == ["$199.00", "$249.00", "stricter"]
    assert rows["plans.pro.limits.api_calls"] == ["2,000,000", "1,500,000", "stricter"]
    assert len(rows) == 3  # the header and the two changes
    assert lines[-1] == "2 changes: 2 stricter and 0 looser for customers, 0 neither"


def test_plans_diff_the_other_way_is_looser(raised_and_lowered: Path) -> None:
    rows = table_rows(run("diff", str(raised_and_lowered), "agentstack").stdout)
    assert rows["plans.pro.price.monthly"] == ["$249.00", "$199.00", "looser"]
    assert rows["plans.pro.limits.api_calls"] == ["1,500,000", "2,000,000", "looser"]


def test_d15_plans_diff_json(raised_and_lowered: Path) -> None:
    result = run("diff", "agentstack", str(raised_and_lowered), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "old": {"catalog": "agentstack", "version": 1},
        "new": {"catalog": "agentstack", "version": 2},
        "changes": [
            {
                "path": "plans.pro.price.monthly",
                "old": "199.00",
                "new": "249.00",
                "direction": "stricter",
            },
            {
                "path": "plans.pro.limits.api_calls",
                "old": 2000000,
                "new": 1500000,
                "direction": "stricter",
            },
        ],
    }


def test_plans_diff_without_changes() -> None:
    result = run("diff", "flowstack", "flowstack")
    assert (result.exit_code, result.stdout) == (0, "No price, limit or term changed.\n")


def test_plans_diff_with_a_malformed_catalog_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        load_catalog("flowstack").text.replace("fallback_plan: free", "fallback_plan: x")
    )
    result = run("diff", "flowstack", str(path))
    assert result.exit_code == 1
    assert 'policies.fallback_plan: unknown plan "x"' in result.stderr
