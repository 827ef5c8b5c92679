"""SQL of idempotency keys (D7): the stored decision of each admitted keyed request.

Records are written by ``SqlCounters.apply`` in the same call as the counters they answer for;
the services read them (a retry replays its stored answer) and the purge deletes old ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from meterstack.store.dialect import Dialect
from meterstack.store.rows import PurgedWindow, StoredDecision
from meterstack.store.statements import Statements

T = TypeVar("T")


class SqlIdempotency:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert_many(
        self, account_id: str, rows: Sequence[tuple[str, str, str]], now: datetime
    ) -> set[str]:
        """Store admitted decisions (key, request hash, decision); the keys stored (a key
        already taken is left as it is). Called by ``SqlCounters.apply`` only."""
        sql = self._sql
        if len(rows) == 1:  # every keyed consume: straight to the driver
            key, request_hash, decision = rows[0]
            cursor = sql.cursor
            params = {
                "account_id": account_id,
                "key": key,
                "request_hash": request_hash,
                "decision": decision,
                "created_at": sql.ts(now),
            }
            if sql.dialect.is_sqlite:
                # The count of rows written says it, without a RETURNING row to fetch.
                cursor.execute(_INSERT_ONE_SQLITE, params)
                return {key} if cursor.rowcount == 1 else set()
            cursor.execute(_INSERT_ONE_POSTGRES, params)
            return set() if cursor.fetchone() is None else {key}
        if sql.dialect.is_sqlite:
            stored: set[str] = set()
            created_at = sql.ts(now)
            for chunk in _chunks(rows):
                values: list[Any] = [account_id, created_at]
                for row in chunk:
                    values.extend(row)
                sql.cursor.execute(_insert_keys_sql(len(chunk)), values)
                stored.update(str(found[0]) for found in sql.cursor.fetchall())
            return stored
        # One JSON parameter keeps the statement text (and its plan) the same whatever the
        # batch size, and is much cheaper to send than text arrays.
        inserted_rows = sql.all(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
            "SELECT :account_id, k, h, d, :created_at "
            "FROM json_to_recordset(:rows::json) AS t(k text, h text, d text) "
            "ON CONFLICT DO NOTHING RETURNING key",
            {
                "account_id": account_id,
                "created_at": sql.ts(now),
                "rows": json.dumps([{"k": k, "h": h, "d": d} for k, h, d in rows]),
            },
        )
        return {str(row[0]) for row in inserted_rows}

    def get_many(self, account_id: str, keys: Sequence[str]) -> dict[str, StoredDecision]:
        """The stored records of those ``keys`` that exist."""
        sql = self._sql
        rows: list[Any] = []
        if sql.dialect.is_sqlite:
            for chunk in _chunks(keys):
                sql.cursor.execute(_select_keys_sql(len(chunk)), [account_id, *chunk])
                rows += sql.cursor.fetchall()
        else:
            # One primary-key probe per asked key, whatever the planner believes about the
            # account's keys: joined as a set (``key = ANY(…)``, ``IN (SELECT …)``), PostgreSQL
            # may scan every key the account holds, and a big account holds millions (D7 keeps
            # them 35 days). OFFSET 0 keeps the lateral lookup from being flattened into a join.
            rows = sql.all(
                "SELECT found.key, found.request_hash, found.decision, found.created_at "
                "FROM json_array_elements_text(:keys::json) AS asked(key) CROSS JOIN LATERAL "
                "(SELECT key, request_hash, decision, created_at FROM idempotency_keys "
                "WHERE account_id = :account_id AND key = asked.key OFFSET 0) AS found",
                {"account_id": account_id, "keys": json.dumps(list(keys))},
            )
        return {
            str(row[0]): StoredDecision(str(row[1]), str(row[2]), sql.dialect.from_ts(row[3]))
            for row in rows
        }

    def get(self, account_id: str, key: str) -> StoredDecision | None:
        row = self._sql.one(
            "SELECT request_hash, decision, created_at FROM idempotency_keys "
            "WHERE account_id = :account_id AND key = :key",
            {"account_id": account_id, "key": key},
        )
        if row is None:
            return None
        return StoredDecision(str(row[0]), str(row[1]), self._sql.dialect.from_ts(row[2]))

    def delete(self, account_id: str, key: str) -> None:
        self.delete_many(account_id, [key])

    def rewrite(self, account_id: str, key: str, decision: str) -> None:
        """The decision of a record this transaction stored (``SqlCounters.apply`` only)."""
        self._sql.execute(
            "UPDATE idempotency_keys SET decision = :decision "
            "WHERE account_id = :account_id AND key = :key",
            {"account_id": account_id, "key": key, "decision": decision},
        )

    def delete_many(self, account_id: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        within, params = self._sql.one_of("key", keys, "k")
        params["account_id"] = account_id
        self._sql.execute(
            f"DELETE FROM idempotency_keys WHERE account_id = :account_id AND {within}", params
        )

    def purge(self, before: datetime, after: tuple[str, str] | None, window: int) -> PurgedWindow:
        """Delete the keys created before ``before`` among the next ``window`` keys.

        Keys are visited in primary-key order, from just past ``after`` (the start when None):
        how many went, and the last key of the window, where the next one starts (None when
        this window reached the end). Each window is a short transaction of its own, so a purge
        of millions of keys never holds the write lock for long.
        """
        sql = self._sql
        params: dict[str, Any] = {"before": sql.ts(before), "last": window - 1}
        lower = ""
        if after is not None:
            lower = "(account_id, key) > (:after_account, :after_key)"
            params.update(after_account=after[0], after_key=after[1])
        end = sql.one(
            f"SELECT account_id, key FROM idempotency_keys {'WHERE ' + lower if lower else ''} "
            "ORDER BY account_id, key LIMIT 1 OFFSET :last",
            params,
        )
        within = [lower] if lower else []
        if end is not None:
            within.append("(account_id, key) <= (:end_account, :end_key)")
            params.update(end_account=end[0], end_key=end[1])
        cursor = sql.execute(
            "DELETE FROM idempotency_keys WHERE " + " AND ".join([*within, "created_at < :before"]),
            params,
        )
        return PurgedWindow(
            int(cursor.rowcount), None if end is None else (str(end[0]), str(end[1]))
        )


#: The insert of one record (``:account_id, :key, :request_hash, :decision, :created_at``).
INSERT_ONE = (
    "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
    "VALUES (:account_id, :key, :request_hash, :decision, :created_at) ON CONFLICT DO NOTHING"
)
#: The same, as each driver takes it.
_INSERT_ONE_SQLITE = Dialect("sqlite").sql(INSERT_ONE)
_INSERT_ONE_POSTGRES = Dialect("postgresql").sql(f"{INSERT_ONE} RETURNING key")

#: Keys per SQLite statement: the statement's text repeats for every full chunk (its compiled
#: form is reused), and a chunk stays far below SQLite's limit on bound parameters.
_CHUNK = 250


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@lru_cache(maxsize=_CHUNK)
def _insert_keys_sql(rows: int) -> str:
    """SQLite: insert ``rows`` records; ?1 is the account and ?2 the time, then 3 per row."""
    values = ", ".join(
        f"(?1, ?{3 + 3 * row}, ?{4 + 3 * row}, ?{5 + 3 * row}, ?2)" for row in range(rows)
    )
    return (
        "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
        f"VALUES {values} ON CONFLICT DO NOTHING RETURNING key"
    )


@lru_cache(maxsize=_CHUNK)
def _select_keys_sql(keys: int) -> str:
    """SQLite: the records of ``keys`` keys of one account (one primary-key probe each)."""
    return (
        "SELECT key, request_hash, decision, created_at FROM idempotency_keys "
        f"WHERE account_id = ? AND key IN ({', '.join('?' * keys)})"
    )
