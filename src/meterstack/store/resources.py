"""SQL of counted objects: projects, end users and the other resources of a catalog (A10, D13).

Their counts are counters, written by ``SqlCounters.apply`` in the same transaction.
"""

from __future__ import annotations

from typing import Any

from meterstack.store.rows import ResourceRow
from meterstack.store.statements import Statements

_COLUMNS = "id, account_id, kind, project_id, end_user_id, name, active, read_only, created_at"


class SqlResources:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert(self, row: ResourceRow) -> None:
        self._sql.execute(
            f"INSERT INTO resources ({_COLUMNS}) VALUES (:id, :account_id, :kind, :project_id, "
            ":end_user_id, :name, :active, :read_only, :created_at)",
            {
                "id": row.id,
                "account_id": row.account_id,
                "kind": row.kind,
                "project_id": row.project_id,
                "end_user_id": row.end_user_id,
                "name": row.name,
                "active": row.active,
                "read_only": row.read_only,
                "created_at": self._sql.ts(row.created_at),
            },
        )

    def get(self, resource_id: str) -> ResourceRow | None:
        row = self._sql.one(f"SELECT {_COLUMNS} FROM resources WHERE id = :id", {"id": resource_id})
        return None if row is None else self._row(row)

    def delete(self, resource_id: str) -> bool:
        row = self._sql.one(
            "DELETE FROM resources WHERE id = :id RETURNING id", {"id": resource_id}
        )
        return row is not None

    def of_account(self, account_id: str, kind: str | None = None) -> list[ResourceRow]:
        """The account's objects (of one kind), oldest first (D13)."""
        params: dict[str, object] = {"account_id": account_id}
        where = "account_id = :account_id"
        if kind is not None:
            params["kind"] = kind
            where += " AND kind = :kind"
        rows = self._sql.all(
            f"SELECT {_COLUMNS} FROM resources WHERE {where} ORDER BY created_at, id", params
        )
        return [self._row(row) for row in rows]

    def set_active(self, resource_id: str, active: bool) -> None:
        self._sql.execute(
            "UPDATE resources SET active = :active WHERE id = :id",
            {"active": active, "id": resource_id},
        )

    def set_read_only(self, resource_id: str, read_only: bool) -> None:
        self._sql.execute(
            "UPDATE resources SET read_only = :read_only WHERE id = :id",
            {"read_only": read_only, "id": resource_id},
        )

    def _row(self, row: Any) -> ResourceRow:
        return ResourceRow(
            id=row[0],
            account_id=row[1],
            kind=row[2],
            project_id=row[3],
            end_user_id=row[4],
            name=row[5],
            active=bool(row[6]),
            read_only=bool(row[7]),
            created_at=self._sql.dialect.from_ts(row[8]),
        )
