"""Webhook management from the SDK (D28): ``client.webhooks`` (operator key) and
``client.billing_webhooks`` (a customer's key, its own account's endpoints).

::

    hook = operator.webhooks.create_endpoint("https://hooks.example.com/billing")
    print(hook.secret)            # whsec_…, shown once: verify deliveries with it
    for delivery in operator.webhooks.deliveries(status="failed"):
        operator.webhooks.replay(delivery.id)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from meterstack.client import _webhook_calls as calls
from meterstack.client._calls import Call
from meterstack.client.webhook_models import (
    RegisteredWebhook,
    RotatedWebhookSecret,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

T = TypeVar("T")


class Webhooks:
    """The webhook calls of :class:`~meterstack.client.Client`."""

    def __init__(self, send: Callable[[Call[Any]], Any], base: str) -> None:
        self._send = send
        self._base = base

    def create_endpoint(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        account_id: str | None = None,
    ) -> RegisteredWebhook:
        """A new endpoint; ``account_id`` (operator only) limits it to one account's events."""
        body = calls.endpoint_body(url, event_types, description, account_id=account_id)
        result: RegisteredWebhook = self._send(calls.create_endpoint(self._base, body))
        return result

    def endpoints(self, *, account_id: str | None = None) -> list[WebhookEndpoint]:
        result: list[WebhookEndpoint] = self._send(calls.endpoints(self._base, account_id))
        return result

    def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        result: WebhookEndpoint = self._send(calls.endpoint(self._base, endpoint_id))
        return result

    def update_endpoint(self, endpoint_id: str, **changes: Any) -> WebhookEndpoint:
        """Change ``url``, ``event_types``, ``description`` or ``enabled``."""
        result: WebhookEndpoint = self._send(
            calls.update_endpoint(self._base, endpoint_id, changes)
        )
        return result

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._send(calls.delete_endpoint(self._base, endpoint_id))

    def rotate_secret(
        self, endpoint_id: str, *, overlap_seconds: int | None = None
    ) -> RotatedWebhookSecret:
        result: RotatedWebhookSecret = self._send(
            calls.rotate_secret(self._base, endpoint_id, overlap_seconds)
        )
        return result

    def events(
        self, *, account_id: str | None = None, event_type: str | None = None, limit: int = 100
    ) -> list[WebhookEvent]:
        result: list[WebhookEvent] = self._send(
            calls.events(self._base, account_id=account_id, event_type=event_type, limit=limit)
        )
        return result

    def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[WebhookDelivery]:
        result: list[WebhookDelivery] = self._send(
            calls.deliveries(
                self._base, endpoint_id=endpoint_id, event_id=event_id, status=status, limit=limit
            )
        )
        return result

    def attempts(self, delivery_id: str, *, endpoint_id: str | None = None) -> list[WebhookAttempt]:
        """A delivery's attempts (a customer also names the delivery's endpoint)."""
        result: list[WebhookAttempt] = self._send(
            calls.attempts(self._base, delivery_id, endpoint_id)
        )
        return result

    def replay(self, delivery_id: str, *, endpoint_id: str | None = None) -> WebhookDelivery:
        result: WebhookDelivery = self._send(calls.replay(self._base, delivery_id, endpoint_id))
        return result


class AsyncWebhooks:
    """The webhook calls of :class:`~meterstack.client.AsyncClient`; :class:`Webhooks`' mirror."""

    def __init__(self, send: Callable[[Call[Any]], Awaitable[Any]], base: str) -> None:
        self._send = send
        self._base = base

    async def create_endpoint(
        self,
        url: str,
        *,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        account_id: str | None = None,
    ) -> RegisteredWebhook:
        body = calls.endpoint_body(url, event_types, description, account_id=account_id)
        result: RegisteredWebhook = await self._send(calls.create_endpoint(self._base, body))
        return result

    async def endpoints(self, *, account_id: str | None = None) -> list[WebhookEndpoint]:
        result: list[WebhookEndpoint] = await self._send(calls.endpoints(self._base, account_id))
        return result

    async def endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        result: WebhookEndpoint = await self._send(calls.endpoint(self._base, endpoint_id))
        return result

    async def update_endpoint(self, endpoint_id: str, **changes: Any) -> WebhookEndpoint:
        result: WebhookEndpoint = await self._send(
            calls.update_endpoint(self._base, endpoint_id, changes)
        )
        return result

    async def delete_endpoint(self, endpoint_id: str) -> None:
        await self._send(calls.delete_endpoint(self._base, endpoint_id))

    async def rotate_secret(
        self, endpoint_id: str, *, overlap_seconds: int | None = None
    ) -> RotatedWebhookSecret:
        result: RotatedWebhookSecret = await self._send(
            calls.rotate_secret(self._base, endpoint_id, overlap_seconds)
        )
        return result

    async def events(
        self, *, account_id: str | None = None, event_type: str | None = None, limit: int = 100
    ) -> list[WebhookEvent]:
        result: list[WebhookEvent] = await self._send(
            calls.events(self._base, account_id=account_id, event_type=event_type, limit=limit)
        )
        return result

    async def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[WebhookDelivery]:
        result: list[WebhookDelivery] = await self._send(
            calls.deliveries(
                self._base, endpoint_id=endpoint_id, event_id=event_id, status=status, limit=limit
            )
        )
        return result

    async def attempts(
        self, delivery_id: str, *, endpoint_id: str | None = None
    ) -> list[WebhookAttempt]:
        result: list[WebhookAttempt] = await self._send(
            calls.attempts(self._base, delivery_id, endpoint_id)
        )
        return result

    async def replay(self, delivery_id: str, *, endpoint_id: str | None = None) -> WebhookDelivery:
        result: WebhookDelivery = await self._send(
            calls.replay(self._base, delivery_id, endpoint_id)
        )
        return result
