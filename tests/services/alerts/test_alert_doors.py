"""Alerts and budgets through every door: HTTP (customer and operator), the SDK (sync and
async) and the CLI (D25, D26, C8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from meterstack.cli import app
from meterstack.client import AsyncClient, BudgetExceededError, Client, ConflictError
from meterstack.rules.alerts import MAX_ALERTS

OPERATOR_KEY = "operator-secret"
runner = CliRunner()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d25_d26_the_sync_sdk_and_http_routes(live_service: Callable[..., Any]) -> None:
    service = live_service("agentstack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="free")
        with Client(base, account.user_api_key, retries=0) as customer:
            customer.switch_overage(True, meter="logic_engine_calls")
            made = customer.alerts.create("usage_percent", meter="api_calls", threshold="80")
            by_operator = operator.alerts.create(
                "current_charges", threshold="1.00", account_id=account.id
            )
            budget = customer.alerts.set_budget("0.50", mode="hard")
            operator.consume(account.id, "api_calls", 40_000)
            operator.consume(account.id, "logic_engine_calls", 10_000)
            operator.consume(account.id, "logic_engine_calls", 500)
            with pytest.raises(BudgetExceededError) as refused:
                operator.consume(account.id, "logic_engine_calls", 5)
            listed = customer.alerts.list()
            shown = customer.alerts.get(made.id)
            seen = operator.alerts.budget(account_id=account.id)
            assert customer.alerts.delete(made.id)
            for _ in range(MAX_ALERTS - 1):  # one is left: the operator's
                customer.alerts.create("payment_failed")
            with pytest.raises(ConflictError):
                customer.alerts.create("payment_failed")
            cleared = operator.alerts.set_budget(None, account_id=account.id)

    assert (made.kind, made.meter, made.threshold, made.status) == (
        "usage_percent",
        "api_calls",
        Decimal("80"),
        "armed",
    )
    assert by_operator.source == "account"
    assert (budget.amount, budget.mode, budget.actual) == (Decimal("0.50"), "hard", Decimal("0"))
    assert refused.value.code == "budget_exceeded"
    assert refused.value.status == 402
    assert shown.status == "triggered"
    assert shown.triggered_at is not None
    assert {alert.id for alert in listed} == {made.id, by_operator.id}
    assert (seen.charges, seen.percent) == (Decimal("0.50"), Decimal("100.0"))
    assert cleared.amount is None

    answer = service.get("/api/billing/budget")  # no key
    assert answer.status_code == 401


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d25_the_async_sdk(live_service: Callable[..., Any]) -> None:
    service = live_service("flowstack")
    base = str(service.base_url)

    async def scenario() -> tuple[list[Any], Any]:
        async with AsyncClient(base, OPERATOR_KEY) as operator:
            account = await operator.create_account(plan="starter")
            await operator.consume(account.id, "sessions", 760)
            alerts = await operator.alerts.list(account_id=account.id)
            budget = await operator.alerts.set_budget("100.00", mode="soft", account_id=account.id)
            return alerts, budget

    alerts, budget = anyio.run(scenario)
    assert [(a.id, a.source, a.status) for a in alerts] == [
        ("catalog_sessions_75", "catalog", "triggered"),
        ("catalog_sessions_90", "catalog", "armed"),
        ("catalog_sessions_95", "catalog", "armed"),
    ]
    assert budget.mode == "soft"


def test_d25_d26_the_cli(tmp_path: Path) -> None:
    options = ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "flowstack"]
    account = runner.invoke(app, ["accounts", "create", "--plan", "starter", *options])
    account_id = account.stdout.strip()
    added = runner.invoke(
        app, ["alerts", "add", account_id, "usage_units", "--meter", "sessions",
              "--threshold", "10", "--json", *options],
    )  # fmt: skip
    bad = runner.invoke(app, ["alerts", "add", account_id, "usage_units", *options])
    listed = runner.invoke(app, ["alerts", "list", account_id, "--json", *options])
    budget = runner.invoke(app, ["alerts", "set-budget", account_id, "120.00", *options])
    shown = runner.invoke(app, ["alerts", "budget", account_id, "--json", *options])
    alert_id = json.loads(added.stdout)["id"]
    deleted = runner.invoke(app, ["alerts", "delete", account_id, alert_id, *options])
    cleared = runner.invoke(app, ["alerts", "set-budget", account_id, "--clear", *options])

    assert added.exit_code == 0, added.output
    assert bad.exit_code == 1
    assert "names a meter" in bad.stderr
    kinds = [(row["kind"], row["source"]) for row in json.loads(listed.stdout)]
    assert kinds == [("usage_percent", "catalog")] * 3 + [("usage_units", "account")]
    assert "hard budget 120.00 USD" in budget.stdout
    view = json.loads(shown.stdout)
    assert (view["amount"], view["fee"], view["actual"]) == ("120.00", "50.00", "50.00")
    assert deleted.stdout.strip() == f"deleted {alert_id}"
    assert cleared.stdout.startswith("no budget")
