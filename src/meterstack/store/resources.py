"""SQL of counted objects: projects, end users and the other resources of a catalog (A10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterstack.store.statements import Statements


class ResourceStatements(Statements):
    def insert_resource(
        self,
        resource_id: str,
        account_id: str,
        kind: str,
        now: datetime,
        *,
        project_id: str | None = None,
        end_user_id: str | None = None,
        name: str | None = None,
        active: bool = True,
    ) -> None:
        self.execute(
            "INSERT INTO resources (id, account_id, kind, project_id, end_user_id, name, active, "
            "read_only, created_at) VALUES (:id, :account_id, :kind, :project_id, :end_user_id, "
            ":name, :active, :read_only, :created_at)",
            {
                "id": resource_id,
                "account_id": account_id,
                "kind": kind,
                "project_id": project_id,
                "end_user_id": end_user_id,
                "name": name,
                "active": active,
                "read_only": False,
                "created_at": self.ts(now),
            },
        )

    def resource(self, resource_id: str) -> tuple[Any, ...] | None:
        row = self.one(
            "SELECT id, account_id, kind, project_id, end_user_id, name, active, read_only, "
            "created_at FROM resources WHERE id = :id",
            {"id": resource_id},
        )
        if row is None:
            return None
        return (*row[:6], bool(row[6]), bool(row[7]), self.dialect.from_ts(row[8]))

    def delete_resource(self, resource_id: str) -> bool:
        row = self.one("DELETE FROM resources WHERE id = :id RETURNING id", {"id": resource_id})
        return row is not None
