"""A keyed consume's counters, record and hour written in one statement (PostgreSQL): the record
holds the decision the last totals seen lead to, and is rewritten when the totals reached are
others; whatever the path, a replay answers exactly what the request answered (D7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from meterstack import Engine
from meterstack.rules.decisions import Decision
from meterstack.rules.history import Granularity
from meterstack.services.history import HistoryQuery

EngineFactory = Callable[..., Engine]


def _consume(engine: Engine, account: str, project: str, quantity: int, key: str) -> Decision:
    return engine.consume(account, "api_calls", quantity, project_id=project, idempotency_key=key)


def test_d7_a_record_written_before_its_totals_were_known_replays_the_answer_given(
    open_engine: EngineFactory,
) -> None:
    """Two engines (two connections) take turns on one account: each finds the counters moved
    by the other since it last saw them, so the decision its record was written with is not
    the one it answers, and the record is rewritten before the commit."""
    first, second = open_engine("agentstack"), open_engine("agentstack")
    account = first.create_account(plan="starter").id
    first.set_limit(account, "api_calls", 40)
    project = first.create_project(account).id
    answers: dict[str, Decision] = {}
    for turn in range(12):
        engine = first if turn % 2 == 0 else second
        key = f"turn-{turn}"
        answers[key] = _consume(engine, account, project, 1 + turn % 3, key)
        answers[f"again-{turn}"] = _consume(engine, account, project, 1, f"again-{turn}")

    assert (answers["turn-11"].used, answers["again-11"].used) == (35, 36)
    for index, (key, answered) in enumerate(answers.items()):
        engine = (first, second)[index % 2]  # replayed by either engine
        quantity = answered.quantity
        replay = _consume(engine, account, project, quantity, key)
        assert replay.replayed, key
        assert replay.to_dict() | {"replayed": False} == answered.to_dict(), key
    assert first.usage(account)["api_calls"].used == 36
    assert first.usage(account, project_id=project)["api_calls"].used == 36


def test_d7_a_key_stored_by_another_engine_meanwhile_counts_once(
    open_engine: EngineFactory,
) -> None:
    """An engine that has seen the counters sends counters and record in one statement; the
    key was stored by another engine in between: nothing it wrote stays, and it replays."""
    first, second = open_engine("agentstack"), open_engine("agentstack")
    account = first.create_account(plan="pro").id
    project = first.create_project(account).id
    for turn in range(3):  # both engines' connections have seen the counters
        _consume(first, account, project, 1, f"warm-{turn}")
        _consume(second, account, project, 1, f"warm-second-{turn}")

    stored = _consume(second, account, project, 5, "shared")
    replay = _consume(first, account, project, 5, "shared")

    assert (stored.replayed, replay.replayed) == (False, True)
    assert replay.to_dict() | {"replayed": False} == stored.to_dict()
    assert first.usage(account)["api_calls"].used == 11
    assert first.usage(account, project_id=project)["api_calls"].used == 11
    days = HistoryQuery(account, datetime(2025, 12, 1, tzinfo=UTC), None, Granularity.DAY)
    buckets = first.history.history(days, operator=True).buckets
    assert [(bucket.meter, bucket.used) for bucket in buckets] == [("api_calls", 11)]


def test_d7_a_refusal_after_the_counters_were_seen_stores_no_record(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter").id
    engine.set_limit(account, "api_calls", 5)
    project = engine.create_project(account).id
    _consume(engine, account, project, 4, "fits")

    refused = _consume(engine, account, project, 3, "too-many")
    fits = _consume(engine, account, project, 1, "too-many")  # the key was not stored

    assert (refused.allowed, refused.http_status) == (False, 429)
    assert (fits.allowed, fits.replayed, fits.used) == (True, False, 5)
    assert engine.usage(account, project_id=project)["api_calls"].used == 5
