"""SQL of API keys; the key text itself is never stored.

A row holds the non-secret lookup id and a hash of the key (A7, A8).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from meterstack.store.rows import ApiKeyRow
from meterstack.store.statements import Statements

_COLUMNS = (
    "id, account_id, project_id, kind, lookup, secret_hash, name, modules, quotas, "
    "created_at, revoked_at"
)


class SqlKeys:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert(self, row: ApiKeyRow) -> None:
        self._sql.execute(
            f"INSERT INTO api_keys ({_COLUMNS}) VALUES (:id, :account_id, :project_id, :kind, "
            ":lookup, :secret_hash, :name, :modules, :quotas, :created_at, NULL)",
            {
                "id": row.id,
                "account_id": row.account_id,
                "project_id": row.project_id,
                "kind": row.kind,
                "lookup": row.lookup,
                "secret_hash": row.secret_hash,
                "name": row.name,
                "modules": None if row.modules is None else json.dumps(sorted(row.modules)),
                "quotas": None if row.quotas is None else json.dumps(row.quotas, sort_keys=True),
                "created_at": self._sql.ts(row.created_at),
            },
        )

    def get(self, key_id: str) -> ApiKeyRow | None:
        row = self._sql.one(f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id", {"id": key_id})
        return None if row is None else self._row(row)

    def by_lookup(self, lookup: str) -> ApiKeyRow | None:
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM api_keys WHERE lookup = :lookup", {"lookup": lookup}
        )
        return None if row is None else self._row(row)

    def of_account(self, account_id: str, *, revoked: bool) -> list[ApiKeyRow]:
        """The account's keys, oldest first (then by id); revoked ones too when ``revoked``."""
        live = "" if revoked else " AND revoked_at IS NULL"
        rows = self._sql.all(
            f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = :account_id{live} "
            "ORDER BY created_at, id",
            {"account_id": account_id},
        )
        return [self._row(row) for row in rows]

    def revoke(self, key_id: str, now: datetime) -> bool:
        """Mark a live key revoked; False if it was already revoked (or does not exist).

        The condition makes revocation happen once even when two callers race, so the key's
        resource slot is freed once.
        """
        row = self._sql.one(
            "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL "
            "RETURNING id",
            {"id": key_id, "now": self._sql.ts(now)},
        )
        return row is not None

    def of_project(self, project_id: str) -> list[str]:
        """The live keys of a project."""
        rows = self._sql.all(
            "SELECT id FROM api_keys WHERE project_id = :project_id AND revoked_at IS NULL "
            "ORDER BY created_at, id",
            {"project_id": project_id},
        )
        return [str(row[0]) for row in rows]

    def _row(self, row: Any) -> ApiKeyRow:
        from_ts = self._sql.dialect.from_ts
        modules = None if row[7] is None else tuple(json.loads(row[7]))
        quotas = None if row[8] is None else {str(k): int(v) for k, v in json.loads(row[8]).items()}
        return ApiKeyRow(
            id=row[0],
            account_id=row[1],
            project_id=row[2],
            kind=row[3],
            lookup=row[4],
            secret_hash=row[5],
            name=row[6],
            modules=modules,
            quotas=quotas,
            created_at=from_ts(row[9]),
            revoked_at=None if row[10] is None else from_ts(row[10]),
        )
