"""The delivery worker: from the outbox to the endpoints, at least once (D28).

One pass (:meth:`DeliveryWorker.run_once`) does three things, each coordinated through the
database so that any number of workers, in any number of processes or servers, can run at once:

1. *fan out*: every new event gets one pending delivery per endpoint that receives it;
2. *claim*: the worker leases a batch of due deliveries (the ``Outbox.claim`` port): no other
   worker sends them while the lease holds;
3. *send and record*: each is signed (Standard Webhooks), POSTed without following redirects,
   its answer read up to 64 KiB, and the attempt recorded; a failure schedules the next attempt
   (``webhooks.schedule``) or, after the last, marks the delivery ``failed`` (replayable).

No transaction is open while a request is in flight. A worker killed between a claim and its
record leaves a lease that lapses on the engine's clock; the delivery is then sent again. The
event's time, leases and the retry schedule use the engine's clock (tests move it); signatures
use the wall clock.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from meterstack.errors import MeterstackError
from meterstack.records.webhooks import (
    RESPONSE_EXCERPT,
    Attempt,
    ClaimedDelivery,
    DeliveryStatus,
    Owner,
    Resolver,
    WebhookPolicy,
)
from meterstack.services.context import ServiceContext
from meterstack.services.webhooks.addresses import Target, UnsafeTargetError, checked_target
from meterstack.services.webhooks.outbox import sortable_id
from meterstack.services.webhooks.schedule import retry_delay
from meterstack.services.webhooks.signing import signed_headers
from meterstack.store.rows import AttemptOutcome, DeliveryLease, NewDelivery

log = logging.getLogger("meterstack.services.webhooks")

#: Events fanned out per transaction.
FAN_OUT_BATCH = 500
#: Deliveries claimed per transaction.
CLAIM_BATCH = 50
#: Clients kept for customer endpoints (one per host and checked address).
PINNED_CLIENTS = 64


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass did."""

    fanned_out: int = 0
    attempts: int = 0
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(
            self.fanned_out + other.fanned_out,
            self.attempts + other.attempts,
            self.succeeded + other.succeeded,
            self.retrying + other.retrying,
            self.failed + other.failed,
        )


@dataclass(frozen=True)
class _Answer:
    status_code: int | None
    excerpt: str | None
    error: str | None


class DeliveryWorker:
    """Sends due deliveries; safe to run beside other workers on the same database."""

    def __init__(
        self,
        ctx: ServiceContext,
        policy: WebhookPolicy,
        resolver: Resolver,
        *,
        name: str | None = None,
        verify: ssl.SSLContext | bool = True,
        batch: int = CLAIM_BATCH,
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.resolver = resolver
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}")[:120]
        self.batch = batch
        # Long enough for a batch of attempts that each run into the timeout; a batch that is
        # slower still gives back what it has not sent before the lease could lapse.
        self.lease = timedelta(seconds=60 + batch * policy.timeout)
        self._verify = verify
        self._http = self._client()
        self._pinned: dict[tuple[str, str, int], httpx.Client] = {}

    def close(self) -> None:
        self._http.close()
        for client in self._pinned.values():
            client.close()
        self._pinned.clear()

    # ------------------------------------------------------------------ passes

    def run_once(self) -> DeliveryReport:
        """Fan out every new event, then send every delivery due now; what was done."""
        report = DeliveryReport(fanned_out=self.fan_out())
        while True:
            sent = self.send_due()
            report += sent
            if sent.attempts == 0:
                return report

    def run(self, stop: threading.Event, *, idle_wait: float = 1.0) -> None:
        """Pass after pass until ``stop`` is set, pausing ``idle_wait`` s when nothing was due."""
        while not stop.is_set():
            try:
                report = self.run_once()
            except MeterstackError as error:  # the database went away: try again later
                log.warning("webhook delivery pass failed: %s", error.message)
                report = DeliveryReport()
            if report.attempts == 0 and report.fanned_out == 0:
                stop.wait(idle_wait)

    def fan_out(self) -> int:
        """Create the deliveries of events not fanned out yet; the number of events."""
        total = 0
        while True:
            with self.ctx.store.transaction() as tx:
                events = tx.outbox.to_fan_out(FAN_OUT_BATCH)
                if not events:
                    return total
                accounts = sorted({event.account_id for event in events})
                endpoints = tx.webhooks.receiving(accounts)
                new = [
                    NewDelivery(sortable_id("dlv"), event, endpoint.id)
                    for event in events
                    for endpoint in endpoints
                    if endpoint.receives(event.type, event.account_id, event.occurred_at)
                ]
                tx.outbox.insert_deliveries(new, self.ctx.now())
                tx.outbox.mark_fanned_out([event.id for event in events])
            total += len(events)

    def send_due(self) -> DeliveryReport:
        """Claim one batch of due deliveries, send each, record the outcomes."""
        claimed = self._claim()
        if not claimed:
            return DeliveryReport()
        # Wall time: the lease must not lapse while this worker still sends under it.
        give_back_at = time.monotonic() + self.lease.total_seconds() - 30 - 2 * self.policy.timeout
        outcomes: list[AttemptOutcome] = []
        unsent: list[DeliveryLease] = []
        for item in claimed:
            if time.monotonic() > give_back_at:
                unsent.append(DeliveryLease(item.delivery.id, item.attempt, 0))
            else:
                outcomes.append(self._attempt(item))
        with self.ctx.store.transaction() as tx:
            tx.outbox.record(outcomes, self.ctx.now())
            tx.outbox.release(unsent, self.name)
        return DeliveryReport(
            attempts=len(outcomes),
            succeeded=sum(o.status is DeliveryStatus.SUCCEEDED for o in outcomes),
            retrying=sum(o.status is DeliveryStatus.PENDING for o in outcomes),
            failed=sum(o.status is DeliveryStatus.FAILED for o in outcomes),
        )

    def _claim(self) -> list[ClaimedDelivery]:
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            leases = tx.outbox.claim(self.name, now, now + self.lease, self.batch)
            if not leases:
                return []
            found = {
                d.id: d for d in tx.outbox.deliveries(ids=[lease.delivery_id for lease in leases])
            }
            events = tx.outbox.events_by_id(sorted({d.event_id for d in found.values()}))
            endpoint_ids = sorted({d.endpoint_id for d in found.values()})
            keys = tx.webhooks.secrets_of(endpoint_ids)
            endpoints = {eid: tx.webhooks.get(eid) for eid in endpoint_ids}
        claimed = []
        for lease in leases:
            delivery = found[lease.delivery_id]
            endpoint = endpoints[delivery.endpoint_id]
            assert endpoint is not None
            claimed.append(
                ClaimedDelivery(
                    delivery=delivery,
                    event=events[delivery.event_id],
                    endpoint=endpoint,
                    secrets=tuple(keys.get(endpoint.id, ())),
                    attempt=lease.attempt,
                    scheduled_attempt=lease.attempt - lease.replayed_after,
                )
            )
        return claimed

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        started_at = self.ctx.now()
        began = time.monotonic()
        answer = self._send(claimed, started_at)
        duration = int((time.monotonic() - began) * 1000)
        succeeded = answer.status_code is not None and 200 <= answer.status_code < 300
        attempt = Attempt(
            delivery_id=claimed.delivery.id,
            number=claimed.attempt,
            started_at=started_at,
            duration_ms=duration,
            status_code=answer.status_code,
            response_excerpt=answer.excerpt,
            error=answer.error,
            succeeded=succeeded,
            worker=self.name,
        )
        if succeeded:
            return AttemptOutcome(attempt, DeliveryStatus.SUCCEEDED, None)
        delay = retry_delay(claimed.delivery.id, claimed.scheduled_attempt)
        if delay is None:
            return AttemptOutcome(attempt, DeliveryStatus.FAILED, None)
        return AttemptOutcome(attempt, DeliveryStatus.PENDING, started_at + delay)

    def _send(self, claimed: ClaimedDelivery, now: datetime) -> _Answer:
        endpoint, event = claimed.endpoint, claimed.event
        keys = [key.secret for key in claimed.secrets if key.active(now)]
        if not keys:
            return _Answer(None, None, "the endpoint has no active signing secret")
        try:
            target = self._target(endpoint.url, endpoint.owner)
        except UnsafeTargetError as refused:
            return _Answer(None, None, f"not sent: {refused.message}")
        headers = signed_headers(keys, event.id, event.body)
        headers["user-agent"] = "meterstack-webhooks"
        extensions = {}
        if target.address is not None:
            headers["host"] = urlsplit(target.url).netloc
            extensions["sni_hostname"] = target.host
        try:
            return self._post(target, headers, event.body, extensions)
        except httpx.HTTPError as error:
            return _Answer(None, None, f"{type(error).__name__}: {error}"[:500])

    def _target(self, url: str, owner: Owner) -> Target:
        if owner is Owner.CUSTOMER:
            # Resolved and checked at every attempt: the name may point elsewhere by now.
            return checked_target(
                url, self.resolver, allow_private=self.policy.allow_private_targets
            )
        parts = urlsplit(url)
        return Target(url, parts.hostname or "", parts.port or 0, None)

    def _post(
        self, target: Target, headers: dict[str, str], body: str, extensions: dict[str, str]
    ) -> _Answer:
        client = self._client_for(target)
        deadline = time.monotonic() + self.policy.timeout
        request = client.build_request(
            "POST", target.pinned_url, content=body.encode(), headers=headers, extensions=extensions
        )
        response = client.send(request, stream=True)
        try:
            received = bytearray()
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= self.policy.max_response_bytes:
                    break
                if time.monotonic() > deadline:
                    return _Answer(
                        response.status_code, None, "the answer took longer than the timeout"
                    )
        finally:
            response.close()
        excerpt = bytes(received[:RESPONSE_EXCERPT]).decode("utf-8", "replace")
        error = None
        if response.is_redirect:
            error = f"redirect to {response.headers.get('location', '?')!r} not followed"
        elif not response.is_success:
            error = f"answered {response.status_code}"
        return _Answer(response.status_code, excerpt or None, error)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(self.policy.timeout),
            verify=self._verify,
            trust_env=False,
        )

    def _client_for(self, target: Target) -> httpx.Client:
        """The shared client, or one per (host, checked address, port): a pooled connection
        must never carry one host's request to another host's TLS session."""
        if target.address is None:
            return self._http
        key = (target.host, str(target.address), target.port)
        client = self._pinned.get(key)
        if client is None:
            if len(self._pinned) >= PINNED_CLIENTS:
                self._pinned.pop(next(iter(self._pinned))).close()
            client = self._pinned[key] = self._client()
        return client
