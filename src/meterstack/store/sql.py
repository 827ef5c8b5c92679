"""The SQL store: one transaction per unit of work, conditional increments, nothing else decides.

Services open a :class:`Transaction` with :meth:`SqlStore.transaction`; every write of a unit of
work happens inside it and lands all or none. On SQLite the transaction is ``BEGIN IMMEDIATE``
(one writer at a time, across processes); on PostgreSQL, row locks taken by the conditional
upserts serialize writers of the same counter, and scopes are always touched in one fixed order.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from meterstack.rules.admission import Totals
from meterstack.rules.terms import PROJECT_KIND, AccountState, LimitOverride
from meterstack.store.dialect import Dialect, StoreUrl, create_sql_engine, parse_store_url
from meterstack.store.migrate import upgrade

#: The conditional increment, on a row that exists (the common case: one b-tree lookup).
_COUNTER_UPDATE = """
UPDATE counters SET used = used + :d_used, held = held + :d_held, overage = overage + {overage}
WHERE account_id = :account_id AND item = :item AND scope = :scope AND period = :period{condition}
RETURNING used, held, overage{version}
"""
#: The same, creating the row on the scope's first use in the period.
_COUNTER_UPSERT = """
INSERT INTO counters (account_id, item, scope, period, used, held, overage)
VALUES (:account_id, :item, :scope, :period, :d_used, :d_held, :d_overage)
ON CONFLICT (account_id, item, scope, period) DO UPDATE SET
  used = counters.used + excluded.used,
  held = counters.held + excluded.held,
  overage = counters.overage + {overage}
{condition}
RETURNING used, held, overage{version}
"""
#: Reads the account's version in the same statement (the optimistic cache check).
_VERSION = ", (SELECT version FROM accounts WHERE id = :account_id)"
_OVERAGE_NONE = "0"
_OVERAGE_FROM = (
    "CASE WHEN {used} + :d_used <= :overage_from THEN 0 "
    "WHEN {used} >= :overage_from THEN :d_used "
    "ELSE {used} + :d_used - :overage_from END"
)
_BOUND = "WHERE counters.used + counters.held + excluded.used + excluded.held <= :bound"
_UPDATE_BOUND = " AND used + held + :d_used + :d_held <= :bound"


@lru_cache(maxsize=64)
def _scopes_sql(shape: tuple[tuple[bool, bool], ...]) -> str:
    """PostgreSQL: lock the scopes' counters in scope order, then add to each within its bound.

    ``shape`` says, per scope, whether it has a bound and where overage starts. The ORDER BY …
    FOR UPDATE takes the row locks in one global order (the order of the other paths: account,
    then project); the UPDATE's bound is re-checked on the row's latest version.
    """
    scopes = ", ".join(f":s{index}" for index in range(len(shape)))
    bounds = " ".join(
        f"WHEN :s{index} THEN :b{index}" for index, (bounded, _) in enumerate(shape) if bounded
    )
    overages = " ".join(
        f"WHEN :s{index} THEN "
        + _OVERAGE_FROM.format(used="c.used")
        .replace(":overage_from", f":o{index}")
        .replace(":d_used", ":q")
        for index, (_, overage) in enumerate(shape)
        if overage
    )
    condition = (
        f" AND c.used + c.held + :q <= CASE c.scope {bounds} ELSE c.used + c.held + :q END"
        if bounds
        else ""
    )
    overage = f"CASE c.scope {overages} ELSE 0 END" if overages else "0"
    return (
        "WITH locked AS (SELECT scope FROM counters WHERE account_id = :account_id "
        f"AND item = :item AND period = :period AND scope IN ({scopes}) ORDER BY scope FOR UPDATE) "
        f"UPDATE counters AS c SET used = c.used + :q, overage = c.overage + {overage} "
        "FROM locked WHERE c.account_id = :account_id AND c.item = :item "
        f"AND c.period = :period AND c.scope = locked.scope{condition} "
        "RETURNING c.scope, c.used, c.held, c.overage, "
        "(SELECT version FROM accounts WHERE id = :account_id)"
    )


@lru_cache(maxsize=16)
def _increment_sql(update: bool, overage: bool, bound: bool, version: bool) -> str:
    """The increment statement for one combination of options, built once."""
    if update:
        return _COUNTER_UPDATE.format(
            overage=_OVERAGE_FROM.format(used="used") if overage else _OVERAGE_NONE,
            condition=_UPDATE_BOUND if bound else "",
            version=_VERSION if version else "",
        )
    return _COUNTER_UPSERT.format(
        overage=_OVERAGE_FROM.format(used="counters.used") if overage else _OVERAGE_NONE,
        condition=_BOUND if bound else "",
        version=_VERSION if version else "",
    )


@dataclass(frozen=True)
class AccountRow:
    id: str
    catalog_hash: str
    plan_id: str
    billing_interval: str
    status: str
    period_anchor: datetime
    created_at: datetime
    version: int
    anonymous: bool
    email: str | None
    name: str | None


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


class SqlStore:
    """Persistence for SQLite and PostgreSQL behind one interface."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 20) -> None:
        self.url: StoreUrl = parse_store_url(url)
        self.engine = create_sql_engine(self.url, pool_size=pool_size)
        self.dialect = Dialect(self.url.backend)
        self._idle: list[Any] = []
        self._keep_idle = pool_size
        _forget_after_fork(self)
        if self.url.schema is not None:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.url.schema}"')
        if migrate:
            upgrade(self.engine)

    @property
    def backend(self) -> str:
        return self.url.backend

    def close(self) -> None:
        self._drop_idle(close=True)
        self.engine.dispose()

    # A unit of work takes a pooled connection and gives it back. SQLAlchemy's pool costs more
    # per checkout than a whole SQLite transaction, so connections that were checked out once
    # stay checked out in a LIFO stash of this store (``list.pop``/``append`` are atomic); the
    # pool still opens, counts and finally closes them. A broken connection is not stashed.

    def _acquire(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            return self.engine.raw_connection()

    def _give_back(self, connection: Any, healthy: bool) -> None:
        if healthy and len(self._idle) < self._keep_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def _drop_idle(self, *, close: bool) -> None:
        idle, self._idle = self._idle, []
        if close:
            for connection in idle:
                connection.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        connection = self._acquire()
        healthy = False
        cursor = connection.cursor()
        try:
            self.dialect.begin(cursor)
            tx = Transaction(cursor, self.dialect)
            try:
                yield tx
            except BaseException:
                _rollback(connection, cursor, self.dialect)
                healthy = True
                raise
            if tx.rollback_only:
                _rollback(connection, cursor, self.dialect)
            elif self.dialect.is_sqlite:
                cursor.execute("COMMIT")
            else:
                connection.commit()
            healthy = True
        finally:
            cursor.close()
            self._give_back(connection, healthy)


def _forget_after_fork(store: SqlStore) -> None:
    """A forked child must not share its parent's open connections: it opens its own."""
    reference = weakref.ref(store)

    def forget() -> None:
        alive = reference()
        if alive is not None:
            alive._drop_idle(close=False)

    os.register_at_fork(after_in_child=forget)


def _rollback(connection: Any, cursor: Any, dialect: Dialect) -> None:
    if dialect.is_sqlite:
        if not connection.dbapi_connection.in_transaction:
            return
        cursor.execute("ROLLBACK")
    else:
        connection.rollback()


class Transaction:
    """The operations of one unit of work; every method runs inside the open transaction."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect
        #: Set by a service that decided to undo everything (a refused request).
        self.rollback_only = False
        #: What services read once per transaction (account states by id).
        self.memo: dict[str, Any] = {}
        #: The account version read by the last ``increment(read_version=True)``.
        self.last_version: int | None = None

    # ------------------------------------------------------------------ low level

    def execute(self, text: str, params: dict[str, Any] | None = None) -> Any:
        self.cursor.execute(self.dialect.sql(text), params or {})
        return self.cursor

    def one(self, text: str, params: dict[str, Any] | None = None) -> Any:
        return self.execute(text, params).fetchone()

    def all(self, text: str, params: dict[str, Any] | None = None) -> list[Any]:
        return list(self.execute(text, params).fetchall())

    def ts(self, instant: datetime) -> Any:
        return self.dialect.ts(instant)

    # ------------------------------------------------------------------ catalogs

    def catalog_by_name_version(self, name: str, version: int) -> tuple[str, str] | None:
        row = self.one(
            "SELECT hash, content FROM catalog_versions WHERE name = :name AND version = :version",
            {"name": name, "version": version},
        )
        return None if row is None else (row[0], row[1])

    def catalog_content(self, content_hash: str) -> str | None:
        row = self.one(
            "SELECT content FROM catalog_versions WHERE hash = :hash", {"hash": content_hash}
        )
        return None if row is None else str(row[0])

    def insert_catalog(
        self, content_hash: str, name: str, version: int, content: str, now: datetime
    ) -> None:
        self.execute(
            "INSERT INTO catalog_versions (hash, name, version, content, created_at) "
            "VALUES (:hash, :name, :version, :content, :created_at) ON CONFLICT DO NOTHING",
            {
                "hash": content_hash,
                "name": name,
                "version": version,
                "content": content,
                "created_at": self.ts(now),
            },
        )

    # ------------------------------------------------------------------ accounts

    def insert_account(self, row: AccountRow) -> None:
        self.execute(
            "INSERT INTO accounts (id, catalog_hash, plan_id, billing_interval, status, "
            "period_anchor, created_at, version, anonymous, email, name) VALUES (:id, "
            ":catalog_hash, :plan_id, :billing_interval, :status, :period_anchor, :created_at, "
            ":version, :anonymous, :email, :name)",
            {
                "id": row.id,
                "catalog_hash": row.catalog_hash,
                "plan_id": row.plan_id,
                "billing_interval": row.billing_interval,
                "status": row.status,
                "period_anchor": self.ts(row.period_anchor),
                "created_at": self.ts(row.created_at),
                "version": row.version,
                "anonymous": row.anonymous,
                "email": row.email,
                "name": row.name,
            },
        )
        self.execute(
            "INSERT INTO plan_history (account_id, started_at, seq, plan_id, billing_interval, "
            "catalog_hash) VALUES (:id, :created_at, 1, :plan_id, :interval, :catalog_hash)",
            {
                "id": row.id,
                "created_at": self.ts(row.created_at),
                "plan_id": row.plan_id,
                "interval": row.billing_interval,
                "catalog_hash": row.catalog_hash,
            },
        )

    def account(self, account_id: str) -> AccountRow | None:
        row = self.one(
            "SELECT id, catalog_hash, plan_id, billing_interval, status, period_anchor, "
            "created_at, version, anonymous, email, name FROM accounts WHERE id = :id",
            {"id": account_id},
        )
        if row is None:
            return None
        return AccountRow(
            id=row[0],
            catalog_hash=row[1],
            plan_id=row[2],
            billing_interval=row[3],
            status=row[4],
            period_anchor=self.dialect.from_ts(row[5]),
            created_at=self.dialect.from_ts(row[6]),
            version=int(row[7]),
            anonymous=bool(row[8]),
            email=row[9],
            name=row[10],
        )

    def account_version(self, account_id: str) -> int | None:
        row = self.one("SELECT version FROM accounts WHERE id = :id", {"id": account_id})
        return None if row is None else int(row[0])

    def bump_version(self, account_id: str) -> int:
        row = self.one(
            "UPDATE accounts SET version = version + 1 WHERE id = :id RETURNING version",
            {"id": account_id},
        )
        return int(row[0])

    def account_state(self, account_id: str) -> AccountState | None:
        account = self.account(account_id)
        if account is None:
            return None
        params = {"account_id": account_id}
        overrides = {
            (row[0], row[1]): LimitOverride(
                limit=None if row[2] else int(row[3]),
                grace_percent=None if row[4] is None else Decimal(row[4]),
            )
            for row in self.all(
                "SELECT project_id, item, unlimited, limit_value, grace_percent "
                "FROM limit_overrides WHERE account_id = :account_id",
                params,
            )
        }
        switches = {
            (row[0], row[1]): bool(row[2])
            for row in self.all(
                "SELECT project_id, item, enabled FROM overage_switches "
                "WHERE account_id = :account_id",
                params,
            )
        }
        packs = tuple(
            row[0]
            for row in self.all(
                "SELECT pack_id FROM account_packs WHERE account_id = :account_id "
                "ORDER BY granted_at, id",
                params,
            )
        )
        projects = frozenset(
            row[0]
            for row in self.all(
                "SELECT id FROM resources WHERE account_id = :account_id AND kind = :kind",
                {**params, "kind": PROJECT_KIND},
            )
        )
        features: dict[str, bool | str] = {
            row[0]: {"true": True, "false": False}.get(row[1], row[1])
            for row in self.all(
                "SELECT feature, value FROM feature_overrides WHERE account_id = :account_id",
                params,
            )
        }
        prices = tuple(
            (str(row[0]), str(row[1]))
            for row in self.all(
                "SELECT target, value FROM price_overrides WHERE account_id = :account_id "
                "ORDER BY target",
                params,
            )
        )
        pending = self.one(
            "SELECT effective_at FROM pending_changes WHERE account_id = :account_id", params
        )
        return AccountState(
            account_id=account.id,
            plan_id=account.plan_id,
            catalog_hash=account.catalog_hash,
            version=account.version,
            period_anchor=account.period_anchor,
            overrides=overrides,
            packs=packs,
            switches=switches,
            projects=projects,
            features=features,
            prices=prices,
            pending_at=None if pending is None else self.dialect.from_ts(pending[0]),
        )

    def set_override(
        self, account_id: str, project_id: str, item: str, override: LimitOverride
    ) -> None:
        self.execute(
            "INSERT INTO limit_overrides (account_id, project_id, item, unlimited, limit_value, "
            "grace_percent) VALUES (:account_id, :project_id, :item, :unlimited, :limit_value, "
            ":grace) ON CONFLICT (account_id, project_id, item) DO UPDATE SET "
            "unlimited = excluded.unlimited, limit_value = excluded.limit_value, "
            "grace_percent = excluded.grace_percent",
            {
                "account_id": account_id,
                "project_id": project_id,
                "item": item,
                "unlimited": override.limit is None,
                "limit_value": override.limit,
                "grace": None if override.grace_percent is None else str(override.grace_percent),
            },
        )

    def set_feature_override(self, account_id: str, feature: str, value: bool | str | None) -> None:
        """Give one account its own value of a feature (D14); None removes the override."""
        params = {"account_id": account_id, "feature": feature}
        if value is None:
            self.execute(
                "DELETE FROM feature_overrides WHERE account_id = :account_id "
                "AND feature = :feature",
                params,
            )
            return
        stored = value if isinstance(value, str) else ("true" if value else "false")
        self.execute(
            "INSERT INTO feature_overrides (account_id, feature, value) VALUES (:account_id, "
            ":feature, :value) ON CONFLICT (account_id, feature) DO UPDATE SET "
            "value = excluded.value",
            {**params, "value": stored},
        )

    def set_price_override(self, account_id: str, target: str, value: str | None) -> None:
        """Store (or with None remove) an operator's price for one account (D14)."""
        params = {"account_id": account_id, "target": target, "value": value}
        if value is None:
            self.execute(
                "DELETE FROM price_overrides WHERE account_id = :account_id AND target = :target",
                params,
            )
            return
        self.execute(
            "INSERT INTO price_overrides (account_id, target, value) VALUES (:account_id, "
            ":target, :value) ON CONFLICT (account_id, target) DO UPDATE SET "
            "value = excluded.value",
            params,
        )

    def clear_override(self, account_id: str, project_id: str, item: str) -> None:
        self.execute(
            "DELETE FROM limit_overrides WHERE account_id = :account_id "
            "AND project_id = :project_id AND item = :item",
            {"account_id": account_id, "project_id": project_id, "item": item},
        )

    def set_switch(self, account_id: str, project_id: str, item: str, enabled: bool) -> None:
        self.execute(
            "INSERT INTO overage_switches (account_id, project_id, item, enabled) VALUES "
            "(:account_id, :project_id, :item, :enabled) ON CONFLICT (account_id, project_id, "
            "item) DO UPDATE SET enabled = excluded.enabled",
            {"account_id": account_id, "project_id": project_id, "item": item, "enabled": enabled},
        )

    def insert_pack(
        self, grant_id: str, account_id: str, pack_id: str, now: datetime, source: str
    ) -> None:
        self.execute(
            "INSERT INTO account_packs (id, account_id, pack_id, granted_at, source) VALUES "
            "(:id, :account_id, :pack_id, :granted_at, :source)",
            {
                "id": grant_id,
                "account_id": account_id,
                "pack_id": pack_id,
                "granted_at": self.ts(now),
                "source": source,
            },
        )

    # ------------------------------------------------------------------ counters

    def increment(
        self,
        account_id: str,
        item: str,
        scope: str,
        period: str,
        *,
        d_used: int = 0,
        d_held: int = 0,
        bound: int | None = None,
        overage_from: int | None = None,
        read_version: bool = False,
        create: bool = True,
    ) -> Totals | None:
        """Add to a counter if the new used + held stays within ``bound``; None if refused.

        This conditional increment is the only place where admission happens. With
        ``read_version``, the account's version as of this statement lands in
        :attr:`last_version`. With ``create=False`` a counter that does not exist yet is not
        created, and None means "refused or absent".
        """
        if bound is not None and d_used + d_held > bound:
            # The row may not exist yet, and an insert would admit unconditionally.
            return None
        first_overage = 0
        if overage_from is not None:
            first_overage = max(0, min(d_used, d_used - overage_from))
        params = {
            "account_id": account_id,
            "item": item,
            "scope": scope,
            "period": period,
            "d_used": d_used,
            "d_held": d_held,
            "d_overage": first_overage,
            "bound": bound,
            "overage_from": overage_from,
        }
        options = (overage_from is not None, bound is not None, read_version)
        row = self.one(_increment_sql(True, *options), params)
        if row is None and create:
            # No row yet, or the bound refused: the upsert creates the row or refuses again.
            row = self.one(_increment_sql(False, *options), params)
        if row is None:
            return None
        if read_version:
            self.last_version = None if row[3] is None else int(row[3])
        return Totals(used=int(row[0]), held=int(row[1]), overage=int(row[2]))

    def increment_scopes(
        self,
        account_id: str,
        item: str,
        period: str,
        steps: Sequence[tuple[str, int | None, int | None]],
        quantity: int,
    ) -> tuple[list[Totals], int | None] | None:
        """Add ``quantity`` to existing counters, each within its bound: the totals in order
        and the account's version; None when one refused or has no counter yet.

        ``steps`` are (scope, bound, overage from), in lock order. On None the other scopes may
        have moved: the caller must roll the transaction back. On PostgreSQL one statement
        locks the rows in scope order and updates them all (a round trip per scope saved).
        """
        if not self.dialect.is_sqlite:
            return self._increment_scopes_at_once(account_id, item, period, steps, quantity)
        totals: list[Totals] = []
        for scope, bound, overage_from in steps:
            after = self.increment(
                account_id,
                item,
                scope,
                period,
                d_used=quantity,
                bound=bound,
                overage_from=overage_from,
                read_version=not totals,
                create=False,
            )
            if after is None:
                return None
            totals.append(after)
        return totals, self.last_version

    def _increment_scopes_at_once(
        self,
        account_id: str,
        item: str,
        period: str,
        steps: Sequence[tuple[str, int | None, int | None]],
        quantity: int,
    ) -> tuple[list[Totals], int | None] | None:
        params: dict[str, Any] = {
            "account_id": account_id,
            "item": item,
            "period": period,
            "q": quantity,
        }
        for index, (scope, bound, overage_from) in enumerate(steps):
            params[f"s{index}"] = scope
            params[f"b{index}"] = bound
            params[f"o{index}"] = overage_from
        shape = tuple((bound is not None, overage is not None) for _, bound, overage in steps)
        rows = self.all(_scopes_sql(shape), params)
        if len(rows) != len(steps):
            return None
        by_scope = {row[0]: Totals(int(row[1]), int(row[2]), int(row[3])) for row in rows}
        version = rows[0][4]
        return [by_scope[scope] for scope, _, _ in steps], None if version is None else int(version)

    def adjust(
        self,
        account_id: str,
        item: str,
        scope: str,
        period: str,
        *,
        d_used: int = 0,
        d_held: int = 0,
        d_overage: int = 0,
    ) -> Totals:
        """Unconditional change of a counter (compensation, commit of a hold, release)."""
        row = self.one(
            "INSERT INTO counters (account_id, item, scope, period, used, held, overage) VALUES "
            "(:account_id, :item, :scope, :period, :d_used, :d_held, :d_overage) "
            "ON CONFLICT (account_id, item, scope, period) DO UPDATE SET "
            "used = counters.used + excluded.used, held = counters.held + excluded.held, "
            "overage = counters.overage + excluded.overage RETURNING used, held, overage",
            {
                "account_id": account_id,
                "item": item,
                "scope": scope,
                "period": period,
                "d_used": d_used,
                "d_held": d_held,
                "d_overage": d_overage,
            },
        )
        return Totals(used=int(row[0]), held=int(row[1]), overage=int(row[2]))

    def write_level(
        self,
        account_id: str,
        item: str,
        scope: str,
        *,
        level: int | None = None,
        delta: int | None = None,
        bound: int | None = None,
    ) -> Totals | None:
        """Set a gauge's level, or move it by ``delta``; None when refused.

        Growth must stay within ``bound``; shrinking is always admitted, never below zero.
        Like :meth:`increment`, the condition is checked by the write itself.
        """
        params: dict[str, Any] = {
            "account_id": account_id,
            "item": item,
            "scope": scope,
            "period": "",
            "bound": bound,
        }
        if level is not None:
            params["value"] = level
            new_value = ":value"
            fresh = level
        else:
            params["value"] = delta
            new_value = "counters.used + :value"
            fresh = delta or 0
        condition = f"{new_value} >= 0"
        if bound is not None:
            condition += f" AND ({new_value} <= :bound OR {new_value} <= counters.used)"
        if fresh < 0 or (bound is not None and fresh > bound):
            # No row yet means a level of 0: an insert would skip the condition.
            row = self.one(
                f"UPDATE counters SET used = {new_value} WHERE account_id = :account_id "
                "AND item = :item AND scope = :scope AND period = :period "
                f"AND {condition} RETURNING used, held, overage",
                params,
            )
        else:
            row = self.one(
                "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
                "VALUES (:account_id, :item, :scope, :period, :value, 0, 0) "
                "ON CONFLICT (account_id, item, scope, period) DO UPDATE SET "
                f"used = {new_value} WHERE {condition} RETURNING used, held, overage",
                params,
            )
        if row is None:
            return None
        return Totals(used=int(row[0]), held=int(row[1]), overage=int(row[2]))

    def raise_peak(self, account_id: str, item: str, scope: str, period: str, level: int) -> None:
        """Keep the highest level of the period (storage overage is priced at the peak, D3)."""
        greatest = "MAX" if self.dialect.is_sqlite else "GREATEST"
        self.execute(
            "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
            "VALUES (:account_id, :item, :scope, :period, :level, 0, 0) "
            "ON CONFLICT (account_id, item, scope, period) DO UPDATE SET "
            f"used = {greatest}(counters.used, excluded.used)",
            {
                "account_id": account_id,
                "item": item,
                "scope": scope,
                "period": period,
                "level": level,
            },
        )

    def totals(self, account_id: str, item: str, scope: str, period: str) -> Totals:
        row = self.one(
            "SELECT used, held, overage FROM counters WHERE account_id = :account_id "
            "AND item = :item AND scope = :scope AND period = :period",
            {"account_id": account_id, "item": item, "scope": scope, "period": period},
        )
        if row is None:
            return Totals()
        return Totals(used=int(row[0]), held=int(row[1]), overage=int(row[2]))

    def counters_of(self, account_id: str, periods: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """Every counter of an account in the given periods: (item, scope, period, totals)."""
        params: dict[str, Any] = {"account_id": account_id}
        names = []
        for index, period in enumerate(periods):
            params[f"p{index}"] = period
            names.append(f":p{index}")
        rows = self.all(
            "SELECT item, scope, period, used, held, overage FROM counters WHERE "
            f"account_id = :account_id AND period IN ({', '.join(names)})",
            params,
        )
        return [
            (
                row[0],
                row[1],
                row[2],
                Totals(used=int(row[3]), held=int(row[4]), overage=int(row[5])),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ idempotency

    def save_idempotency(
        self, account_id: str, key: str, request_hash: str, decision: str, now: datetime
    ) -> bool:
        """Store an admitted decision under its key; False if the key is already taken."""
        row = self.one(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
            "VALUES (:account_id, :key, :request_hash, :decision, :created_at) "
            "ON CONFLICT DO NOTHING RETURNING account_id",
            {
                "account_id": account_id,
                "key": key,
                "request_hash": request_hash,
                "decision": decision,
                "created_at": self.ts(now),
            },
        )
        return row is not None

    def save_idempotency_many(
        self, account_id: str, rows: list[tuple[str, str, str]], now: datetime
    ) -> set[str]:
        """Store many admitted decisions (key, request hash, decision); the keys stored."""
        params: dict[str, Any] = {"account_id": account_id, "created_at": self.ts(now)}
        if self.dialect.is_sqlite:
            values = []
            for index, (key, request_hash, decision) in enumerate(rows):
                params[f"k{index}"] = key
                params[f"h{index}"] = request_hash
                params[f"d{index}"] = decision
                values.append(f"(:account_id, :k{index}, :h{index}, :d{index}, :created_at)")
            source = f"VALUES {', '.join(values)}"
        else:
            # One JSON parameter keeps the statement text (and its plan) the same whatever the
            # batch size, and is much cheaper to send than text arrays.
            params["rows"] = json.dumps([{"k": k, "h": h, "d": d} for k, h, d in rows])
            source = (
                "SELECT :account_id, k, h, d, :created_at "
                "FROM json_to_recordset(:rows::json) AS t(k text, h text, d text)"
            )
        stored = self.all(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
            f"{source} ON CONFLICT DO NOTHING RETURNING key",
            params,
        )
        return {str(row[0]) for row in stored}

    def idempotency_many(
        self, account_id: str, keys: list[str]
    ) -> dict[str, tuple[str, str, datetime]]:
        """The stored records of those ``keys`` that exist."""
        params: dict[str, Any] = {"account_id": account_id}
        if self.dialect.is_sqlite:
            names = []
            for index, key in enumerate(keys):
                params[f"k{index}"] = key
                names.append(f":k{index}")
            match = f"key IN ({', '.join(names)})"
        else:
            params["keys"] = json.dumps(keys)
            match = "key IN (SELECT json_array_elements_text(:keys::json))"
        rows = self.all(
            "SELECT key, request_hash, decision, created_at FROM idempotency_keys "
            f"WHERE account_id = :account_id AND {match}",
            params,
        )
        return {
            str(row[0]): (str(row[1]), str(row[2]), self.dialect.from_ts(row[3])) for row in rows
        }

    def idempotency(self, account_id: str, key: str) -> tuple[str, str, datetime] | None:
        row = self.one(
            "SELECT request_hash, decision, created_at FROM idempotency_keys "
            "WHERE account_id = :account_id AND key = :key",
            {"account_id": account_id, "key": key},
        )
        if row is None:
            return None
        return str(row[0]), str(row[1]), self.dialect.from_ts(row[2])

    def delete_idempotency(self, account_id: str, key: str) -> None:
        self.execute(
            "DELETE FROM idempotency_keys WHERE account_id = :account_id AND key = :key",
            {"account_id": account_id, "key": key},
        )

    def purge_idempotency(self, before: datetime) -> int:
        cursor = self.execute(
            "DELETE FROM idempotency_keys WHERE created_at < :before", {"before": self.ts(before)}
        )
        return int(cursor.rowcount)

    # ------------------------------------------------------------------ reservations

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

    # ------------------------------------------------------------------ resources

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
