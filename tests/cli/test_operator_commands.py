"""The operator CLI: accounts create, consume, usage; --database/--catalog and their env vars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterstack import Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.cli import app

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_consume_prints_the_decision_and_exits_2_when_refused(database: str) -> None:
    options = ["--database", database, "--catalog", "flowstack"]
    created = runner.invoke(app, ["accounts", "create", "--plan", "free", *options])
    account = created.stdout.strip()

    admitted = runner.invoke(app, ["consume", account, "sessions", "25", *options])
    refused = runner.invoke(app, ["consume", account, "sessions", "1", *options])

    assert created.exit_code == 0
    assert account.startswith("acct_")
    assert admitted.exit_code == 0
    assert json.loads(admitted.stdout)["used"] == 25
    assert refused.exit_code == 2
    body = json.loads(refused.stdout)
    assert (body["code"], body["http_status"], body["limit"]) == ("limit_exceeded", 429, 25)


def test_usage_reads_database_and_catalog_from_the_environment(database: str) -> None:
    env = {"METERSTACK_DATABASE_URL": database, "METERSTACK_CATALOG": "aerostack"}
    account = runner.invoke(app, ["accounts", "create"], env=env).stdout.strip()
    runner.invoke(app, ["consume", account, "api_requests", "1200"], env=env)

    shown = runner.invoke(app, ["usage", account, "--json"], env=env)
    table = runner.invoke(app, ["usage", account], env=env)

    assert shown.exit_code == 0
    items = json.loads(shown.stdout)["items"]
    assert (items["api_requests"]["used"], items["api_requests"]["limit"]) == (1200, 50_000)
    assert items["api_requests"]["hard_limit"] == 55_000
    assert "api_requests" in table.stdout
    assert "1,200" in table.stdout


def test_unknown_account_and_meter_are_precise_errors(database: str) -> None:
    options = ["--database", database]
    account = runner.invoke(app, ["accounts", "create", "--plan", "free", *options]).stdout.strip()

    missing = runner.invoke(app, ["usage", "acct_missing", *options])
    bad_meter = runner.invoke(app, ["consume", account, "sesions", "1", *options])
    bad_plan = runner.invoke(app, ["accounts", "create", "--plan", "gold", *options])

    assert (missing.exit_code, missing.stderr.strip()) == (1, "error: no account 'acct_missing'")
    assert bad_meter.exit_code == 1
    assert "unknown meter 'sesions'" in bad_meter.stderr
    assert bad_plan.exit_code == 1
    assert "unknown plan 'gold'" in bad_plan.stderr


def test_resources_and_gauges_commands(database: str) -> None:
    options = ["--database", database, "--catalog", "aerostack"]
    account = runner.invoke(app, ["accounts", "create", "--plan", "starter", *options])
    account_id = account.stdout.strip()

    created = [
        runner.invoke(app, ["resources", "create", account_id, "gateway_apis", *options])
        for _ in range(3)
    ]
    listed = runner.invoke(
        app, ["resources", "list", account_id, "--kind", "gateway_apis", *options]
    )
    first = json.loads(created[0].stdout)["id"]
    deleted = runner.invoke(app, ["resources", "delete", first, *options])
    stored = runner.invoke(app, ["gauges", "set", account_id, "storage", "1000", *options])
    too_much = runner.invoke(app, ["gauges", "set", account_id, "storage", str(10**15), *options])

    assert [result.exit_code for result in created] == [0, 0, 0]
    assert len(json.loads(listed.stdout)) == 3
    assert deleted.exit_code == 0
    assert (stored.exit_code, json.loads(stored.stdout)["used"]) == (0, 1000)
    assert too_much.exit_code == 2
    assert json.loads(too_much.stdout)["code"] == "hard_limit_exceeded"


def test_keys_commands_show_the_key_once_and_revoke_it(database: str) -> None:
    options = ["--database", database]
    account = runner.invoke(app, ["accounts", "create", "--plan", "starter", *options])
    account_id = account.stdout.strip()
    project = runner.invoke(app, ["resources", "create", account_id, "projects", *options])
    project_id = json.loads(project.stdout)["id"]

    created = runner.invoke(
        app,
        ["keys", "create", account_id, "--project", project_id, "--quota", "api_calls=5", *options],
    )
    issued = json.loads(created.stdout)
    uncapped = runner.invoke(
        app, ["consume", account_id, "api_calls", "6", "--project", project_id, *options]
    )
    capped = runner.invoke(
        app,
        [
            *("consume", account_id, "api_calls", "6", "--project", project_id),
            *("--api-key", issued["id"], *options),
        ],
    )
    revoked = runner.invoke(app, ["keys", "revoke", issued["id"], *options])
    bad_quota = runner.invoke(app, ["keys", "create", account_id, "--quota", "api_calls", *options])

    assert created.exit_code == 0
    assert issued["key"].startswith("apk_")
    assert uncapped.exit_code == 0  # without the key, only the account's limit applies
    assert capped.exit_code == 2
    assert json.loads(capped.stdout)["limit"] == 5
    assert revoked.exit_code == 0
    assert bad_quota.exit_code == 1
    assert "a quota is METER=UNITS" in bad_quota.stderr


def test_period_close_and_invoices_commands(database: str, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    with Engine.open(database, catalog="agentstack", clock=clock) as engine:
        account = engine.create_account(plan="starter")
        engine.set_overage(account.id, True)
        engine.consume(account.id, "logic_engine_calls", 60_000)
    # The commands read the wall clock, long past January 2026: January closes, and each
    # month since.
    options = ["--database", database]

    closed = runner.invoke(app, ["period", "close", "--json", *options])
    again = runner.invoke(app, ["period", "close", *options])
    listed = runner.invoke(app, ["invoices", "list", account.id, "--json", *options])
    first = next(
        invoice
        for invoice in json.loads(listed.stdout)
        if any(line["item"] == "logic_engine_calls" for line in invoice["lines"])
    )
    shown = runner.invoke(app, ["invoices", "show", first["number"], *options])
    html = runner.invoke(app, ["invoices", "show", first["number"], "--html", *options])
    pdf = tmp_path / "invoice.pdf"
    written = runner.invoke(app, ["invoices", "pdf", first["number"], "-o", str(pdf), *options])

    assert closed.exit_code == 0
    assert len(json.loads(closed.stdout)) >= 1
    assert again.stdout.startswith("0 invoices created")
    assert first["period"] == "2026-01"
    overage = next(line for line in first["lines"] if line["item"] == "logic_engine_calls")
    assert overage["amount"] == "10.00"
    assert "10,000 over" in shown.stdout
    assert html.stdout.startswith("<!DOCTYPE html>")
    assert written.exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_plans_migrate_shows_then_moves_grandfathered_accounts(
    database: str, tmp_path: Path
) -> None:
    account = runner.invoke(
        app, ["accounts", "create", "--plan", "starter", "--database", database]
    )
    text = load_catalog("agentstack").text.replace("version: 1\n", "version: 2\n", 1)
    newer = tmp_path / "agentstack-v2.yaml"
    newer.write_text(text.replace('monthly: "29.00"', 'monthly: "39.00"', 1), encoding="utf-8")
    options = ["--database", database, "--catalog", str(newer)]

    shown = runner.invoke(app, ["plans", "migrate", *options])
    moved = runner.invoke(app, ["plans", "migrate", "--apply", "--json", *options])
    after = runner.invoke(app, ["plans", "migrate", *options])

    assert shown.exit_code == 0
    assert shown.stdout.startswith("1 accounts would move")
    assert "plans.starter.price.monthly: 29.00 -> 39.00 (stricter)" in shown.stdout
    assert json.loads(moved.stdout)[0]["account_id"] == account.stdout.strip()
    assert after.stdout.startswith("0 accounts would move")


def test_d7_purge_keys_reports_how_many_keys_went(database: str) -> None:
    options = ["--database", database, "--catalog", "flowstack"]
    account = runner.invoke(app, ["accounts", "create", "--plan", "free", *options]).stdout.strip()
    runner.invoke(app, ["consume", account, "sessions", "1", "--key", "k1", *options])

    purged = runner.invoke(app, ["purge-keys", *options])

    assert purged.exit_code == 0
    assert purged.stdout.strip() == "0 idempotency keys past the retention deleted"
    replay = runner.invoke(app, ["consume", account, "sessions", "1", "--key", "k1", *options])
    assert json.loads(replay.stdout)["replayed"] is True


def test_d7_purge_keys_refuses_an_empty_window_with_the_engines_message(database: str) -> None:
    options = ["--database", database, "--catalog", "flowstack"]

    refused = runner.invoke(app, ["purge-keys", "--window", "0", *options])

    assert refused.exit_code == 1
    assert "the purge window must be at least one key" in refused.output


def test_a8_keys_list_shows_prefixes_never_the_key_text(database: str) -> None:
    options = ["--database", database]
    account = runner.invoke(app, ["accounts", "create", "--plan", "pro", *options]).stdout.strip()
    created = json.loads(runner.invoke(app, ["keys", "create", account, *options]).stdout)
    runner.invoke(app, ["keys", "revoke", created["id"], *options])

    live = runner.invoke(app, ["keys", "list", account, "--json", *options])
    every = runner.invoke(app, ["keys", "list", account, "--revoked", "--json", *options])
    table = runner.invoke(app, ["keys", "list", account, "--revoked", *options])
    missing = runner.invoke(app, ["keys", "list", "acct_missing", *options])

    assert json.loads(live.stdout) == {"keys": []}
    listed = json.loads(every.stdout)["keys"]
    assert [(key["id"], key["prefix"]) for key in listed] == [(created["id"], created["prefix"])]
    assert listed[0]["revoked_at"] is not None
    assert created["prefix"] in table.stdout
    assert created["key"] not in every.stdout + table.stdout
    assert missing.exit_code == 1
