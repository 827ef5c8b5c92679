"""SQL for webhook endpoints and their signing secrets (D28)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from meterstack.records.webhooks import Endpoint, EndpointSecret, Owner
from meterstack.store.statements import Statements

_ENDPOINT_COLUMNS = (
    "id, owner, account_id, url, event_types, description, enabled, created_at, updated_at"
)


class SqlWebhookEndpoints:
    """Webhook endpoints and their signing secrets (``store.ports.WebhookEndpoints``)."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert(self, endpoint: Endpoint) -> None:
        self._sql.execute(
            f"INSERT INTO webhook_endpoints ({_ENDPOINT_COLUMNS}) VALUES (:id, :owner, "
            ":account_id, :url, :event_types, :description, :enabled, :created_at, :updated_at)",
            {
                "id": endpoint.id,
                "owner": str(endpoint.owner),
                "account_id": endpoint.account_id,
                "url": endpoint.url,
                "event_types": json.dumps(list(endpoint.event_types)),
                "description": endpoint.description,
                "enabled": endpoint.enabled,
                "created_at": self._sql.ts(endpoint.created_at),
                "updated_at": self._sql.ts(endpoint.updated_at),
            },
        )

    def update(self, endpoint: Endpoint) -> None:
        self._sql.execute(
            "UPDATE webhook_endpoints SET url = :url, event_types = :event_types, "
            "description = :description, enabled = :enabled, updated_at = :updated_at "
            "WHERE id = :id",
            {
                "id": endpoint.id,
                "url": endpoint.url,
                "event_types": json.dumps(list(endpoint.event_types)),
                "description": endpoint.description,
                "enabled": endpoint.enabled,
                "updated_at": self._sql.ts(endpoint.updated_at),
            },
        )

    def get(self, endpoint_id: str) -> Endpoint | None:
        row = self._sql.one(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = :id", {"id": endpoint_id}
        )
        return None if row is None else _endpoint(self._sql, row)

    def find(self, *, account_id: str | None = None, owner: Owner | None = None) -> list[Endpoint]:
        """Endpoints, oldest first: of one account (its own and the operator's for it) or all."""
        where, params = ["1 = 1"], {}
        if account_id is not None:
            where.append("account_id = :account_id")
            params["account_id"] = account_id
        if owner is not None:
            where.append("owner = :owner")
            params["owner"] = str(owner)
        rows = self._sql.all(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {' AND '.join(where)} "
            "ORDER BY created_at, id",
            params,
        )
        return [_endpoint(self._sql, row) for row in rows]

    def receiving(self, account_ids: Sequence[str]) -> list[Endpoint]:
        """The enabled endpoints that may receive events of these accounts."""
        within, params = self._sql.one_of("account_id", account_ids, "a")
        rows = self._sql.all(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = :enabled AND "
            f"(account_id IS NULL OR {within}) ORDER BY created_at, id",
            {"enabled": True, **params},
        )
        return [_endpoint(self._sql, row) for row in rows]

    def count_locked(self, account_id: str, owner: Owner) -> int:
        """How many endpoints the account has of ``owner``; on PostgreSQL their rows stay locked
        until the transaction ends, so two registrations cannot both pass the limit."""
        if self._sql.dialect.is_sqlite:  # BEGIN IMMEDIATE: one writer at a time already
            row = self._sql.one(
                "SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = :account_id "
                "AND owner = :owner",
                {"account_id": account_id, "owner": str(owner)},
            )
            return int(row[0])
        # The account's row serializes registrations, even when it has no endpoint yet.
        self._sql.execute("SELECT id FROM accounts WHERE id = :id FOR UPDATE", {"id": account_id})
        row = self._sql.one(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = :account_id "
            "AND owner = :owner",
            {"account_id": account_id, "owner": str(owner)},
        )
        return int(row[0])

    def delete(self, endpoint_id: str) -> None:
        """The endpoint, its secrets, its deliveries and their attempts."""
        self._sql.execute(
            "DELETE FROM webhook_attempts WHERE delivery_id IN "
            "(SELECT id FROM webhook_deliveries WHERE endpoint_id = :id)",
            {"id": endpoint_id},
        )
        for table, column in (
            ("webhook_deliveries", "endpoint_id"),
            ("webhook_secrets", "endpoint_id"),
            ("webhook_endpoints", "id"),
        ):
            self._sql.execute(f"DELETE FROM {table} WHERE {column} = :id", {"id": endpoint_id})

    def insert_secret(
        self, endpoint_id: str, secret: str, now: datetime, *, overlap_until: datetime
    ) -> EndpointSecret:
        """Make ``secret`` the current one; the previous current one signs until ``overlap_until``.

        Secrets that had lapsed are deleted: they sign nothing any more.
        """
        self._sql.execute(
            "DELETE FROM webhook_secrets WHERE endpoint_id = :id AND expires_at <= :now",
            {"id": endpoint_id, "now": self._sql.ts(now)},
        )
        self._sql.execute(
            "UPDATE webhook_secrets SET expires_at = :until WHERE endpoint_id = :id "
            "AND expires_at IS NULL",
            {"id": endpoint_id, "until": self._sql.ts(overlap_until)},
        )
        row = self._sql.one(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_secrets WHERE endpoint_id = :id",
            {"id": endpoint_id},
        )
        seq = int(row[0])
        self._sql.execute(
            "INSERT INTO webhook_secrets (endpoint_id, seq, secret, created_at, expires_at) "
            "VALUES (:id, :seq, :secret, :now, NULL)",
            {"id": endpoint_id, "seq": seq, "secret": secret, "now": self._sql.ts(now)},
        )
        return EndpointSecret(seq, secret, now, None)

    def secrets_of(self, endpoint_ids: Sequence[str]) -> dict[str, list[EndpointSecret]]:
        """Each endpoint's secrets, newest first."""
        if not endpoint_ids:
            return {}
        within, params = self._sql.one_of("endpoint_id", endpoint_ids, "e")
        rows = self._sql.all(
            "SELECT endpoint_id, seq, secret, created_at, expires_at FROM webhook_secrets "
            f"WHERE {within} ORDER BY endpoint_id, seq DESC",
            params,
        )
        found: dict[str, list[EndpointSecret]] = {}
        for endpoint_id, seq, secret, created, expires in rows:
            found.setdefault(endpoint_id, []).append(
                EndpointSecret(
                    seq,
                    secret,
                    self._sql.dialect.from_ts(created),
                    None if expires is None else self._sql.dialect.from_ts(expires),
                )
            )
        return found


def _endpoint(sql: Statements, row: Any) -> Endpoint:
    endpoint_id, owner, account_id, url, types, description, enabled, created, updated = row
    return Endpoint(
        id=endpoint_id,
        owner=Owner(owner),
        account_id=account_id,
        url=url,
        event_types=tuple(json.loads(types)),
        description=description,
        enabled=bool(enabled),
        created_at=sql.dialect.from_ts(created),
        updated_at=sql.dialect.from_ts(updated),
    )
