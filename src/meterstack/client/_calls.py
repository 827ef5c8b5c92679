"""What each SDK call sends and how its answer is read; shared by the sync and async clients.

A call is built once, before the first attempt, so every retry sends the same body, idempotency
key included.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from meterstack import __version__
from meterstack.client.billing import (
    ApiKeyInfo,
    Cancellation,
    CheckoutLink,
    CustomerInvoice,
    IssuedApiKey,
    OverageSwitch,
    PackBought,
    SubscriptionChange,
    invoices_from_json,
    keys_from_json,
    pack_or_checkout,
)
from meterstack.client.entitlements import Entitlements
from meterstack.client.errors import (
    MeterstackClientError,
    ServiceUnavailableError,
    error_from_answer,
)
from meterstack.client.models import (
    Account,
    AccountUsage,
    BillingStatus,
    PlanOffer,
    ReleasedReservation,
    Reservation,
    Usage,
    plans_from_json,
)
from meterstack.rules.decisions import Decision

T = TypeVar("T")

#: Answers worth sending the same request again for: the service or its proxy was unavailable.
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: Failures that happen before the request leaves: the service never saw it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: The longest pause between two attempts, in seconds.
MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    body: dict[str, Any] | None = None
    #: Sending it twice does what sending it once does (a GET, or a body with an idempotency
    #: key), so it may be retried even when the service may have seen the first attempt.
    repeatable: bool = False
    #: What a successful answer carries: JSON, raw bytes (a PDF), or nothing (204).
    answer: Literal["json", "bytes", "none"] = "json"


def headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"meterstack-python/{__version__}",
    }


def may_retry(call: Call[Any], error: httpx.TransportError | None, status: int | None) -> bool:
    """Whether an attempt that failed so is worth repeating."""
    if error is not None:
        return isinstance(error, _NOT_SENT) or call.repeatable
    return status in TRANSIENT_STATUSES and call.repeatable


def backoff(base: float, attempt: int) -> float:
    return min(MAX_BACKOFF, base * float(2**attempt))


def decode(response: httpx.Response, answer: str = "json") -> Any:
    """The answer's JSON (fractions as Decimal), or the mapped error of a failed answer.

    ``answer="bytes"`` returns a successful answer's raw content; ``"none"`` returns None.
    """
    if not response.is_error and answer != "json":
        return response.content if answer == "bytes" else None
    try:
        body = json.loads(response.content, parse_float=Decimal) if response.content else None
    except ValueError:
        body = None
    if response.is_error:
        raise error_from_answer(response.status_code, body, response.headers.get("Retry-After"))
    if body is None:
        raise MeterstackClientError(
            "invalid_answer", "the service's answer is not JSON", response.status_code
        )
    return body


def unreachable(error: httpx.TransportError) -> MeterstackClientError:
    return ServiceUnavailableError(
        "service_unreachable", f"could not reach the service: {error!r}", None
    )


def _id(value: str) -> str:
    return quote(value, safe="")


def _decision(data: Mapping[str, Any]) -> Decision:
    return Decision.from_dict(dict(data))


def _names(names: Sequence[str] | None) -> list[str] | None:
    """A list of names, or None (left out of the body) when there are none."""
    if isinstance(names, str):
        raise TypeError(f"requires must be a list of feature names, got {names!r}")
    return None if not names else list(names)


def _compact(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


# ---------------------------------------------------------------------- operator API


def create_account(plan: str | None, interval: str | None, email: str | None) -> Call[Account]:
    body = _compact(plan=plan, interval=interval, email=email)
    return Call("POST", "/v1/accounts", Account.from_json, body)


def consume(
    account_id: str,
    meter: str,
    quantity: int,
    project_id: str | None,
    idempotency_key: str | None,
    requires: Sequence[str] | None = None,
) -> Call[Decision]:
    body = _compact(
        meter=meter,
        quantity=quantity,
        project_id=project_id,
        # A retry must never count twice: every consumption carries a key (D7).
        idempotency_key=idempotency_key or str(uuid.uuid4()),
        requires=_names(requires),
    )
    path = f"/v1/accounts/{_id(account_id)}/consume"
    return Call("POST", path, _decision, body, repeatable=True)


def reserve(
    account_id: str,
    meter: str,
    quantity: int,
    ttl: float | None,
    project_id: str | None,
    idempotency_key: str | None,
    requires: Sequence[str] | None = None,
) -> Call[Reservation]:
    body = _compact(
        meter=meter,
        quantity=quantity,
        ttl=ttl,
        project_id=project_id,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
        requires=_names(requires),
    )
    path = f"/v1/accounts/{_id(account_id)}/reserve"
    return Call("POST", path, Reservation.from_json, body, repeatable=True)


def commit(reservation_id: str, quantity: int | None) -> Call[Decision]:
    # Not repeatable: a second commit of a committed hold answers 409 reservation_closed.
    path = f"/v1/reservations/{_id(reservation_id)}/commit"
    return Call("POST", path, _decision, _compact(quantity=quantity))


def release(reservation_id: str) -> Call[ReleasedReservation]:
    path = f"/v1/reservations/{_id(reservation_id)}/release"
    return Call("POST", path, ReleasedReservation.from_json, {}, repeatable=True)


def account_usage(account_id: str) -> Call[AccountUsage]:
    path = f"/v1/accounts/{_id(account_id)}/usage"
    return Call("GET", path, AccountUsage.from_json, repeatable=True)


# Checks record nothing: sending one twice is sending it once.


def check_feature(account_id: str, feature: str, level: str | None) -> Call[Decision]:
    path = f"/v1/accounts/{_id(account_id)}/features/{_id(feature)}/check"
    return Call("POST", path, _decision, _compact(level=level), repeatable=True)


def check_module(key_id: str, module: str) -> Call[Decision]:
    path = f"/v1/keys/{_id(key_id)}/modules/{_id(module)}/check"
    return Call("POST", path, _decision, {}, repeatable=True)


def check_payment(account_id: str, api_key_id: str | None) -> Call[Decision]:
    path = f"/v1/accounts/{_id(account_id)}/payments/check"
    return Call("POST", path, _decision, _compact(api_key_id=api_key_id), repeatable=True)


def entitlements(account_id: str) -> Call[Entitlements]:
    path = f"/v1/accounts/{_id(account_id)}/entitlements"
    return Call("GET", path, Entitlements.from_json, repeatable=True)


# ---------------------------------------------------------------------- customer API


def usage(meter: str | None) -> Call[Usage]:
    return Call(
        "GET", "/api/billing/usage", lambda data: Usage.from_json(data, meter), repeatable=True
    )


def billing() -> Call[BillingStatus]:
    return Call("GET", "/api/billing", BillingStatus.from_json, repeatable=True)


def plans() -> Call[list[PlanOffer]]:
    return Call("GET", "/api/billing/plans", plans_from_json, repeatable=True)


# ---------------------------------------------------------------------- customer self-service


def checkout(
    tier: str, billing_interval: str | None, success_url: str | None, cancel_url: str | None
) -> Call[CheckoutLink]:
    body = _compact(
        tier=tier,
        billing_interval=billing_interval,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return Call("POST", "/api/billing/checkout", CheckoutLink.from_json, body)


def cancel() -> Call[Cancellation]:
    return Call("POST", "/api/billing/cancel", Cancellation.from_json, {})


def downgrade(tier: str, billing_interval: str | None) -> Call[SubscriptionChange]:
    body = _compact(tier=tier, billing_interval=billing_interval)
    return Call("POST", "/api/billing/downgrade", SubscriptionChange.from_json, body)


def resume() -> Call[SubscriptionChange]:
    return Call("POST", "/api/billing/resume", SubscriptionChange.from_json, {})


def switch_overage(enabled: bool, meter: str | None, project_id: str | None) -> Call[OverageSwitch]:
    body = {"enabled": enabled, **_compact(meter=meter, project_id=project_id)}
    # Setting a switch twice sets it once.
    return Call("PUT", "/api/billing/overage", OverageSwitch.from_json, body, repeatable=True)


def invoices() -> Call[list[CustomerInvoice]]:
    return Call("GET", "/api/billing/invoices", invoices_from_json, repeatable=True)


def invoice(number: str) -> Call[CustomerInvoice]:
    path = f"/api/billing/invoices/{_id(number)}"
    return Call("GET", path, CustomerInvoice.from_json, repeatable=True)


def invoice_pdf(number: str) -> Call[bytes]:
    path = f"/api/billing/invoices/{_id(number)}?format=pdf"
    return Call("GET", path, bytes, repeatable=True, answer="bytes")


def buy_storage_pack(size: str) -> Call[PackBought | CheckoutLink]:
    path = f"/api/billing/storage-package?package_size={quote(size, safe='')}"
    return Call("POST", path, pack_or_checkout, {})


def create_api_key(name: str | None) -> Call[IssuedApiKey]:
    return Call("POST", "/api/billing/api-keys", IssuedApiKey.from_json, _compact(name=name))


def api_keys() -> Call[list[ApiKeyInfo]]:
    return Call("GET", "/api/billing/api-keys", keys_from_json, repeatable=True)


def revoke_api_key(key_id: str) -> Call[None]:
    path = f"/api/billing/api-keys/{_id(key_id)}"
    return Call("DELETE", path, lambda _: None, repeatable=True, answer="none")
