"""SQL of holds (D6): reservations against a counter until committed, released or lapsed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meterstack.store.statements import Statements


@dataclass(frozen=True)
class ReservationRow:
    id: str
    account_id: str
    item: str
    period: str
    project_id: str | None
    quantity: int
    status: str
    created_at: datetime
    expires_at: datetime
    committed_quantity: int | None


class ReservationStatements(Statements):
    def insert_reservation(self, row: ReservationRow) -> None:
        self.execute(
            "INSERT INTO reservations (id, account_id, item, period, project_id, quantity, "
            "status, created_at, expires_at, committed_quantity) VALUES (:id, :account_id, "
            ":item, :period, :project_id, :quantity, :status, :created_at, :expires_at, NULL)",
            {
                "id": row.id,
                "account_id": row.account_id,
                "item": row.item,
                "period": row.period,
                "project_id": row.project_id,
                "quantity": row.quantity,
                "status": row.status,
                "created_at": self.ts(row.created_at),
                "expires_at": self.ts(row.expires_at),
            },
        )

    def reservation(self, reservation_id: str, *, lock: bool = False) -> ReservationRow | None:
        suffix = " FOR UPDATE" if lock and not self.dialect.is_sqlite else ""
        row = self.one(
            "SELECT id, account_id, item, period, project_id, quantity, status, created_at, "
            f"expires_at, committed_quantity FROM reservations WHERE id = :id{suffix}",
            {"id": reservation_id},
        )
        return None if row is None else self._reservation(row)

    def _reservation(self, row: Any) -> ReservationRow:
        return ReservationRow(
            id=row[0],
            account_id=row[1],
            item=row[2],
            period=row[3],
            project_id=row[4],
            quantity=int(row[5]),
            status=row[6],
            created_at=self.dialect.from_ts(row[7]),
            expires_at=self.dialect.from_ts(row[8]),
            committed_quantity=None if row[9] is None else int(row[9]),
        )

    def close_reservation(
        self, reservation_id: str, status: str, committed_quantity: int | None = None
    ) -> bool:
        """Move an open hold to ``status``; False if it was no longer open."""
        row = self.one(
            "UPDATE reservations SET status = :status, committed_quantity = :committed "
            "WHERE id = :id AND status = 'open' RETURNING id",
            {"id": reservation_id, "status": status, "committed": committed_quantity},
        )
        return row is not None

    def expire_reservations(self, account_id: str, now: datetime) -> list[ReservationRow]:
        """Close every lapsed open hold of an account (C6) and return them."""
        rows = self.all(
            "UPDATE reservations SET status = 'expired' WHERE account_id = :account_id "
            "AND status = 'open' AND expires_at <= :now RETURNING id, account_id, item, period, "
            "project_id, quantity, status, created_at, expires_at, committed_quantity",
            {"account_id": account_id, "now": self.ts(now)},
        )
        return [self._reservation(row) for row in rows]
