"""A FastAPI app metered by meterstack: every chat message is one FlowStack session (C1, C5).

Run it (with meterstack installed, from the repository's root)::

    python examples/fastapi_app.py
    # or: uvicorn --factory --app-dir examples fastapi_app:create_app

It opens an in-process engine on SQLite (``flowstack-example.db`` in the current directory, or
``METERSTACK_DATABASE_URL``) with the built-in FlowStack catalog, creates a Free account
(25 sessions per billing cycle) and prints its API key. Then::

    curl -i -X POST localhost:8000/chat -H "Authorization: Bearer <key>" \\
         -H "Content-Type: application/json" -d '{"message": "hello"}'
    curl localhost:8000/usage -H "Authorization: Bearer <key>"

Each answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``; the
26th message of the cycle is refused with 429 ``limit_exceeded``, ``Retry-After`` and the
current usage and limit, while ``/usage`` and ``/health`` keep answering.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from meterstack import Engine
from meterstack.errors import AuthenticationError
from meterstack.middleware import MeteringMiddleware, Scope

DATABASE_URL = "sqlite:///flowstack-example.db"


class Message(BaseModel):
    message: str


def create_app(database_url: str | None = None) -> FastAPI:
    """The app, its engine, and a Free demo account whose key is in ``app.state.demo_key``."""
    url = database_url or os.environ.get("METERSTACK_DATABASE_URL") or DATABASE_URL
    engine = Engine.open(url, catalog="flowstack")
    account = engine.create_account("free")
    demo_key = engine.create_api_key(account.id, name="demo").key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        print(f"Free account {account.id}; its API key: {demo_key}")
        yield
        engine.close()

    def account_of_key(authorization: str) -> str | None:
        """The account of a ``Bearer <API key>`` header; None without a valid key."""
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        try:
            return engine.authenticate(key.strip()).account_id
        except AuthenticationError:
            return None

    async def account_of(scope: Scope) -> str | None:
        """The middleware's question: whose request is this? (None: not metered.)"""
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        account_id = await anyio.to_thread.run_sync(account_of_key, authorization)
        # Starlette's request.state: the endpoint reads it instead of authenticating again.
        scope.setdefault("state", {})["account_id"] = account_id
        return account_id

    app = FastAPI(title="meterstack FlowStack example", lifespan=lifespan)
    app.state.demo_key = demo_key
    app.add_middleware(
        MeteringMiddleware,
        engine_or_client=engine,
        meter="sessions",
        account_of=account_of,
        exempt_paths=("/usage", "/health"),
    )

    def account_id_of(request: Request) -> str:
        account_id: str | None = getattr(request.state, "account_id", None)
        if account_id is None:  # an exempt path, or no valid key
            account_id = account_of_key(request.headers.get("authorization", ""))
        if account_id is None:
            raise HTTPException(401, "send Authorization: Bearer <API key>")
        return account_id

    @app.post("/chat")
    def chat(body: Message, request: Request) -> dict[str, str]:
        account_id_of(request)
        return {"reply": f"You said: {body.message}"}

    @app.get("/usage")
    def usage(request: Request) -> dict[str, Any]:
        sessions = engine.usage(account_id_of(request)).items["sessions"]
        return {"sessions_used": sessions.used, "sessions_limit": sessions.limit}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
