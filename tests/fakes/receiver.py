"""A webhook receiver for the fake Stripe's deliveries: it records what it is posted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakes.serving import served


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


@contextmanager
def serve_receiver() -> Iterator[WebhookReceiver]:
    """Serve a receiver on a free loopback port for the duration of the block."""
    receiver = WebhookReceiver()

    async def record(request: Request) -> Response:
        receiver.received.append(
            Received(await request.body(), request.headers.get("stripe-signature", ""))
        )
        return Response(status_code=receiver.status)

    app = Starlette(routes=[Route("/webhooks/stripe", record, methods=["POST"])])
    with served(lambda url: app) as url:
        receiver.url = f"{url}/webhooks/stripe"
        yield receiver
