"""SQL for the webhook outbox: events, their deliveries to endpoints, and every attempt (D28).

Workers coordinate here and nowhere else. A worker *claims* due deliveries by writing its lease
(owner and expiry) on them: on PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP
LOCKED``, so two workers claiming at once take disjoint rows; on SQLite the claim runs under
``BEGIN IMMEDIATE``, one writer at a time. A claim also reserves the attempt's number, and the
outcome is recorded only while the lease is still the worker's: a worker that died mid-send
leaves a lease that lapses, and the delivery is taken up again, at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from meterstack.records.webhooks import Attempt, Delivery, DeliveryStatus, WebhookEvent
from meterstack.store.rows import AttemptOutcome, DeliveryLease, NewDelivery
from meterstack.store.statements import Statements

_EVENT_COLUMNS = "id, type, account_id, occurred_at, body"
_DELIVERY_COLUMNS = (
    "id, event_id, endpoint_id, account_id, event_type, status, attempts, next_attempt_at, "
    "last_status_code, last_error, created_at, updated_at"
)


class SqlOutbox:
    """The webhook outbox (``store.ports.Outbox``)."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert_events(self, events: Sequence[WebhookEvent]) -> None:
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                f"INSERT INTO webhook_events ({_EVENT_COLUMNS}, fanned_out) VALUES (:id, :type, "
                ":account_id, :occurred_at, :body, :fanned_out)"
            ),
            [
                {
                    "id": event.id,
                    "type": event.type,
                    "account_id": event.account_id,
                    "occurred_at": self._sql.ts(event.occurred_at),
                    "body": event.body,
                    "fanned_out": False,
                }
                for event in events
            ],
        )

    def to_fan_out(self, limit: int) -> list[WebhookEvent]:
        """The oldest events whose deliveries are not created yet (locked, on PostgreSQL)."""
        lock = "" if self._sql.dialect.is_sqlite else " FOR UPDATE SKIP LOCKED"
        rows = self._sql.all(
            f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE fanned_out = :no "
            f"ORDER BY occurred_at, id LIMIT :limit{lock}",
            {"no": False, "limit": limit},
        )
        return [_event(self._sql, row) for row in rows]

    def insert_deliveries(self, deliveries: Sequence[NewDelivery], now: datetime) -> None:
        """One pending delivery per (event, endpoint); an existing pair stays."""
        if not deliveries:
            return
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, account_id, "
                "event_type, status, attempts, replayed_after, next_attempt_at, created_at, "
                "updated_at) VALUES (:id, :event_id, :endpoint_id, :account_id, :event_type, "
                "'pending', 0, 0, :now, :now, :now) ON CONFLICT DO NOTHING"
            ),
            [
                {
                    "id": new.id,
                    "event_id": new.event.id,
                    "endpoint_id": new.endpoint_id,
                    "account_id": new.event.account_id,
                    "event_type": new.event.type,
                    "now": self._sql.ts(now),
                }
                for new in deliveries
            ],
        )

    def mark_fanned_out(self, event_ids: Sequence[str]) -> None:
        within, params = self._sql.one_of("id", event_ids, "e")
        self._sql.execute(
            f"UPDATE webhook_events SET fanned_out = :yes WHERE {within}", {"yes": True, **params}
        )

    def claim(self, worker: str, now: datetime, until: datetime, limit: int) -> list[DeliveryLease]:
        """Lease up to ``limit`` due deliveries of enabled endpoints to ``worker`` until
        ``until``."""
        lock = "" if self._sql.dialect.is_sqlite else " FOR UPDATE OF d SKIP LOCKED"
        rows = self._sql.all(
            "UPDATE webhook_deliveries SET lease_owner = :worker, lease_until = :until, "
            "attempts = attempts + 1, updated_at = :now WHERE id IN (SELECT d.id FROM "
            "webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND (d.lease_until IS NULL "
            "OR d.lease_until <= :now) AND e.enabled = :yes ORDER BY d.next_attempt_at, d.id "
            f"LIMIT :limit{lock}) RETURNING id, attempts, replayed_after",
            {
                "worker": worker,
                "until": self._sql.ts(until),
                "now": self._sql.ts(now),
                "yes": True,
                "limit": limit,
            },
        )
        return sorted(
            (
                DeliveryLease(str(delivery_id), int(attempt), int(after))
                for delivery_id, attempt, after in rows
            ),
            key=lambda lease: lease.delivery_id,
        )

    def record(self, outcomes: Sequence[AttemptOutcome], now: datetime) -> None:
        """Keep every attempt; settle each delivery whose lease is still the worker's (a lease
        that lapsed belongs to whoever claimed the delivery since)."""
        if not outcomes:
            return
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "INSERT INTO webhook_attempts (delivery_id, number, started_at, duration_ms, "
                "status_code, response_excerpt, error, succeeded, worker) VALUES (:delivery_id, "
                ":number, :started_at, :duration_ms, :status_code, :excerpt, :error, :succeeded, "
                ":worker)"
            ),
            [
                {
                    "delivery_id": o.attempt.delivery_id,
                    "number": o.attempt.number,
                    "started_at": self._sql.ts(o.attempt.started_at),
                    "duration_ms": o.attempt.duration_ms,
                    "status_code": o.attempt.status_code,
                    "excerpt": o.attempt.response_excerpt,
                    "error": o.attempt.error,
                    "succeeded": o.attempt.succeeded,
                    "worker": o.attempt.worker,
                }
                for o in outcomes
            ],
        )
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "UPDATE webhook_deliveries SET status = :status, next_attempt_at = :next, "
                "lease_owner = NULL, lease_until = NULL, last_status_code = :code, "
                "last_error = :error, updated_at = :now WHERE id = :id AND lease_owner = :worker "
                "AND attempts = :number"
            ),
            [
                {
                    "status": str(o.status),
                    "next": None if o.next_attempt_at is None else self._sql.ts(o.next_attempt_at),
                    "code": o.attempt.status_code,
                    "error": o.attempt.error,
                    "now": self._sql.ts(now),
                    "id": o.attempt.delivery_id,
                    "worker": o.attempt.worker,
                    "number": o.attempt.number,
                }
                for o in outcomes
            ],
        )

    def release(self, leases: Sequence[DeliveryLease], worker: str) -> None:
        """Give back leased deliveries that were not attempted, with their attempt numbers."""
        if not leases:
            return
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, "
                "attempts = attempts - 1 WHERE id = :id AND lease_owner = :worker "
                "AND attempts = :number"
            ),
            [
                {"id": lease.delivery_id, "worker": worker, "number": lease.attempt}
                for lease in leases
            ],
        )

    def replay(self, delivery_id: str, now: datetime) -> bool:
        """Queue a settled delivery again at once, with a fresh retry schedule; False if pending."""
        row = self._sql.one(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = :now, "
            "replayed_after = attempts, lease_owner = NULL, lease_until = NULL, updated_at = :now "
            "WHERE id = :id AND status <> 'pending' RETURNING id",
            {"id": delivery_id, "now": self._sql.ts(now)},
        )
        return row is not None

    def event(self, event_id: str) -> WebhookEvent | None:
        row = self._sql.one(
            f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE id = :id", {"id": event_id}
        )
        return None if row is None else _event(self._sql, row)

    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, WebhookEvent]:
        if not event_ids:
            return {}
        within, params = self._sql.one_of("id", event_ids, "e")
        rows = self._sql.all(f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE {within}", params)
        return {found.id: found for found in (_event(self._sql, row) for row in rows)}

    def events(
        self, *, account_id: str | None, event_type: str | None, limit: int
    ) -> list[WebhookEvent]:
        """The newest events first."""
        where, params = _filters(account_id=account_id, type=event_type)
        rows = self._sql.all(
            f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE {where} "
            "ORDER BY occurred_at DESC, id DESC LIMIT :limit",
            {**params, "limit": limit},
        )
        return [_event(self._sql, row) for row in rows]

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self._sql.one(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = :id",
            {"id": delivery_id},
        )
        return None if row is None else _delivery(self._sql, row)

    def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: DeliveryStatus | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries, the newest first."""
        where, params = _filters(
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=None if status is None else str(status),
        )
        if ids is not None:
            if not ids:
                return []
            within, more = self._sql.one_of("id", ids, "d")
            where, params = f"{where} AND {within}", {**params, **more}
        rows = self._sql.all(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} "
            "ORDER BY created_at DESC, id DESC LIMIT :limit",
            {**params, "limit": limit},
        )
        return [_delivery(self._sql, row) for row in rows]

    def attempts(self, delivery_id: str) -> list[Attempt]:
        """A delivery's attempts, in order."""
        rows = self._sql.all(
            "SELECT delivery_id, number, started_at, duration_ms, status_code, response_excerpt, "
            "error, succeeded, worker FROM webhook_attempts WHERE delivery_id = :id "
            "ORDER BY number",
            {"id": delivery_id},
        )
        found = []
        for (
            delivery_id_,
            number,
            started,
            duration,
            code,
            excerpt,
            error,
            succeeded,
            worker,
        ) in rows:
            found.append(
                Attempt(
                    delivery_id_,
                    int(number),
                    self._sql.dialect.from_ts(started),
                    int(duration),
                    code,
                    excerpt,
                    error,
                    bool(succeeded),
                    worker,
                )
            )
        return found


def _event(sql: Statements, row: Any) -> WebhookEvent:
    event_id, event_type, account_id, occurred_at, body = row
    return WebhookEvent(event_id, event_type, account_id, sql.dialect.from_ts(occurred_at), body)


def _delivery(sql: Statements, row: Any) -> Delivery:
    (
        delivery_id,
        event_id,
        endpoint_id,
        account_id,
        event_type,
        status,
        attempts,
        next_at,
        code,
        error,
        created,
        updated,
    ) = row
    return Delivery(
        id=delivery_id,
        event_id=event_id,
        endpoint_id=endpoint_id,
        account_id=account_id,
        event_type=event_type,
        status=DeliveryStatus(status),
        attempts=int(attempts),
        next_attempt_at=None if next_at is None else sql.dialect.from_ts(next_at),
        last_status_code=code,
        last_error=error,
        created_at=sql.dialect.from_ts(created),
        updated_at=sql.dialect.from_ts(updated),
    )


def _filters(**equal: str | None) -> tuple[str, dict[str, Any]]:
    given = {column: value for column, value in equal.items() if value is not None}
    where = " AND ".join(f"{column} = :{column}" for column in given) or "1 = 1"
    return where, given
