"""A NUL character in an id, a key or a name is refused with 422 ``nul_character`` on both backends.

PostgreSQL cannot store NUL in text: before, its driver failed the statement and every such
request answered 500 there (SQLite stored it). The engine refuses it before the store sees it,
whatever door it came by, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meterstack import Engine
from meterstack.errors import NulCharacterError

EngineFactory = Callable[..., Engine]
NUL = "acct\x00x"


def _calls(engine: Engine, account_id: str) -> dict[str, Callable[[], object]]:
    return {
        "consume by account id": lambda: engine.consume(NUL, "api_calls", 1),
        "consume by idempotency key": lambda: engine.consume(
            account_id, "api_calls", 1, idempotency_key="key\x00"
        ),
        "consume by API key id": lambda: engine.consume(
            account_id, "api_calls", 1, api_key_id="apk\x00"
        ),
        "reserve by idempotency key": lambda: engine.reserve(
            account_id, "api_calls", 1, idempotency_key="\x00"
        ),
        "check": lambda: engine.check(NUL, "api_calls", 1),
        "account": lambda: engine.account(NUL),
        "usage": lambda: engine.usage(NUL),
        "subscription": lambda: engine.subscription(NUL),
        "commit": lambda: engine.commit("res\x00"),
        "release": lambda: engine.release("res\x00"),
        "invoice": lambda: engine.invoice("INV\x00"),
        "revoke a key": lambda: engine.revoke_api_key("apk\x00"),
        "delete a resource": lambda: engine.delete_resource("prj\x00"),
        "account name": lambda: engine.create_account(plan="pro", name="A\x00"),
        "account email": lambda: engine.create_account(plan="pro", email="a\x00@example.com"),
        "project name": lambda: engine.create_project(account_id, name="P\x00"),
        "key name": lambda: engine.create_api_key(account_id, name="K\x00"),
    }


def test_nul_in_ids_keys_and_names_is_refused_with_422_and_changes_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    for name, call in _calls(engine, account.id).items():
        with pytest.raises(NulCharacterError, match="NUL character") as refused:
            call()
        assert (refused.value.code, refused.value.http_status) == ("nul_character", 422), name
        assert isinstance(refused.value, ValueError)

    assert engine.usage(account.id).items["api_calls"].used == 0
    assert [key.name for key in engine.api_keys(account.id)] == []
    assert engine.resources(account.id) == []
    assert engine.directory.accounts().total == 1


def test_nul_in_one_event_of_a_batch_fails_that_event_alone(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    results = engine.consume_many(
        [
            {"account_id": account.id, "meter": "api_calls", "quantity": 2},
            {"account_id": NUL, "meter": "api_calls"},
            {"account_id": account.id, "meter": "api_calls", "idempotency_key": "k\x00"},
            {"account_id": account.id, "meter": "api_calls", "quantity": 3},
        ]
    )
    assert [getattr(result, "code", None) for result in results] == [
        "ok",
        "nul_character",
        "nul_character",
        "ok",
    ]
    assert engine.usage(account.id).items["api_calls"].used == 5
