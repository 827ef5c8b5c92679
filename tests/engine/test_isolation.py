"""A request that fails fails alone: the requests sharing its transaction are decided without it.

The poison is below every check of the engine: a trigger of the database refuses the idempotency
record of one chosen key (a constraint violation, on SQLite and PostgreSQL alike), so the request
passes validation, admits its units, and only then fails inside the store, as input the doors
let through or a broken row would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from meterstack import Decision, Engine, UsageEvent
from meterstack.errors import InternalError, InvalidInputError

EngineFactory = Callable[..., Engine]
POISON = "poison"
FAULTS = (sqlite3.IntegrityError, psycopg.IntegrityError)


def poison(store_url: str) -> None:
    """Make the database refuse the idempotency record of the key ``poison``."""
    if store_url.startswith("sqlite:///"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as connection:
            connection.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON idempotency_keys "
                f"WHEN NEW.key = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned key'); END"
            )
        return
    parts = urlsplit(store_url)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as connection:
        connection.execute(f'SET search_path = "{schema}"')
        connection.execute(
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.key = '{POISON}' THEN RAISE EXCEPTION 'poisoned key' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        connection.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON idempotency_keys "
            "FOR EACH ROW EXECUTE FUNCTION poison()"
        )


def test_d7_a_poisoned_event_of_a_batch_fails_alone_and_the_others_are_decided(
    open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    project = engine.create_project(account.id)
    poison(store_url)
    events: list[UsageEvent | dict[str, Any]] = [
        UsageEvent(account.id, "api_calls", 1 + n % 20 % 3, project.id, f"k{n % 20}")
        for n in range(40)
    ]
    events[17] = UsageEvent(account.id, "api_calls", 5, project.id, POISON)
    events[23] = {"account_id": account.id, "quantity": 2}  # malformed: no meter
    events[31] = {"account_id": account.id, "meter": "api_calls", "quantity": "lots"}

    results = engine.consume_many(events)

    poisoned = results[17]
    assert isinstance(poisoned, InternalError)
    assert (poisoned.code, poisoned.http_status) == ("internal_error", 500)
    assert isinstance(poisoned.__cause__, FAULTS)
    assert isinstance(results[23], InvalidInputError)
    assert "meter" in results[23].message
    assert isinstance(results[31], InvalidInputError)
    good = [n for n in range(40) if n not in (17, 23, 31)]
    decided = {n: results[n] for n in good}
    assert all(isinstance(result, Decision) and result.allowed for result in decided.values())
    first_of_key: dict[int, int] = {}
    for n in good:
        first_of_key.setdefault(n % 20, n)
    replayed = [n for n in good if results[n].replayed]  # type: ignore[union-attr]
    assert replayed == [n for n in good if first_of_key[n % 20] != n]
    counted = sum(1 + key % 3 for key in first_of_key)
    assert engine.usage(account.id)["api_calls"].used == counted
    assert engine.usage(account.id, project_id=project.id)["api_calls"].used == counted


def test_d7_among_300_concurrent_consumes_a_poisoned_one_harms_no_other(
    open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", "unlimited")
    project = engine.create_project(account.id)
    poison(store_url)
    # 300 good requests on 240 keys (60 retries of a key already sent), 12 poisoned ones.
    calls: list[dict[str, Any]] = [
        {"quantity": 1 + n % 4, "idempotency_key": f"good-{n % 240}"} for n in range(300)
    ]
    for n in range(12):
        calls.insert(n * 25 + 7, {"quantity": 3, "idempotency_key": POISON})

    def call(arguments: dict[str, Any]) -> Decision | Exception:
        try:
            return engine.consume(account.id, "api_calls", project_id=project.id, **arguments)
        except Exception as error:
            return error

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(call, calls))

    good = [
        (arguments, answer)
        for arguments, answer in zip(calls, answers, strict=True)
        if arguments["idempotency_key"] != POISON
    ]
    poisoned = [
        answer
        for arguments, answer in zip(calls, answers, strict=True)
        if arguments["idempotency_key"] == POISON
    ]
    assert len(good) == 300
    failed = [
        answer for _, answer in good if not isinstance(answer, Decision) or not answer.allowed
    ]
    assert failed == []
    assert len(poisoned) == 12
    assert all(isinstance(answer, FAULTS) and "poisoned" in str(answer) for answer in poisoned)
    fresh = [arguments["idempotency_key"] for arguments, answer in good if not answer.replayed]  # type: ignore[union-attr]
    assert sorted(fresh) == sorted({f"good-{n}" for n in range(240)})
    counted = sum(1 + n % 4 for n in range(240))
    assert engine.usage(account.id)["api_calls"].used == counted
    assert engine.usage(account.id, project_id=project.id)["api_calls"].used == counted


def test_a_malformed_event_of_a_batch_request_gets_its_own_error(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("aerostack")
    operator = {"Authorization": "Bearer operator-secret"}
    account_id = client.post("/v1/accounts", json={"plan": "starter"}, headers=operator).json()[
        "id"
    ]
    good = {"account_id": account_id, "meter": "api_requests", "quantity": 2}

    answer = client.post(
        "/v1/usage/batch",
        json={
            "events": [
                good,
                {"account_id": account_id, "meter": "api_requests", "quantity": "two"},
                {"account_id": account_id},
                "not an event",
                {**good, "quantity": 3},
            ]
        },
        headers=operator,
    )

    results = answer.json()["results"]
    assert answer.status_code == 200
    assert [("decision" in result, "error" in result) for result in results] == [
        (True, False),
        (False, True),
        (False, True),
        (False, True),
        (True, False),
    ]
    assert [results[n]["error"]["code"] for n in (1, 2, 3)] == ["invalid_input"] * 3
    assert results[4]["decision"]["used"] == 5
    usage = client.get(f"/v1/accounts/{account_id}/usage", headers=operator).json()
    assert usage["items"]["api_requests"]["used"] == 5


def test_a_batch_with_only_a_fault_and_a_refusal_records_nothing(
    open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    poison(store_url)

    results = engine.consume_many(
        [
            UsageEvent(account.id, "sessions", 4, None, POISON),
            UsageEvent(account.id, "sessions", 40),
        ]
    )

    assert isinstance(results[0], InternalError)
    assert isinstance(results[1], Decision)
    assert (results[1].allowed, results[1].http_status) == (False, 429)
    assert engine.usage(account.id)["sessions"].used == 0
