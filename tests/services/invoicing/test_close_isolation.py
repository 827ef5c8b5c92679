"""Period close isolation: an account that cannot be rated no longer stops the others.

Before, any fault in one account's rating (an idle account on a ``percentage`` price did it,
until per-transaction amounts were recorded) raised out of the close, and no account of the run
was invoiced. Now that account is left unclosed and recorded with its reason, reported by the
engine, the CLI (exit 1, the account named) and the API; the others are invoiced. The fault is
injected into the rating of one chosen account by an invoice check (``Engine.open(invoice_check=
...)``, or ``METERSTACK_INVOICE_CHECK`` for the CLI and the service), which fails its account as
a rating fault does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterstack import Engine, ManualClock
from meterstack.cli import app
from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import Invoice

EngineFactory = Callable[..., Engine]

CARD_PRICED = """
catalog: cards
name: Cards
version: 1
meters:
  requests: {name: Requests}
  card_payments: {name: Card payments}
plans:
  payg:
    name: Pay as you go
    price: {monthly: "10.00"}
    limits: {requests: unlimited, card_payments: unlimited}
    usage_prices:
      requests: {model: standard, unit_price: "0.01"}
  cards:
    name: Cards
    price: {monthly: "10.00"}
    limits: {requests: unlimited, card_payments: unlimited}
    usage_prices:
      card_payments: {model: percentage, percent: "2.9", fixed_fee: "0.30"}
policies:
  fallback_plan: payg
"""


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    path = tmp_path / "cards.yaml"
    path.write_text(CARD_PRICED, encoding="utf-8")
    return str(path)


def test_period_close_isolation_an_account_that_cannot_be_rated_fails_alone(
    open_engine: EngineFactory, clock: ManualClock, catalog: str, unratable: set[str]
) -> None:
    engine = open_engine(catalog)
    before = engine.create_account(plan="payg")
    unrated = engine.create_account(plan="cards")
    unratable.add(unrated.id)
    after = engine.create_account(plan="payg")
    engine.consume(after.id, "requests", 300)
    opened = engine.invoices(unrated.id)  # its first fee, invoiced when it started
    clock.advance(timedelta(days=31))

    closed = engine.close_period()

    assert sorted(invoice.account_id for invoice in closed) == sorted([before.id, after.id])
    assert [invoice.total for invoice in engine.invoices(after.id)][-1] == 13  # 10 + 300 x 0.01
    [failure] = closed.failures
    assert (failure.account_id, failure.period_key) == (unrated.id, "2026-01")
    assert failure.reason == "ArithmeticError: rating fault"
    assert engine.close_failures() == [failure]
    assert engine.invoices(unrated.id) == opened

    again = engine.close_period()  # still unclosed, still reported; nothing more for the rest
    assert list(again) == []
    assert [f.account_id for f in again.failures] == [unrated.id]


def test_period_close_isolation_an_injected_fault_fails_its_account_and_later_closes_it(
    open_engine: EngineFactory,
    clock: ManualClock,
    catalog: str,
) -> None:
    refused: set[str] = set()

    def failing(invoice: Invoice) -> None:  # a fault in the rating of the accounts refused
        if invoice.account_id in refused:
            raise ArithmeticError("rating fault")

    engine = open_engine(catalog, invoice_check=failing)
    accounts = [engine.create_account(plan="payg").id for _ in range(3)]
    faulty = accounts[1]
    refused.add(faulty)
    clock.advance(timedelta(days=62))  # two periods end: the faulty account closes neither

    closed = engine.close_period()

    assert sorted({invoice.account_id for invoice in closed}) == sorted([accounts[0], accounts[2]])
    assert len(closed) == 4
    assert [(f.account_id, f.period_key, f.reason) for f in closed.failures] == [
        (faulty, "2026-01", "ArithmeticError: rating fault")
    ]

    refused.clear()  # fixed: the next close invoices it
    recovered = engine.close_period()
    assert sorted(invoice.period_key for invoice in recovered) == ["2026-01", "2026-02"]
    assert {invoice.account_id for invoice in recovered} == {faulty}
    assert recovered.failures == []
    assert engine.close_failures() == []


def test_period_close_isolation_the_cli_exits_1_naming_the_account(
    tmp_path: Path, catalog: str, unratable: set[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'close.db'}"
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    with Engine.open(database, catalog=catalog, clock=clock) as engine:
        billed = engine.create_account(plan="payg")
        unrated = engine.create_account(plan="cards")
    unratable.add(unrated.id)

    # The command reads the wall clock, long past January 2026.
    result = CliRunner().invoke(
        app, ["period", "close", "--database", database, "--catalog", catalog]
    )

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()  # (a blank line the progress bar leaves)
    assert line.startswith(f"error: account {unrated.id} was not closed (period 2026-01): ")
    assert line.endswith("ArithmeticError: rating fault")
    assert "invoices created" in result.stdout
    with Engine.open(database, catalog=catalog) as engine:
        assert len(engine.invoices(billed.id)) > 1
        assert [f.account_id for f in engine.close_failures()] == [unrated.id]


def test_period_close_isolation_the_api_lists_the_failures(
    live_service: Callable[..., Any], clock: ManualClock, catalog: str, unratable: set[str]
) -> None:
    client = live_service(catalog)
    operator = {"Authorization": "Bearer operator-secret"}
    billed = client.post("/v1/accounts", json={"plan": "payg"}, headers=operator).json()
    unrated = client.post("/v1/accounts", json={"plan": "cards"}, headers=operator).json()
    unratable.add(unrated["id"])
    clock.advance(timedelta(days=31))

    answer = client.post("/v1/periods/close", headers=operator)

    assert answer.status_code == 200
    body = answer.json()
    assert body["created"] == 1
    [failure] = body["failures"]
    assert (failure["account_id"], failure["period"]) == (unrated["id"], "2026-01")
    assert failure["reason"] == "ArithmeticError: rating fault"
    invoices = client.get(f"/v1/accounts/{billed['id']}/invoices", headers=operator).json()
    assert [invoice["number"] for invoice in invoices["invoices"]][-1] == body["invoices"][0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fakes.invoice_checks", "must name a function as module:function"),
        ("fakes.invoice_checks:UNRATABLE", "must name a function as module:function"),
        ("fakes.no_such_module:check", "cannot import 'fakes.no_such_module'"),
    ],
)
def test_period_close_isolation_an_invoice_check_that_cannot_be_found_is_refused(
    tmp_path: Path, catalog: str, monkeypatch: pytest.MonkeyPatch, spec: str, message: str
) -> None:
    monkeypatch.setenv("METERSTACK_INVOICE_CHECK", spec)

    with pytest.raises(InvalidInputError, match=message) as refused:
        Engine.open(f"sqlite:///{tmp_path / 'close.db'}", catalog=catalog)

    assert refused.value.http_status == 422
    assert "METERSTACK_INVOICE_CHECK" in refused.value.message
