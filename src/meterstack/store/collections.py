"""SQL of invoice collections and their attempts (D10, D29).

Runners on several servers coordinate here: an attempt is made only under a lease taken by one
conditional ``UPDATE`` (the row's status, due time and lease re-checked in the statement), and
each attempt is a row keyed by the invoice number and the attempt number, so an attempt exists
once whatever the number of runners, and its key is never given to another attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.records.collections import (
    OPEN,
    AttemptStatus,
    Collection,
    CollectionAttempt,
    CollectionStatus,
)
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.store.statements import Statements

_COLUMNS = (
    "invoice_number, account_id, status, amount, currency, attempts, next_attempt_at, "
    "first_failed_at, last_reason, fallback_at, restore_plan, restore_interval, created_at, "
    "updated_at, settled_at"
)
_ATTEMPT_COLUMNS = "invoice_number, number, key, status, reason, started_at, settled_at, worker"
#: The statuses a runner attempts.
_ATTEMPTED = (str(CollectionStatus.DUE), str(CollectionStatus.PAST_DUE))


class SqlCollections:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def enqueue(self, now: datetime) -> int:
        """Open a collection, due now, for every finalized invoice with an amount due that has
        none yet; how many were opened. An amount is due when the total is positive: not
        negative and not all zeros (the total is kept as decimal text)."""
        cursor = self._sql.execute(
            "INSERT INTO invoice_collections (invoice_number, account_id, status, amount, "
            "currency, attempts, next_attempt_at, created_at, updated_at) "
            "SELECT i.number, i.account_id, :due, i.total, i.currency, 0, :now, :now, :now "
            "FROM invoices i WHERE i.status = :finalized AND i.number IS NOT NULL "
            "AND i.total NOT LIKE :negative AND REPLACE(REPLACE(i.total, '0', ''), '.', '') <> '' "
            "AND NOT EXISTS (SELECT 1 FROM invoice_collections c "
            "WHERE c.invoice_number = i.number) "
            "ON CONFLICT (invoice_number) DO NOTHING",
            {
                "due": str(CollectionStatus.DUE),
                "finalized": str(InvoiceStatus.FINALIZED),
                "negative": "-%",
                "now": self._sql.ts(now),
            },
        )
        return max(int(cursor.rowcount or 0), 0)

    def open_for(self, invoice: Invoice, now: datetime) -> Collection:
        """The invoice's collection, opened (due now) if it has none."""
        assert invoice.number is not None
        self._sql.execute(
            "INSERT INTO invoice_collections (invoice_number, account_id, status, amount, "
            "currency, attempts, next_attempt_at, created_at, updated_at) VALUES (:number, "
            ":account_id, :due, :amount, :currency, 0, :now, :now, :now) "
            "ON CONFLICT (invoice_number) DO NOTHING",
            {
                "number": invoice.number,
                "account_id": invoice.account_id,
                "due": str(CollectionStatus.DUE),
                "amount": str(invoice.total),
                "currency": invoice.currency,
                "now": self._sql.ts(now),
            },
        )
        found = self.get(invoice.number, lock=True)
        assert found is not None
        return found

    def get(self, number: str, *, lock: bool = False) -> Collection | None:
        """One collection; with ``lock``, its row is locked until the transaction ends (on
        PostgreSQL; a SQLite transaction holds the whole database already)."""
        suffix = "" if self._sql.dialect.is_sqlite or not lock else " FOR UPDATE"
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM invoice_collections WHERE invoice_number = :number{suffix}",
            {"number": number},
        )
        return None if row is None else self._collection(row)

    def of_account(self, account_id: str) -> list[Collection]:
        """The account's collections, oldest first."""
        rows = self._sql.all(
            f"SELECT {_COLUMNS} FROM invoice_collections WHERE account_id = :account_id "
            "ORDER BY created_at, invoice_number",
            {"account_id": account_id},
        )
        return [self._collection(row) for row in rows]

    def open_of_account(self, account_id: str) -> list[Collection]:
        """The account's collections still owed, oldest first."""
        where, params = self._sql.one_of("status", [str(status) for status in OPEN], "status")
        rows = self._sql.all(
            f"SELECT {_COLUMNS} FROM invoice_collections WHERE account_id = :account_id "
            f"AND {where} ORDER BY created_at, invoice_number",
            {"account_id": account_id, **params},
        )
        return [self._collection(row) for row in rows]

    def due(self, now: datetime, limit: int) -> list[str]:
        """Numbers of invoices whose next attempt is due and not leased, soonest first."""
        where, params = self._sql.one_of("status", list(_ATTEMPTED), "status")
        rows = self._sql.all(
            f"SELECT invoice_number FROM invoice_collections WHERE {where} "
            "AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now) "
            "ORDER BY next_attempt_at, invoice_number LIMIT :limit",
            {"now": self._sql.ts(now), "limit": limit, **params},
        )
        return [row[0] for row in rows]

    def lease(
        self, number: str, worker: str, now: datetime, until: datetime, *, due_only: bool = True
    ) -> Collection | None:
        """Lease the invoice's next attempt to ``worker`` until ``until``: only if it is being
        collected, not leased by another runner, and (with ``due_only``) due by ``now``; without
        ``due_only`` (an operator's retry) also after the last attempt failed. One statement,
        so two runners racing for it cannot both have it."""
        statuses = list(_ATTEMPTED) if due_only else [str(status) for status in OPEN]
        where, params = self._sql.one_of("status", statuses, "status")
        due = " AND next_attempt_at <= :now" if due_only else ""
        row = self._sql.one(
            "UPDATE invoice_collections SET lease_owner = :worker, lease_until = :until "
            f"WHERE invoice_number = :number AND {where}{due} "
            "AND (lease_until IS NULL OR lease_until <= :now) "
            f"RETURNING {_COLUMNS}",
            {
                "worker": worker,
                "until": self._sql.ts(until),
                "number": number,
                "now": self._sql.ts(now),
                **params,
            },
        )
        return None if row is None else self._collection(row)

    def holds_lease(self, number: str, worker: str, now: datetime) -> bool:
        """Whether ``worker``'s lease on the invoice still holds; locks the row (PostgreSQL)."""
        suffix = "" if self._sql.dialect.is_sqlite else " FOR UPDATE"
        row = self._sql.one(
            "SELECT lease_owner, lease_until FROM invoice_collections "
            f"WHERE invoice_number = :number{suffix}",
            {"number": number},
        )
        if row is None or row[0] != worker or row[1] is None:
            return False
        return self._sql.dialect.from_ts(row[1]) > now

    def release(self, number: str, worker: str) -> None:
        """Give a lease back (nothing if it is another runner's now)."""
        self._sql.execute(
            "UPDATE invoice_collections SET lease_owner = NULL, lease_until = NULL "
            "WHERE invoice_number = :number AND lease_owner = :worker",
            {"number": number, "worker": worker},
        )

    def update(self, collection: Collection) -> None:
        """Write a collection's state (its lease is left as it is)."""
        sql = self._sql
        sql.execute(
            "UPDATE invoice_collections SET status = :status, attempts = :attempts, "
            "next_attempt_at = :next_attempt_at, first_failed_at = :first_failed_at, "
            "last_reason = :last_reason, fallback_at = :fallback_at, "
            "restore_plan = :restore_plan, restore_interval = :restore_interval, "
            "updated_at = :updated_at, settled_at = :settled_at WHERE invoice_number = :number",
            {
                "status": str(collection.status),
                "attempts": collection.attempts,
                "next_attempt_at": _ts(sql, collection.next_attempt_at),
                "first_failed_at": _ts(sql, collection.first_failed_at),
                "last_reason": collection.last_reason,
                "fallback_at": _ts(sql, collection.fallback_at),
                "restore_plan": collection.restore_plan,
                "restore_interval": collection.restore_interval,
                "updated_at": sql.ts(collection.updated_at),
                "settled_at": _ts(sql, collection.settled_at),
                "number": collection.invoice_number,
            },
        )

    def insert_attempt(self, attempt: CollectionAttempt) -> bool:
        """Record an attempt; False (nothing written) when the invoice has that attempt."""
        row = self._sql.one(
            f"INSERT INTO collection_attempts ({_ATTEMPT_COLUMNS}) VALUES (:number, :attempt, "
            ":key, :status, :reason, :started_at, :settled_at, :worker) "
            "ON CONFLICT DO NOTHING RETURNING number",
            {
                "number": attempt.invoice_number,
                "attempt": attempt.number,
                "key": attempt.key,
                "status": str(attempt.status),
                "reason": attempt.reason,
                "started_at": self._sql.ts(attempt.started_at),
                "settled_at": _ts(self._sql, attempt.settled_at),
                "worker": attempt.worker,
            },
        )
        return row is not None

    def settle_attempt(
        self, number: str, attempt: int, status: AttemptStatus, reason: str | None, now: datetime
    ) -> bool:
        """Record a pending attempt's outcome; False when it was settled already (or is not
        recorded)."""
        row = self._sql.one(
            "UPDATE collection_attempts SET status = :status, reason = :reason, "
            "settled_at = :now WHERE invoice_number = :number AND number = :attempt "
            "AND status = :pending RETURNING number",
            {
                "status": str(status),
                "reason": reason,
                "now": self._sql.ts(now),
                "number": number,
                "attempt": attempt,
                "pending": str(AttemptStatus.PENDING),
            },
        )
        return row is not None

    def attempt(self, number: str, attempt: int) -> CollectionAttempt | None:
        row = self._sql.one(
            f"SELECT {_ATTEMPT_COLUMNS} FROM collection_attempts "
            "WHERE invoice_number = :number AND number = :attempt",
            {"number": number, "attempt": attempt},
        )
        return None if row is None else self._attempt(row)

    def attempts(self, numbers: Sequence[str]) -> list[CollectionAttempt]:
        """The attempts of these invoices, by invoice then attempt number."""
        if not numbers:
            return []
        where, params = self._sql.one_of("invoice_number", list(numbers), "number")
        rows = self._sql.all(
            f"SELECT {_ATTEMPT_COLUMNS} FROM collection_attempts WHERE {where} "
            "ORDER BY invoice_number, number",
            params,
        )
        return [self._attempt(row) for row in rows]

    def settled_elsewhere(self, limit: int) -> list[str]:
        """Open collections whose invoice is no longer finalized (paid by the operator, voided,
        or marked uncollectible and paid later): numbers, for the runner to close."""
        where, params = self._sql.one_of("c.status", [str(status) for status in OPEN], "status")
        rows = self._sql.all(
            "SELECT c.invoice_number FROM invoice_collections c JOIN invoices i "
            f"ON i.number = c.invoice_number WHERE {where} AND i.status IN (:paid, :void) "
            "ORDER BY c.invoice_number LIMIT :limit",
            {
                **params,
                "paid": str(InvoiceStatus.PAID),
                "void": str(InvoiceStatus.VOID),
                "limit": limit,
            },
        )
        return [row[0] for row in rows]

    def _collection(self, row: Any) -> Collection:
        sql = self._sql
        return Collection(
            invoice_number=row[0],
            account_id=row[1],
            status=CollectionStatus(row[2]),
            amount=Decimal(row[3]),
            currency=row[4],
            attempts=int(row[5]),
            next_attempt_at=_dt(sql, row[6]),
            first_failed_at=_dt(sql, row[7]),
            last_reason=row[8],
            fallback_at=_dt(sql, row[9]),
            restore_plan=row[10],
            restore_interval=row[11],
            created_at=sql.dialect.from_ts(row[12]),
            updated_at=sql.dialect.from_ts(row[13]),
            settled_at=_dt(sql, row[14]),
        )

    def _attempt(self, row: Any) -> CollectionAttempt:
        return CollectionAttempt(
            invoice_number=row[0],
            number=int(row[1]),
            key=row[2],
            status=AttemptStatus(row[3]),
            reason=row[4],
            started_at=self._sql.dialect.from_ts(row[5]),
            settled_at=_dt(self._sql, row[6]),
            worker=row[7],
        )


def _ts(sql: Statements, value: datetime | None) -> Any:
    return None if value is None else sql.ts(value)


def _dt(sql: Statements, value: Any) -> datetime | None:
    return None if value is None else sql.dialect.from_ts(value)
