"""``POST /v1/accounts/{id}/consume`` without FastAPI's per-request machinery.

Consume is the door every metered request of a platform goes through. Behind FastAPI it cost
several times the engine's own decision: route matching over every route, dependency
resolution, the request model's validation wrapped in FastAPI's error collection, the
exception middleware's task, all before a decision that takes tens of microseconds. The lane
serves the common request itself, with the route's own parts: the operator key as
configured, a JSON body that the route's model (:class:`~meterstack.server.bodies.ConsumeBody`)
accepts, the same engine call off the event loop (:mod:`.consume_queue`, where concurrent
requests share transactions as in the engine's group commit), and the route's answer
(:func:`~meterstack.server.operator.decision_response`) or the one error shape.

Every other request, and every request it is not sure of (another or no key, another content
type, a body the model refuses, a large body) goes on to the FastAPI route untouched, its body
replayed, so that it answers exactly as before; the OpenAPI document still describes that
route. The lane answers in front of the application's middleware: a check that must hold for
every request belongs in the request models (which the lane uses) or in a middleware that
turns the lane off. tests/server/test_consume_lane.py compares the two answers over many
requests.
"""

from __future__ import annotations

import hmac
import re

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from meterstack.errors import MeterstackError
from meterstack.server.bodies import ConsumeBody
from meterstack.server.consume_queue import ConsumeQueue
from meterstack.server.errors import domain_error_response
from meterstack.server.operator import decision_response, usage_event
from meterstack.server.settings import ServerSettings

_PATH = re.compile(r"/v1/accounts/([^/]+)/consume")
#: A consume body is a few hundred bytes; anything much larger is left to the route.
MAX_BODY = 4096


def lane_match(scope: Scope) -> re.Match[str] | None:
    """The account id of a request the lane may answer (a POST to consume, no query)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
        return None
    path: str = scope["path"]
    if "\x00" in path:
        return None  # the route refuses it (server/contract.py)
    return _PATH.fullmatch(path)


async def serve_consume(
    app: FastAPI, account: re.Match[str], scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one consume request, or hand it to ``app`` (the FastAPI route) as it came."""
    state = app.state
    read: list[Message] = []
    request = None
    if _ours(scope, state.settings):
        body = await _body(receive, read)
        request = None if body is None else _consume_request(body)
    if request is None:
        await FastAPI.__call__(app, scope, _replay(read, receive), send)
        return
    queue: ConsumeQueue = state.consume_queue
    try:
        # Decided off the event loop, in groups (server/consume_queue.py): the loop goes on
        # reading and answering meanwhile.
        decision = await queue.decide(usage_event(account.group(1), request))
        response = decision_response(decision)
    except MeterstackError as error:
        response = domain_error_response(error)
    await response(scope, receive, send)


def _ours(scope: Scope, settings: ServerSettings) -> bool:
    """The operator key exactly as configured, and a JSON body: what the lane answers."""
    authorization = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is not None:
                return False  # which one counts is the route's business
            authorization = value
        elif name == b"content-type":
            if content_type is not None:
                return False
            content_type = value
    key = settings.operator_key
    return (
        key is not None
        and authorization is not None
        and hmac.compare_digest(authorization, b"Bearer " + key.encode())
        and content_type == b"application/json"
    )


async def _body(receive: Receive, read: list[Message]) -> bytes | None:
    """The whole body, or None when it is larger than a consume's or the client left; every
    message taken from ``receive`` is kept in ``read`` for the route."""
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return None
        if not message.get("more_body", False):
            return b"".join(part.get("body", b"") for part in read)


def _consume_request(body: bytes) -> ConsumeBody | None:
    """The body as the route's model reads it; None when the route should say what is wrong.

    Parsed and validated in one pass from the bytes (pydantic's JSON mode, strict as the
    model is): UTF-8 only, as the route reads it, and a body it accepts is one the route's
    ``json.loads`` and the same model accept with the same values (duplicate keys included:
    the last one counts in both). Whatever it refuses goes to the route, which says why.
    """
    if b"\\u0000" in body:
        return None  # a NUL character, perhaps: the route refuses it (server/contract.py)
    try:
        return ConsumeBody.model_validate_json(body)
    except ValidationError:
        return None


def _replay(read: list[Message], receive: Receive) -> Receive:
    """``receive`` for the route: the messages the lane took first, then the client's."""
    pending = list(reversed(read))

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
