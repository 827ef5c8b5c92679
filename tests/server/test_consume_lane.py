"""The consume lane answers exactly as the FastAPI route it stands in front of.

Two services on two databases with one clock get the same requests, one with the lane and one
without (``MeterstackApp.consume_lane = False``); every answer (status, headers, body) must be
the same once each account id is written as ``ACCOUNT``. The requests cover what the lane
answers itself (a valid body, a refusal, a domain error) and what it must leave to the route
(other keys, content types, bodies the model refuses), plus generated bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterstack import Engine, ManualClock
from meterstack.server import MeterstackApp, create_app
from meterstack.server.operator import DecisionJSON
from meterstack.server.settings import ServerSettings

START = datetime(2026, 1, 1, tzinfo=UTC)

KEY = "lane-operator-key"
JSON = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


class Pair:
    """The same service twice: with the consume lane, and without it."""

    def __init__(self, folder: Path) -> None:
        clock = ManualClock(START)
        self.engines = [
            Engine.open(f"sqlite:///{folder / name}.db", catalog="agentstack", clock=clock)
            for name in ("lane", "route")
        ]
        self.apps: list[MeterstackApp] = []
        self.accounts: list[str] = []
        for engine, lane in zip(self.engines, (True, False), strict=True):
            app = create_app(engine, ServerSettings(operator_key=KEY))
            app.consume_lane = lane
            self.apps.append(app)
            self.accounts.append(engine.create_account(plan="starter").id)

    def post(self, app: MeterstackApp, path: str, **request: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lane") as client:
                return await client.post(path, **request)

        return anyio.run(call)

    def both(self, path: str = "/v1/accounts/{account}/consume", **request: Any) -> Any:
        answers = []
        for app, account in zip(self.apps, self.accounts, strict=True):
            answer = self.post(app, path.format(account=account), **request)
            body = answer.text.replace(account, "ACCOUNT")
            headers = {
                name: value.replace(account, "ACCOUNT") for name, value in answer.headers.items()
            }
            headers.pop("content-length", None)  # the account ids may differ in length
            answers.append((answer.status_code, headers, body))
        lane, route = answers
        assert lane == route, request
        return lane

    def close(self) -> None:
        for engine in self.engines:
            engine.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    made = Pair(tmp_path)
    yield made
    made.close()


CASES: list[dict[str, Any]] = [
    {"json": {"meter": "api_calls", "quantity": 1}},
    {"json": {"meter": "api_calls"}},
    {"json": {"meter": "api_calls", "quantity": 5, "idempotency_key": "k1"}},
    {"json": {"meter": "api_calls", "quantity": 5, "idempotency_key": "k1"}},  # a replay
    {"json": {"meter": "api_calls", "quantity": 6, "idempotency_key": "k1"}},  # reused: 409
    {"json": {"meter": "api_calls", "quantity": 10**9}},  # past the limit: 429 and headers
    {"json": {"meter": "nope", "quantity": 1}},
    {"json": {"meter": "projects", "quantity": 1}},
    {"json": {"meter": "api_calls", "quantity": 1, "project_id": "prj_missing"}},
    {"json": {"meter": "api_calls", "quantity": 1, "api_key_id": "key_missing"}},
    {"json": {"meter": "api_calls", "quantity": 0}},
    {"json": {"meter": "api_calls", "quantity": -1}},
    {"json": {"meter": "api_calls", "quantity": 10**16}},
    {"json": {"meter": "api_calls", "quantity": "5"}},
    {"json": {"meter": "api_calls", "quantity": 2.0}},
    {"json": {"meter": "api_calls", "quantity": True}},
    {"json": {"meter": "api_calls", "quantity": None}},
    {"json": {"meter": "", "quantity": 1}},
    {"json": {"quantity": 1}},
    {"json": {"meter": "api_calls", "colour": "red"}},
    {"json": [1, 2]},
    {"json": "api_calls"},
    {"content": b"{not json"},
    {"content": b""},
    {"content": b'{"meter": "api_calls"}', "content_type": "text/plain"},
    {"content": b'{"meter": "api_calls"}', "content_type": "application/json; charset=utf-8"},
    {"content": b'{"meter": "api_c\\u0000alls"}'},
    {"content": '{"meter": "caf\u00e9"}'.encode("latin-1")},
    {"json": {"meter": "api_calls", "padding": "x" * 5000}},
    # A feature the request needs (C3): granted, lacking (402/403), unknown, malformed.
    {"json": {"meter": "api_calls", "quantity": 1, "requires": ["api_access"]}},
    {"json": {"meter": "api_calls", "quantity": 1, "requires": ["audit_logs"]}},
    {"json": {"meter": "api_calls", "quantity": 1, "requires": ["nope"]}},
    {"json": {"meter": "api_calls", "quantity": 1, "requires": "audit_logs"}},
    # Read from the bytes in one pass: the last of duplicate keys counts, as for the route.
    {"content": b'{"meter": "nope", "meter": "api_calls", "quantity": 7, "quantity": 2}'},
    {"content": b'{"meter": "api_calls", "quantity": 2, "quantity": 2.0}'},
    {"content": b'\xef\xbb\xbf{"meter": "api_calls"}'},
    {"content": b'{"meter": "api_calls"} {}'},
    {"content": b' \n{"meter": "api_calls", "amount": "1.5"}\t'},
    {"content": b'{"meter": "api_calls", "quantity": NaN}'},
    {"content": b'{"meter": "\\ud800"}'},
]


#: Any character, lone surrogates included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=8)
JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(content=st.dictionaries(ANY_TEXT, JSON_TEXT))
def test_decision_json_writes_the_bytes_of_jsonresponse(content: dict[str, Any]) -> None:
    try:
        expected = JSONResponse(content).body
    except UnicodeEncodeError:  # a lone surrogate: neither can write it as UTF-8
        with pytest.raises(UnicodeEncodeError):
            DecisionJSON(content)
        return
    assert DecisionJSON(content).body == expected


def test_consume_lane_answers_as_the_route(pair: Pair) -> None:
    # In order: each case meets the history of the ones before it (the replay, the reuse…).
    for case in CASES:
        _send(pair, case)


def _send(pair: Pair, case: dict[str, Any]) -> Any:
    headers = dict(JSON)
    if "content_type" in case:
        headers["Content-Type"] = case["content_type"]
    if "json" in case:
        return pair.both(content=json.dumps(case["json"]).encode(), headers=headers)
    return pair.both(content=case["content"], headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"bearer {KEY}"},
        {"Authorization": f"Bearer {KEY} "},
        {"Authorization": "Bearer ask_customer_key"},
        {"Authorization": f"Basic {KEY}"},
        [("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {KEY}")],
        [("Authorization", f"Bearer {KEY}"), ("Authorization", "Bearer wrong")],
    ],
)
def test_consume_lane_leaves_other_keys_to_the_route(pair: Pair, headers: Any) -> None:
    status, _, _ = pair.both(json={"meter": "api_calls"}, headers=headers)
    assert status in {200, 401, 403}


def test_consume_lane_unknown_account_and_query_and_other_paths(pair: Pair) -> None:
    body = {"meter": "api_calls"}
    assert pair.both("/v1/accounts/acct_nope/consume", json=body, headers=JSON)[0] == 404
    assert pair.both("/v1/accounts/{account}/consume?x=1", json=body, headers=JSON)[0] == 200
    assert pair.both("/v1/accounts/{account}/consume/", json=body, headers=JSON)[0] in {
        307,
        404,
    }
    assert pair.both("/v1/accounts/{account}/check", json=body, headers=JSON)[0] == 200


def test_consume_lane_answers_the_common_request_itself(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lane really is in front: FastAPI is reached only for the body the model refuses.
    reached: list[object] = []
    original = FastAPI.__call__

    async def spy(self: FastAPI, scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", spy)
    app, account = pair.apps[0], pair.accounts[0]
    path = f"/v1/accounts/{account}/consume"
    assert pair.post(app, path, json={"meter": "api_calls"}, headers=JSON).status_code == 200
    assert pair.post(app, path, json={"meter": 5}, headers=JSON).status_code == 422
    assert reached == [path]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
FIELDS = st.sampled_from(
    ["meter", "quantity", "project_id", "idempotency_key", "api_key_id", "requires", "other"]
)
BODIES = st.dictionaries(
    FIELDS,
    st.one_of(
        JSON_VALUES,
        st.sampled_from(["api_calls", "logic_engine_calls", "nope"]),
        st.integers(-2, 3),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_consume_lane_generated_bodies_answer_as_the_route(
    pair: Pair, body: dict[str, Any]
) -> None:
    pair.both(content=json.dumps(body).encode(), headers=JSON)
