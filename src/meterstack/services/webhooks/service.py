"""Outgoing webhooks as the engine offers them: endpoints, the outbox's events, deliveries,
their attempts, replays, and the delivery worker (``engine.webhooks``).

Every read and replay takes an optional ``customer``: the account of a customer asking, who sees
only its own account's events and the deliveries to its own endpoints (anything else is 404).
"""

from __future__ import annotations

import json
import ssl
import threading
from typing import Any

from meterstack.errors import ConflictError, InvalidInputError, NotFoundError
from meterstack.records.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Resolver,
    WebhookEvent,
    WebhookPolicy,
)
from meterstack.services.context import ServiceContext
from meterstack.services.webhooks.addresses import system_resolver
from meterstack.services.webhooks.catalogue import spec_of
from meterstack.services.webhooks.delivery import DeliveryReport, DeliveryWorker
from meterstack.services.webhooks.endpoints import Endpoints
from meterstack.store.ports import UnitOfWork

MAX_PAGE = 500


class Webhooks:
    def __init__(self, ctx: ServiceContext, policy: WebhookPolicy | None = None) -> None:
        self.ctx = ctx
        self.policy = policy or WebhookPolicy.from_environment()
        self.resolver: Resolver = self.policy.resolver or system_resolver
        self.endpoints = Endpoints(ctx, self.policy, self.resolver)
        self._background: tuple[threading.Thread, threading.Event, DeliveryWorker] | None = None

    # ------------------------------------------------------------------ the outbox

    def events(
        self,
        *,
        account_id: str | None = None,
        event_type: str | None = None,
        customer: str | None = None,
        limit: int = 100,
    ) -> list[WebhookEvent]:
        """Events, newest first: every account's, one account's, or a customer's own."""
        if event_type is not None:
            spec_of(event_type)
        with self.ctx.store.transaction() as tx:
            return tx.outbox.events(
                account_id=customer if customer is not None else account_id,
                event_type=event_type,
                limit=_page(limit),
            )

    def event(self, event_id: str, *, customer: str | None = None) -> WebhookEvent:
        with self.ctx.store.transaction() as tx:
            found = tx.outbox.event(event_id)
        if found is None or (customer is not None and found.account_id != customer):
            raise NotFoundError(f"no webhook event {event_id!r}", event_id=event_id)
        return found

    def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: DeliveryStatus | str | None = None,
        customer: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries, newest first; a customer names one of its endpoints."""
        wanted = _status(status)
        with self.ctx.store.transaction() as tx:
            if customer is not None:
                if endpoint_id is None:
                    raise InvalidInputError("name the endpoint whose deliveries to list")
                self.endpoints.visible(tx, endpoint_id, customer)
            return tx.outbox.deliveries(
                endpoint_id=endpoint_id, event_id=event_id, status=wanted, limit=_page(limit)
            )

    def delivery(self, delivery_id: str, *, customer: str | None = None) -> Delivery:
        with self.ctx.store.transaction() as tx:
            return self._visible(tx, delivery_id, customer)

    def attempts(self, delivery_id: str, *, customer: str | None = None) -> list[Attempt]:
        """Every attempt of a delivery, in order."""
        with self.ctx.store.transaction() as tx:
            self._visible(tx, delivery_id, customer)
            return tx.outbox.attempts(delivery_id)

    def replay(self, delivery_id: str, *, customer: str | None = None) -> Delivery:
        """Send a failed (or succeeded) delivery again, now, with a fresh retry schedule."""
        with self.ctx.store.transaction() as tx:
            found = self._visible(tx, delivery_id, customer)
            if not tx.outbox.replay(delivery_id, self.ctx.now()):
                raise ConflictError(
                    f"delivery {delivery_id} is {found.status}: it is queued already",
                    delivery_id=delivery_id,
                )
            replayed = tx.outbox.delivery(delivery_id)
        assert replayed is not None
        return replayed

    def _visible(self, tx: UnitOfWork, delivery_id: str, customer: str | None) -> Delivery:
        found = tx.outbox.delivery(delivery_id)
        if found is not None and customer is not None:
            try:
                self.endpoints.visible(tx, found.endpoint_id, customer)
            except NotFoundError:
                found = None
        if found is None:
            raise NotFoundError(f"no webhook delivery {delivery_id!r}", delivery_id=delivery_id)
        return found

    # ------------------------------------------------------------------ delivery

    def worker(
        self, *, name: str | None = None, verify: ssl.SSLContext | bool = True
    ) -> DeliveryWorker:
        """A delivery worker on this engine's store (close it when done)."""
        return DeliveryWorker(self.ctx, self.policy, self.resolver, name=name, verify=verify)

    def deliver(self) -> DeliveryReport:
        """One pass of a worker: fan out new events, send what is due now."""
        worker = self.worker()
        try:
            return worker.run_once()
        finally:
            worker.close()

    def start_background(self, *, idle_wait: float = 1.0) -> None:
        """Run a worker on a thread of this process until :meth:`close` (``meterstack serve``)."""
        if self._background is not None:
            return
        stop, worker = threading.Event(), self.worker()
        thread = threading.Thread(
            target=worker.run,
            args=(stop,),
            kwargs={"idle_wait": idle_wait},
            name="meterstack-webhooks",
            daemon=True,
        )
        thread.start()
        self._background = (thread, stop, worker)

    def close(self) -> None:
        """Stop the background worker, if one runs (it finishes the attempt in flight)."""
        if self._background is None:
            return
        thread, stop, worker = self._background
        self._background = None
        stop.set()
        thread.join(timeout=30)
        worker.close()


def event_json(event: WebhookEvent) -> dict[str, Any]:
    """An event as its receivers get it: ``{id, type, timestamp, data}``."""
    body: dict[str, Any] = json.loads(event.body)
    return body


def _status(status: DeliveryStatus | str | None) -> DeliveryStatus | None:
    if status is None or isinstance(status, DeliveryStatus):
        return status
    try:
        return DeliveryStatus(status)
    except ValueError:
        raise InvalidInputError(
            f"status must be one of {', '.join(DeliveryStatus)}, got {status!r}"
        ) from None


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    return limit
