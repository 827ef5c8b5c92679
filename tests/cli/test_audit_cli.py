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
