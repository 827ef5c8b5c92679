"""The synchronous client; :mod:`meterstack.client._async` is its mirror, method for method."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TypeVar

import httpx

from meterstack.client import _calls
from meterstack.client._calls import Call
from meterstack.client.models import (
    Account,
    AccountUsage,
    BillingStatus,
    PlanOffer,
    ReleasedReservation,
    Reservation,
    TierInfo,
    Usage,
)
from meterstack.client.webhooks import Webhooks
from meterstack.rules.decisions import Decision

T = TypeVar("T")


class Client:
    """meterstack's service over HTTP.

    With the operator key it drives the operator API (``create_account``, ``consume``,
    ``reserve``…); with a customer's user API key, the customer API (``usage``, ``tier_info``…).
    Transient failures are retried ``retries`` times, pausing ``retry_backoff`` seconds, then
    twice as long each time; a request the service may already have seen is retried only when
    sending it twice does no more than sending it once (a read, or a body with an idempotency
    key). Refusals raise the error of their code (see :mod:`meterstack.client.errors`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        retry_backoff: float = 0.25,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be at least 0, got {retries}")
        self._http = httpx.Client(
            base_url=base_url,
            headers=_calls.headers(api_key),
            timeout=timeout,
            transport=transport,
        )
        self._retries = retries
        self._backoff = retry_backoff
        #: Webhook endpoints, events and deliveries: the operator's, and a customer's own (D28).
        self.webhooks = Webhooks(self._send, "/v1/webhooks")
        self.billing_webhooks = Webhooks(self._send, "/api/billing/webhooks")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ operator API

    def create_account(
        self, plan: str | None = None, *, interval: str | None = None, email: str | None = None
    ) -> Account:
        return self._send(_calls.create_account(plan, interval, email))

    def consume(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Decision:
        """Record usage if the limits admit it; a refusal raises (``QuotaExceededError``…).

        Without ``idempotency_key`` a fresh one is sent, the same on every retry (D7).
        """
        return self._send(_calls.consume(account_id, meter, quantity, project_id, idempotency_key))

    def reserve(
        self,
        account_id: str,
        meter: str,
        quantity: int = 1,
        *,
        ttl: float | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Reservation:
        """Hold ``quantity`` against the limits (D6); a refusal raises."""
        call = _calls.reserve(account_id, meter, quantity, ttl, project_id, idempotency_key)
        return self._send(call)

    def commit(self, reservation_id: str, quantity: int | None = None) -> Decision:
        """Record the hold's actual quantity; None = what was held (D6)."""
        return self._send(_calls.commit(reservation_id, quantity))

    def release(self, reservation_id: str) -> ReleasedReservation:
        return self._send(_calls.release(reservation_id))

    def account_usage(self, account_id: str) -> AccountUsage:
        return self._send(_calls.account_usage(account_id))

    # ------------------------------------------------------------------ customer API

    def usage(self, meter: str | None = None) -> Usage:
        """This period's usage with FlowStack's figures (C4); ``meter`` picks the top-level one."""
        return self._send(_calls.usage(meter))

    get_usage = usage

    def billing(self) -> BillingStatus:
        return self._send(_calls.billing())

    def plans(self) -> list[PlanOffer]:
        return self._send(_calls.plans())

    def tier_info(self) -> TierInfo:
        """The current tier and whether it may use managed models (C3, C4)."""
        return TierInfo.of(self.billing(), self.plans())

    get_tier_info = tier_info

    # ------------------------------------------------------------------ transport

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            last = attempt >= self._retries
            try:
                response = self._http.request(call.method, call.path, json=call.body)
            except httpx.TransportError as error:
                if last or not _calls.may_retry(call, error, None):
                    raise _calls.unreachable(error) from error
            else:
                if last or not _calls.may_retry(call, None, response.status_code):
                    return call.read(_calls.decode(response))
            if self._backoff > 0:
                time.sleep(_calls.backoff(self._backoff, attempt))
            attempt += 1
