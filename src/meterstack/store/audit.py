"""SQL of the audit log (``store.ports.AuditLog``): append-only, read newest first.

Nothing here updates or deletes an entry. ``seq`` is the order entries were written in; pages
are read by it, through the account's or the kind's index.
"""

from __future__ import annotations

from typing import Any

from meterstack.records.audit import Actor, AuditEntry, decode_state, encode_state
from meterstack.store.statements import Statements

_COLUMNS = "seq, id, account_id, kind, actor_kind, actor_id, reason, at, state_before, state_after"


class SqlAuditLog:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def append(self, entry: AuditEntry) -> None:
        self._sql.execute(
            "INSERT INTO audit_log (id, account_id, kind, actor_kind, actor_id, reason, at, "
            "state_before, state_after) VALUES (:id, :account_id, :kind, :actor_kind, "
            ":actor_id, :reason, :at, :before, :after)",
            {
                "id": entry.id,
                "account_id": entry.account_id,
                "kind": entry.kind,
                "actor_kind": entry.actor.kind,
                "actor_id": entry.actor.id,
                "reason": entry.actor.reason,
                "at": self._sql.ts(entry.at),
                "before": encode_state(entry.before),
                "after": encode_state(entry.after),
            },
        )

    def entries(
        self,
        *,
        account_id: str | None,
        kind: str | None,
        before: int | None,
        limit: int,
        family: str | None = None,
    ) -> list[tuple[int, AuditEntry]]:
        clauses = []
        params: dict[str, Any] = {"limit": limit}
        if account_id is not None:
            clauses.append("account_id = :account_id")
            params["account_id"] = account_id
        if kind is not None:
            clauses.append("kind = :kind")
            params["kind"] = kind
        if family is not None:
            # Not LIKE: its wildcards (``_``) are in the kinds, and SQLite's ignores case.
            clauses.append("substr(kind, 1, :family_length) = :family")
            params["family"], params["family_length"] = family, len(family)
        if before is not None:
            clauses.append("seq < :before")
            params["before"] = before
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = self._sql.all(
            f"SELECT {_COLUMNS} FROM audit_log {where}ORDER BY seq DESC LIMIT :limit", params
        )
        return [(int(row[0]), self._entry(row)) for row in rows]

    def _entry(self, row: Any) -> AuditEntry:
        return AuditEntry(
            id=row[1],
            account_id=row[2],
            kind=row[3],
            actor=Actor(row[4], row[5], row[6]),
            at=self._sql.dialect.from_ts(row[7]),
            before=decode_state(row[8]),
            after=decode_state(row[9]),
        )
