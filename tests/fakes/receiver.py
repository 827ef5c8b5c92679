"""A webhook receiver for the fake Stripe's deliveries: it records what it is posted."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    body: bytes
    signature: str


@dataclass
class WebhookReceiver:
    """An HTTP endpoint that records what it is posted and answers ``status``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve_receiver() -> Iterator[WebhookReceiver]:
    """Serve a receiver on a free loopback port for the duration of the block."""
    receiver = WebhookReceiver()

    async def record(request: Request) -> Response:
        receiver.received.append(
            Received(await request.body(), request.headers.get("stripe-signature", ""))
        )
        return Response(status_code=receiver.status)

    port = _free_port()
    receiver.url = f"http://127.0.0.1:{port}/webhooks/stripe"
    app = Starlette(routes=[Route("/webhooks/stripe", record, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield receiver
    server.should_exit = True
    thread.join(timeout=10)
