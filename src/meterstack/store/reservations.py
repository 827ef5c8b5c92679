"""SQL of holds (D6) and leases (C6): reservations against a counter until committed, released
or lapsed. The units they hold are counters, written by ``SqlCounters.apply``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterstack.store.rows import ReservationRow
from meterstack.store.statements import Statements

_COLUMNS = (
    "id, account_id, item, period, project_id, quantity, status, created_at, expires_at, "
    "committed_quantity"
)


class SqlReservations:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert(self, row: ReservationRow) -> None:
        sql = self._sql
        sql.execute(
            f"INSERT INTO reservations ({_COLUMNS}) VALUES (:id, :account_id, :item, :period, "
            ":project_id, :quantity, :status, :created_at, :expires_at, NULL)",
            {
                "id": row.id,
                "account_id": row.account_id,
                "item": row.item,
                "period": row.period,
                "project_id": row.project_id,
                "quantity": row.quantity,
                "status": row.status,
                "created_at": sql.ts(row.created_at),
                "expires_at": sql.ts(row.expires_at),
            },
        )

    def get(self, reservation_id: str, *, lock: bool = False) -> ReservationRow | None:
        suffix = " FOR UPDATE" if lock and not self._sql.dialect.is_sqlite else ""
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM reservations WHERE id = :id{suffix}", {"id": reservation_id}
        )
        return None if row is None else self._row(row)

    def close(
        self, reservation_id: str, status: str, committed_quantity: int | None = None
    ) -> bool:
        """Move an open hold to ``status``; False if it was no longer open."""
        row = self._sql.one(
            "UPDATE reservations SET status = :status, committed_quantity = :committed "
            "WHERE id = :id AND status = 'open' RETURNING id",
            {"id": reservation_id, "status": status, "committed": committed_quantity},
        )
        return row is not None

    def expire(self, account_id: str, now: datetime) -> list[ReservationRow]:
        """Close every lapsed open hold of an account (C6) and return them."""
        rows = self._sql.all(
            "UPDATE reservations SET status = 'expired' WHERE account_id = :account_id "
            f"AND status = 'open' AND expires_at <= :now RETURNING {_COLUMNS}",
            {"account_id": account_id, "now": self._sql.ts(now)},
        )
        return [self._row(row) for row in rows]

    def extend(self, reservation_id: str, expires_at: datetime) -> None:
        self._sql.execute(
            "UPDATE reservations SET expires_at = :expires_at WHERE id = :id",
            {"expires_at": self._sql.ts(expires_at), "id": reservation_id},
        )

    def _row(self, row: Any) -> ReservationRow:
        from_ts = self._sql.dialect.from_ts
        return ReservationRow(
            id=row[0],
            account_id=row[1],
            item=row[2],
            period=row[3],
            project_id=row[4],
            quantity=int(row[5]),
            status=row[6],
            created_at=from_ts(row[7]),
            expires_at=from_ts(row[8]),
            committed_quantity=None if row[9] is None else int(row[9]),
        )
