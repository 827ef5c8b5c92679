"""``meterstack wallet …`` (B2, D20, D24): show, deposit, charge, transactions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from meterstack import Engine
from meterstack.cli import app

runner = CliRunner()


def test_b2_d24_the_wallet_commands(tmp_path: Path) -> None:
    options = ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "aerostack"]
    account = runner.invoke(app, ["accounts", "create", "--plan", "pro", *options]).stdout.strip()

    small = runner.invoke(app, ["wallet", "deposit", account, "4.99", *options])
    deposited = runner.invoke(app, ["wallet", "deposit", account, "10.00", *options])
    charged = runner.invoke(app, ["wallet", "charge", account, "bot_message", "1000", *options])
    free = runner.invoke(app, ["wallet", "charge", account, "agent_execution", "--byok", *options])
    refused = runner.invoke(app, ["wallet", "charge", account, "agent_execution", "801", *options])
    shown = runner.invoke(app, ["wallet", "show", account, "--json", *options])
    listed = runner.invoke(app, ["wallet", "transactions", account, "--json", *options])
    table = runner.invoke(app, ["wallet", "transactions", account, "--limit", "1", *options])

    assert small.exit_code == 1
    assert "at least the minimum deposit 5.00" in small.stderr
    assert json.loads(deposited.stdout)["balance"] == "10.000000"
    assert json.loads(charged.stdout)["balance"] == "8.000000"
    assert json.loads(free.stdout)["price"] == "0.000000"
    assert refused.exit_code == 2
    assert json.loads(refused.stdout)["code"] == "insufficient_balance"
    assert json.loads(shown.stdout)["balance"] == "8.000000"
    kinds = [row["kind"] for row in json.loads(listed.stdout)["transactions"]]
    assert kinds == ["charge", "charge", "deposit"]
    assert "more: --before" in table.stdout


def test_d23_payouts_run_pays_once(tmp_path: Path) -> None:
    options = ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "aerostack"]
    with Engine.open(f"sqlite:///{tmp_path / 'cli.db'}", catalog="aerostack") as engine:
        buyer = engine.create_account(plan="pro")
        creator = engine.create_account(plan="pro")
        engine.adjust_wallet(buyer.id, Decimal("20"), "funds")
        item = engine.create_item(creator.id, "Tool", Decimal("5.00"))
        for _ in range(3):
            engine.charge(buyer.id, "marketplace_tool_call", item_id=item.id)

    first = runner.invoke(app, ["payouts", "run", "--json", *options])
    second = runner.invoke(app, ["payouts", "run", *options])

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["payouts"][0]["amount"] == "12.00"
    assert second.stdout.startswith("0 payouts")
