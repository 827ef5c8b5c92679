"""The operator's own setup in the audit log from the command line, on every backend: webhook
endpoint commands and a payout run name the CLI's operator; ``meterstack audit`` shows an
operator-wide entry with no account and filters by a family of kinds."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from typer.testing import CliRunner

from meterstack import Engine
from meterstack.cli import app
from meterstack.services.payments.local import LocalProvider

runner = CliRunner()


def _run(*args: str) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def _audit(options: list[str], *query: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(_run("audit", "--json", *query, *options))["entries"]
    return entries


def test_webhook_endpoint_commands_record_the_cli_operator_and_no_secret(store_url: str) -> None:
    options = ["--database", store_url, "--catalog", "agentstack"]
    made = json.loads(_run("webhooks", "endpoints", "create", "http://10.0.0.9/hooks", *options))
    endpoint = made["endpoint"]["id"]
    _run("webhooks", "endpoints", "update", endpoint, "--disable", *options)
    rotated = json.loads(_run("webhooks", "endpoints", "rotate", endpoint, *options))
    _run("webhooks", "endpoints", "delete", endpoint, *options)
    refused = runner.invoke(app, ["webhooks", "endpoints", "delete", endpoint, *options])
    assert refused.exit_code == 1

    entries = _audit(options, "--kind", "webhook.*")
    assert [(entry["kind"], entry["account_id"]) for entry in entries] == [
        ("webhook.endpoint_deleted", None),
        ("webhook.secret_rotated", None),
        ("webhook.endpoint_updated", None),
        ("webhook.endpoint_created", None),
    ]
    assert {entry["actor"]["kind"] for entry in entries} == {"operator"}
    assert all(str(entry["actor"]["id"]).startswith("cli") for entry in entries)
    kept = json.dumps(entries)
    assert made["secret"] not in kept
    assert rotated["secret"] not in kept
    table = _run("audit", "--kind", "webhook.endpoint_created", *options)
    assert "webhook.endpoint_created" in table
    assert "–" in table, "no account is shown as a dash"


def test_a_payout_run_from_the_cli_records_its_start_and_the_payout(store_url: str) -> None:
    options = ["--database", store_url, "--catalog", "aerostack"]
    provider = LocalProvider("http://127.0.0.1:8000")
    with Engine.open(store_url, catalog="aerostack", provider=provider) as engine:
        buyer = engine.create_account(plan="pro")
        creator = engine.create_account(plan="pro")
        engine.adjust_wallet(buyer.id, Decimal("20"), "funds")
        item = engine.create_item(creator.id, "Tool", Decimal("5.00"))
        for _ in range(3):
            assert engine.charge(buyer.id, "marketplace_tool_call", item_id=item.id).allowed

    _run("payouts", "run", *options)
    _run("payouts", "run", *options)  # nothing left: only its start is recorded

    starts = _audit(options, "--kind", "payout.run_started")
    assert len(starts) == 2
    assert {entry["account_id"] for entry in starts} == {None}
    assert all(str(entry["actor"]["id"]).startswith("cli") for entry in starts)
    [paid] = _audit(options, "--account", creator.id, "--kind", "payout.*")
    assert paid["kind"] == "payout.paid"
    assert paid["after"]["amount"] == "12.00"
    assert paid["after"]["run_id"] == starts[1]["after"]["run_id"], "paid by the first run"
