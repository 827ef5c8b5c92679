"""Webhook delivery, signed as Stripe signs it.

Every event is queued for each enabled endpoint that subscribes to its type (``*`` for all);
events about a connected account (``account`` set) go to Connect endpoints only, and the others
to account endpoints only. Delivery happens when a test asks (``deliver``), never by itself, so a
test decides when events arrive, in which order, and how many times. A delivery answered with a
non-2xx status stays pending and goes again on the next ``deliver``, as Stripe retries.

The signature is Stripe's: ``Stripe-Signature: t=<timestamp>,v1=<hex>``, the HMAC-SHA256 of
``"<timestamp>.<payload>"`` keyed by the endpoint's ``whsec_`` secret, with the fake's clock as
the timestamp (so a receiver judging the tolerance on the same clock sees a fresh signature).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

import httpx

from .state import JsonObject, State, private, public


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payload(event: JsonObject) -> bytes:
    """The body Stripe posts: the event, pretty-printed as Stripe prints it."""
    return json.dumps(public(event), indent=2).encode()


@dataclass(frozen=True)
class Delivery:
    event: str
    endpoint: str
    status: int | None
    error: str | None = None


@dataclass
class Webhooks:
    state: State
    #: Pending (event id, endpoint id) pairs, in the order the events happened.
    pending: list[tuple[str, str]] = field(default_factory=list)
    log: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state.listeners.append(self.enqueue)

    def enqueue(self, event: JsonObject) -> None:
        for endpoint in self.state.all("webhook_endpoint"):
            if self._subscribed(endpoint, event):
                self.pending.append((event["id"], endpoint["id"]))
                event["pending_webhooks"] += 1

    @staticmethod
    def _subscribed(endpoint: JsonObject, event: JsonObject) -> bool:
        if endpoint["status"] != "enabled":
            return False
        if bool(private(endpoint).get("connect")) != (event.get("account") is not None):
            return False
        events = endpoint["enabled_events"]
        return "*" in events or event["type"] in events

    def signed(self, event_id: str, endpoint_id: str) -> tuple[bytes, str]:
        event = self.state.get(event_id, "event")
        endpoint = self.state.get(endpoint_id, "webhook_endpoint")
        body = payload(event)
        return body, sign(body, private(endpoint)["secret"], self.state.clock.now())

    async def deliver(
        self, *, event_ids: list[str] | None = None, reverse: bool = False, repeat: int = 1
    ) -> list[Delivery]:
        """Post the pending deliveries (or those of ``event_ids``), ``repeat`` times each."""
        chosen = [pair for pair in self.pending if event_ids is None or pair[0] in event_ids]
        if event_ids is not None:
            chosen.sort(key=lambda pair: event_ids.index(pair[0]))
        if reverse:
            chosen.reverse()
        results: list[Delivery] = []
        async with httpx.AsyncClient(timeout=30) as client:
            for event_id, endpoint_id in chosen:
                for _ in range(repeat):
                    results.append(await self._post(client, event_id, endpoint_id))
        return results

    async def redeliver(self, event_id: str, endpoint_id: str | None = None) -> list[Delivery]:
        """Send an event again, delivered or not (Stripe's "Resend" in the Dashboard)."""
        event = self.state.get(event_id, "event")
        endpoints = (
            [self.state.get(endpoint_id, "webhook_endpoint")]
            if endpoint_id
            else [e for e in self.state.all("webhook_endpoint") if self._subscribed(e, event)]
        )
        async with httpx.AsyncClient(timeout=30) as client:
            return [await self._post(client, event_id, e["id"]) for e in endpoints]

    async def _post(self, client: httpx.AsyncClient, event_id: str, endpoint_id: str) -> Delivery:
        body, signature = self.signed(event_id, endpoint_id)
        endpoint = self.state.get(endpoint_id, "webhook_endpoint")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            response = await client.post(endpoint["url"], content=body, headers=headers)
        except httpx.HTTPError as error:
            delivery = Delivery(event_id, endpoint_id, None, str(error))
        else:
            delivery = Delivery(event_id, endpoint_id, response.status_code)
        self.log.append(delivery)
        if delivery.status is not None and 200 <= delivery.status < 300:
            self._delivered(event_id, endpoint_id)
        return delivery

    def _delivered(self, event_id: str, endpoint_id: str) -> None:
        if (event_id, endpoint_id) in self.pending:
            self.pending.remove((event_id, endpoint_id))
            event = self.state.objects[event_id]
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
