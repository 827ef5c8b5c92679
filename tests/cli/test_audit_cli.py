"""The audit log from the command line: each operator command that changes an account writes
exactly one entry naming the CLI and the reason given; ``meterstack audit`` reads the log back,
filtered by account and kind, a page at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterstack import Engine
from meterstack.catalog import load_catalog
from meterstack.cli import app

runner = CliRunner()


@pytest.fixture
def options(tmp_path: Path) -> list[str]:
    return ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "agentstack"]


def _log(options: list[str], *query: str) -> dict[str, Any]:
    shown = runner.invoke(app, ["audit", "--json", *query, *options])
    assert shown.exit_code == 0, shown.output
    answer: dict[str, Any] = json.loads(shown.stdout)
    return answer


def test_each_cli_change_writes_one_entry_with_the_reason(options: list[str]) -> None:
    created = runner.invoke(
        app, ["accounts", "create", "--plan", "starter", "--reason", "signed order", *options]
    )
    account = created.stdout.strip()
    raised = runner.invoke(
        app,
        ["accounts", "set-limit", account, "api_calls", "300000", "--reason", "pilot", *options],
    )
    refused = runner.invoke(app, ["accounts", "set-limit", account, "nope", "5", *options])
    moved = runner.invoke(app, ["accounts", "change-plan", account, "pro", *options])
    key = runner.invoke(app, ["keys", "create", account, *options])
    key_id = json.loads(key.stdout)["id"]
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--reason", "leaked", *options])

    assert [created.exit_code, raised.exit_code, moved.exit_code, revoked.exit_code] == [0] * 4
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ")
    entries = _log(options, "--account", account)["entries"]
    assert [(entry["kind"], entry["reason"]) for entry in entries] == [
        ("key.revoked", "leaked"),
        ("key.created", None),
        ("plan.changed", None),
        ("limit.set", "pilot"),
        ("account.created", "signed order"),
    ]
    assert {entry["actor"]["kind"] for entry in entries} == {"operator"}
    assert all(str(entry["actor"]["id"]).startswith("cli") for entry in entries)
    assert entries[3]["after"]["override"] == {"limit": 300000, "grace_percent": None}


def test_audit_filters_by_kind_and_pages(options: list[str]) -> None:
    account = runner.invoke(app, ["accounts", "create", *options]).stdout.strip()
    database = options[1]
    with Engine.open(database, catalog="agentstack") as engine:
        for limit in (10, 20, 30):
            engine.set_limit(account, "api_calls", limit)

    first = _log(options, "--account", account, "--kind", "limit.set", "--limit", "2")
    entries = first["entries"]
    assert [entry["after"]["override"]["limit"] for entry in entries] == [30, 20]
    assert all(entry["actor"]["kind"] == "python" for entry in entries)
    rest = _log(options, "--kind", "limit.set", "--before", str(first["next_before"]))
    assert [entry["after"]["override"]["limit"] for entry in rest["entries"]] == [10]
    assert rest["next_before"] is None

    table = runner.invoke(app, ["audit", "--account", account, "--limit", "1", *options])
    assert table.exit_code == 0
    assert "limit.set" in table.stdout
    assert "more: --before" in table.stdout
    missing = runner.invoke(app, ["audit", "--account", "acct_nope", *options])
    assert missing.exit_code == 1
    assert "no account" in missing.stderr


def test_a_catalog_migration_writes_one_entry_per_account_moved(
    options: list[str], tmp_path: Path
) -> None:
    database = options[1]
    account = runner.invoke(app, ["accounts", "create", "--plan", "starter", *options])
    text = load_catalog("agentstack").text.replace("version: 1\n", "version: 2\n", 1)
    newer = tmp_path / "agentstack-v2.yaml"
    newer.write_text(text.replace('monthly: "29.00"', 'monthly: "39.00"', 1), encoding="utf-8")
    newer_options = ["--database", database, "--catalog", str(newer)]

    runner.invoke(app, ["plans", "migrate", *newer_options])
    moved = runner.invoke(
        app, ["plans", "migrate", "--apply", "--reason", "2027 prices", *newer_options]
    )
    runner.invoke(app, ["plans", "migrate", "--apply", *newer_options])

    assert moved.exit_code == 0
    entries = _log(newer_options, "--kind", "catalog.migrated")["entries"]
    assert len(entries) == 1, "showing the plan and moving nobody write nothing"
    entry = entries[0]
    assert (entry["account_id"], entry["reason"]) == (account.stdout.strip(), "2027 prices")
    assert (entry["before"], entry["after"]["catalog_version"]) == ({"catalog_version": 1}, 2)
    assert {
        "path": "plans.starter.price.monthly",
        "old": "29.00",
        "new": "39.00",
        "direction": "stricter",
    } in entry["after"]["changes"]
