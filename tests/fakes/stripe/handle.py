"""Serving the fake on loopback, and the tests' handle on it.

``serve()`` runs the fake on uvicorn in a thread on a free port of 127.0.0.1 and yields a
``FakeStripeHandle``: ``client()`` is a real ``stripe.StripeClient`` pointed at the fake, and the
other methods drive the control API over HTTP, so a test acts on the fake exactly as the code
under test sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import stripe

from fakes.serving import served

from .app import FakeStripe, create_app

JsonObject = dict[str, Any]
T = TypeVar("T")
DEFAULT_API_KEY = "sk_test_fake_stripe_key"


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    secret: str


class FakeStripeHandle:
    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self._http = httpx.Client(base_url=url, timeout=30)

    def close(self) -> None:
        self._http.close()

    def client(self, **options: Any) -> stripe.StripeClient:
        """The official client, unchanged, talking to the fake (no network retries)."""
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            self.api_key,
            base_addresses={
                "api": self.url,
                "connect": self.url,
                "files": self.url,
                "meter_events": self.url,
            },
            **options,
        )

    def _call(
        self,
        method: str,
        path: str,
        body: JsonObject | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = self._http.request(method, f"/_fake{path}", json=body, params=params)
        if response.status_code >= 400:
            raise FakeStripeControlError(response.status_code, response.json())
        return response.json()

    # The buyer, on Stripe's hosted pages.
    def complete_checkout(
        self, session_id: str, *, outcome: str = "paid", card: str = "visa"
    ) -> JsonObject:
        """``outcome``: ``paid`` (a card, at once) or ``processing`` (a bank debit, later)."""
        session: JsonObject = self._call(
            "POST", f"/checkout/sessions/{session_id}/complete", {"outcome": outcome, "card": card}
        )
        return session

    def settle_checkout(self, session_id: str, *, succeeded: bool) -> JsonObject:
        session: JsonObject = self._call(
            "POST", f"/checkout/sessions/{session_id}/settle", {"succeeded": succeeded}
        )
        return session

    def add_card(self, customer_id: str, *, card: str = "visa", default: bool = True) -> JsonObject:
        """Save a card (``visa``, ``mastercard``, ``chargeCustomerFail``) to a customer."""
        method: JsonObject = self._call(
            "POST", f"/customers/{customer_id}/cards", {"card": card, "default": default}
        )
        return method

    # The card network and the banks.
    def decline_next_charge(
        self, customer_id: str, *, decline_code: str = "generic_decline"
    ) -> None:
        self._call("POST", f"/customers/{customer_id}/decline_next", {"decline_code": decline_code})

    def open_dispute(
        self, charge_id: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> JsonObject:
        dispute: JsonObject = self._call(
            "POST", f"/charges/{charge_id}/dispute", {"reason": reason, "amount": amount}
        )
        return dispute

    def close_dispute(self, dispute_id: str, *, won: bool) -> JsonObject:
        dispute: JsonObject = self._call("POST", f"/disputes/{dispute_id}/close", {"won": won})
        return dispute

    def complete_onboarding(self, account_id: str) -> JsonObject:
        account: JsonObject = self._call("POST", f"/accounts/{account_id}/onboard")
        return account

    # Time.
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._call("GET", "/clock")["now"], UTC)

    def advance_clock(self, by: timedelta) -> datetime:
        now = self._call("POST", "/clock", {"seconds": int(by.total_seconds())})["now"]
        return datetime.fromtimestamp(now, UTC)

    # Reading the fake.
    def object(self, object_id: str, *, expand: tuple[str, ...] = ()) -> JsonObject:
        obj: JsonObject = self._call(
            "GET", f"/objects/{object_id}", params={"expand": list(expand)}
        )
        return obj

    def objects(self, object_name: str | None = None) -> list[JsonObject]:
        params = {"object": object_name} if object_name else None
        found: list[JsonObject] = self._call("GET", "/objects", params=params)
        return found

    def events(self, event_type: str | None = None) -> list[JsonObject]:
        """Every event so far, oldest first."""
        return [
            event
            for event in self.objects("event")
            if event_type is None or event["type"] == event_type
        ]

    def requests(self) -> list[JsonObject]:
        """The API requests the fake answered: method, path, status, idempotency key, replay."""
        logged: list[JsonObject] = self._call("GET", "/requests")
        return logged

    # Webhooks.
    def add_webhook_endpoint(
        self, url: str, *, events: tuple[str, ...] = ("*",), connect: bool = False
    ) -> WebhookEndpoint:
        endpoint = self._call(
            "POST", "/webhook_endpoints", {"url": url, "events": list(events), "connect": connect}
        )
        return WebhookEndpoint(endpoint["id"], endpoint["url"], endpoint["secret"])

    def pending_deliveries(self) -> list[JsonObject]:
        pending: list[JsonObject] = self._call("GET", "/webhooks/pending")
        return pending

    def deliver(
        self, *, events: list[str] | None = None, reverse: bool = False, repeat: int = 1
    ) -> list[JsonObject]:
        """Post pending events to their endpoints: all, or ``events`` in the order given."""
        body: JsonObject = {"order": "reversed" if reverse else "created", "repeat": repeat}
        if events is not None:
            body["events"] = events
        deliveries: list[JsonObject] = self._call("POST", "/webhooks/deliver", body)
        return deliveries

    def redeliver(self, event_id: str, *, endpoint: str | None = None) -> list[JsonObject]:
        deliveries: list[JsonObject] = self._call(
            "POST", f"/events/{event_id}/redeliver", {"endpoint": endpoint}
        )
        return deliveries

    def signed_event(self, event_id: str, endpoint_id: str) -> tuple[bytes, str]:
        """An event's payload and ``Stripe-Signature`` header, for a test to post itself."""
        signed = self._call("GET", f"/events/{event_id}/signed", params={"endpoint": endpoint_id})
        return signed["payload"].encode(), signed["signature"]


def expanded(value: object, kind: type[T]) -> T:
    """An expanded field (``str | PaymentIntent | None`` to the type checker) as its object."""
    if not isinstance(value, kind):
        raise TypeError(f"expected an expanded {kind.__name__}, got {value!r}")
    return value


class FakeStripeControlError(Exception):
    def __init__(self, status: int, body: JsonObject) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@contextmanager
def serve(
    *,
    start: datetime | None = None,
    api_key: str = DEFAULT_API_KEY,
    search_delay: timedelta = timedelta(0),
) -> Iterator[FakeStripeHandle]:
    """A fresh fake Stripe account on loopback; its clock starts at ``start``.

    Without ``start`` the clock starts at the current time, read once: webhook signatures then
    pass ``stripe.Webhook.construct_event``'s tolerance, which is judged on the system clock.
    """
    moment = int((start or datetime.now(UTC)).timestamp())
    delay = int(search_delay.total_seconds())

    def app_for(url: str) -> Any:
        return create_app(FakeStripe.create(api_key, moment, url, search_delay=delay))

    with served(app_for) as url:
        handle = FakeStripeHandle(url, api_key)
        try:
            yield handle
        finally:
            handle.close()
