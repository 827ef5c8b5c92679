"""What customers read never names a rule of the spec (``(D11)``, ``A5``), and periods on
invoices are named as a person names them (``April 2026``), not by counter keys.

Rule ids belong to the docs and the tests; a customer reading "(D3)" on an invoice learns
nothing. The scenario below makes the engine answer every kind of decision, refusal and
invoice line of the built-in catalogs, and every text is scanned; the source of the modules
that write those texts is scanned too, for texts a scenario might miss.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meterstack import Decision, Engine, ManualClock
from meterstack.catalog import Catalog
from meterstack.errors import MeterstackError
from meterstack.records.invoicing import Invoice
from meterstack.rules.examples import evaluate_examples
from meterstack.rules.rating import rate_usage
from meterstack.services.invoicing.render import render_html

EngineFactory = Callable[..., Engine]
GB = 10**9
#: A rule id of SPEC.md: a letter of its sections and a number.
RULE_ID = re.compile(r"\b[A-E][0-9]{1,2}\b")
#: A counter key of a period (``2026-04``, ``2026-04-15``) or an ISO timestamp.
PERIOD_KEY = re.compile(r"\b\d{4}-\d{2}(-\d{2})?\b")
SOURCE = Path(__file__).parents[2] / "src" / "meterstack"
#: Where customer-facing texts are written: decisions, refusals, rating, invoices, events.
TEXT_MODULES = ("rules", "services", "invoicing", "webhooks", "errors.py", "answers.py")
#: String constants there that are not text for people (the PDF's paper size).
NOT_TEXT = {"A4"}


class Texts:
    """Every text the scenario made the engine say."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def decision(self, decision: Decision) -> Decision:
        self.said += [decision.message, *decision.warnings]
        return decision

    def refusal(self, call: Callable[[], Any]) -> None:
        with pytest.raises(MeterstackError) as raised:
            call()
        self.said.append(raised.value.message)

    def invoice(self, invoice: Invoice) -> None:
        self.said.append(invoice.period_name)
        for line in invoice.lines:
            self.said.append(line.description)
            self.said += [value for value in line.derivation.values() if isinstance(value, str)]


def _agentstack(engine: Engine, clock: ManualClock, texts: Texts) -> None:
    say = texts.decision
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)
    say(engine.consume(account.id, "logic_engine_calls", 45_000, project_id=project.id))
    say(engine.consume(account.id, "logic_engine_calls", 5_000))
    say(engine.consume(account.id, "logic_engine_calls", 1))  # refused: overage off
    hold = engine.reserve(account.id, "api_calls", 10)
    say(hold.decision or _missing())
    say(engine.commit(hold.id or "", 5))
    big = engine.reserve(account.id, "api_calls", 199_990)
    say(engine.commit(big.id or "", 200_000))  # past the limit without overage: excess
    engine.set_overage(account.id, True)
    say(engine.consume(account.id, "logic_engine_calls", 1_500))  # overage
    say(engine.set_gauge(account.id, "project_storage", 2 * GB))  # storage overage
    say(engine.adjust_gauge(account.id, "project_storage", -GB))
    say(engine.require_feature(account.id, "audit_logs"))  # 402 upgrade_required
    say(engine.check_payment(account.id))
    texts.invoice(engine.buy_pack(account.id, "storage_5gb").invoice)
    texts.invoice(engine.buy_pack(account.id, "logic_engine_small").invoice)
    engine.change_plan(account.id, "pro")
    texts.refusal(lambda: engine.consume(account.id, "no_such_meter", 1))
    texts.refusal(lambda: engine.consume(account.id, "api_calls", 0))
    texts.refusal(lambda: engine.commit(hold.id or "", 1))
    engine.consume(account.id, "api_calls", 1, idempotency_key="k")
    texts.refusal(lambda: engine.consume(account.id, "api_calls", 2, idempotency_key="k"))
    anonymous = engine.create_account(plan="anonymous")
    say(engine.check_payment(anonymous.id))
    texts.refusal(lambda: engine.set_overage(anonymous.id, True))
    clock.advance(timedelta(days=62))
    for invoice in engine.close_period():
        texts.invoice(invoice)
    for invoice in engine.invoices(account.id):
        texts.invoice(invoice)


def _aerostack(engine: Engine, texts: Texts) -> None:
    say = texts.decision
    account = engine.create_account(plan="free")
    say(engine.consume(account.id, "api_requests", 50_100))  # grace
    say(engine.consume(account.id, "api_requests", 5_000))  # past the hard limit: 403
    lease = engine.acquire_lease(account.id, "realtime_connections")
    say(lease.decision)
    hold = engine.reserve(account.id, "ai_tokens", 10)
    say(hold.decision or _missing())


def _flowstack(engine: Engine, clock: ManualClock, texts: Texts) -> None:
    say = texts.decision
    account = engine.create_account(plan="free")
    say(engine.consume(account.id, "sessions", 24, requires=["managed_models"]))  # 403
    hold = engine.reserve(account.id, "sessions", 25, ttl=60)
    say(hold.decision or _missing())
    say(engine.consume(account.id, "sessions", 1))  # C5 refused
    clock.advance(timedelta(seconds=61))
    texts.refusal(lambda: engine.commit(hold.id or "", 25))  # lapsed
    paid = engine.create_account(plan="hobbyist")
    say(engine.consume(paid.id, "sessions", 190))
    clock.advance(timedelta(days=40))
    for invoice in engine.close_period():
        texts.invoice(invoice)


def _missing() -> Decision:
    raise AssertionError("a hold answers its decision")


def _rated_texts(catalogs: list[Catalog]) -> Iterator[str]:
    """Rating notes of every plan of every built-in catalog, past every limit, overage off and
    on, and of every worked example."""
    for catalog in catalogs:
        for result in evaluate_examples(catalog):
            yield result.message
            yield from (line.note for line in result.lines)
        for plan in catalog.plans:
            usage = {
                item: int(limit) * 2 + 1 if isinstance(limit, int) else 10
                for item, limit in plan.limits.items()
                if item in catalog.meters or item in catalog.gauges
            }
            for overage in (False, True):
                lines = rate_usage(catalog, plan, usage, overage=overage)
                yield from (line.note for line in lines)


def test_no_customer_text_names_a_rule_id(open_engine: EngineFactory, clock: ManualClock) -> None:
    texts = Texts()
    engines = [open_engine(name) for name in ("agentstack", "aerostack", "flowstack")]
    _agentstack(engines[0], clock, texts)
    _aerostack(engines[1], texts)
    _flowstack(engines[2], clock, texts)
    said = [*texts.said, *_rated_texts([engine.catalog for engine in engines])]

    assert len(said) > 100, "the scenario made the engine say too little to prove anything"
    named = [text for text in said if RULE_ID.search(text)]
    assert named == []


def test_no_customer_text_in_the_source_names_a_rule_id() -> None:
    found: list[str] = []
    for module in TEXT_MODULES:
        path = SOURCE / module
        for source in [path] if path.is_file() else sorted(path.rglob("*.py")):
            found += [
                f"{source.relative_to(SOURCE)}:{line}: {text!r}"
                for line, text in _texts_of(source)
                if RULE_ID.search(text) and text not in NOT_TEXT
            ]
    assert found == []


def _texts_of(source: Path) -> Iterator[tuple[int, str]]:
    """The string constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(source.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_pack_invoices_name_their_period_as_a_person_does(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 4, 12, 9, 30, tzinfo=UTC))
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")

    bought = engine.buy_pack(account.id, "storage_5gb").invoice
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    (closed,) = [invoice for invoice in engine.close_period() if invoice.account_id == account.id]
    listed = next(line for line in closed.lines if line.kind == "pack")
    page = render_html(bought)

    assert bought.period_name == "April 2026"
    (line,) = bought.lines
    assert (
        line.description == "Storage pack 5 GB, bought 12 April 2026 (one-time, permanent capacity)"
    )
    assert line.derivation["note"] == (
        "+5 GB of Project storage every period from April 2026 on, one-time price 0.50 USD"
    )
    assert "<dt>Period</dt><dd>April 2026</dd>" in page
    assert listed.description == "Storage pack 5 GB, bought 12 April 2026 (invoiced when bought)"
    assert closed.period_name == "April 2026"
    for text in (bought.period_name, line.description, line.derivation["note"], listed.description):
        assert not PERIOD_KEY.search(text), text
    assert bought.period_key not in page
