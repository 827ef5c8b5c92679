"""What each webhook call of the SDK sends and how its answer is read (D28).

Operator calls are under ``/v1/webhooks``; a customer's, under ``/api/billing/webhooks``, reach
only its own account's endpoints. Like :mod:`meterstack.client._calls`, each request is
described once, for the sync and async clients alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

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
OPERATOR = "/v1/webhooks"
CUSTOMER = "/api/billing/webhooks"


def _id(value: str) -> str:
    return quote(value, safe="")


def _query(path: str, **params: Any) -> str:
    given = {name: value for name, value in params.items() if value is not None}
    return f"{path}?{urlencode(given)}" if given else path


def _many(key: str, read: Callable[[Mapping[str, Any]], T]) -> Callable[[Any], list[T]]:
    return lambda data: [read(item) for item in data[key]]


def _deleted(data: Any) -> None:
    del data


def endpoint_body(
    url: str, event_types: Sequence[str] | None, description: str | None, **more: Any
) -> dict[str, Any]:
    body = {"url": url, "event_types": list(event_types or ()), **more}
    if description is not None:
        body["description"] = description
    return {name: value for name, value in body.items() if value is not None}


def create_endpoint(base: str, body: dict[str, Any]) -> Call[RegisteredWebhook]:
    path = f"{base}/endpoints" if base == OPERATOR else base
    return Call("POST", path, RegisteredWebhook.from_json, body)


def endpoints(base: str, account_id: str | None = None) -> Call[list[WebhookEndpoint]]:
    path = _query(f"{base}/endpoints", account_id=account_id) if base == OPERATOR else base
    return Call("GET", path, _many("endpoints", WebhookEndpoint.from_json), repeatable=True)


def _endpoint_path(base: str, endpoint_id: str) -> str:
    return (
        f"{base}/endpoints/{_id(endpoint_id)}" if base == OPERATOR else f"{base}/{_id(endpoint_id)}"
    )


def endpoint(base: str, endpoint_id: str) -> Call[WebhookEndpoint]:
    path = _endpoint_path(base, endpoint_id)
    return Call("GET", path, WebhookEndpoint.from_json, repeatable=True)


def update_endpoint(base: str, endpoint_id: str, changes: dict[str, Any]) -> Call[WebhookEndpoint]:
    body = {name: value for name, value in changes.items() if value is not None}
    path = _endpoint_path(base, endpoint_id)
    return Call("PATCH", path, WebhookEndpoint.from_json, body, repeatable=True)


def delete_endpoint(base: str, endpoint_id: str) -> Call[None]:
    return Call("DELETE", _endpoint_path(base, endpoint_id), _deleted, repeatable=True)


def rotate_secret(
    base: str, endpoint_id: str, overlap_seconds: int | None
) -> Call[RotatedWebhookSecret]:
    # Not repeatable: a second rotation would retire the secret the first one returned.
    body = {} if overlap_seconds is None else {"overlap_seconds": overlap_seconds}
    path = f"{_endpoint_path(base, endpoint_id)}/rotate-secret"
    return Call("POST", path, RotatedWebhookSecret.from_json, body)


def events(
    base: str, *, account_id: str | None, event_type: str | None, limit: int
) -> Call[list[WebhookEvent]]:
    path = _query(f"{base}/events", account_id=account_id, type=event_type, limit=limit)
    return Call("GET", path, _many("events", WebhookEvent.from_json), repeatable=True)


def deliveries(
    base: str,
    *,
    endpoint_id: str | None,
    event_id: str | None = None,
    status: str | None,
    limit: int,
) -> Call[list[WebhookDelivery]]:
    if base == OPERATOR:
        path = _query(
            f"{base}/deliveries",
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=status,
            limit=limit,
        )
    else:
        assert endpoint_id is not None
        path = _query(f"{_endpoint_path(base, endpoint_id)}/deliveries", status=status, limit=limit)
    return Call("GET", path, _many("deliveries", WebhookDelivery.from_json), repeatable=True)


def _delivery_path(base: str, delivery_id: str, endpoint_id: str | None) -> str:
    if base == OPERATOR:
        return f"{base}/deliveries/{_id(delivery_id)}"
    assert endpoint_id is not None
    return f"{_endpoint_path(base, endpoint_id)}/deliveries/{_id(delivery_id)}"


def attempts(
    base: str, delivery_id: str, endpoint_id: str | None = None
) -> Call[list[WebhookAttempt]]:
    path = f"{_delivery_path(base, delivery_id, endpoint_id)}/attempts"
    return Call("GET", path, _many("attempts", WebhookAttempt.from_json), repeatable=True)


def replay(base: str, delivery_id: str, endpoint_id: str | None = None) -> Call[WebhookDelivery]:
    path = f"{_delivery_path(base, delivery_id, endpoint_id)}/replay"
    return Call("POST", path, WebhookDelivery.from_json, {})
