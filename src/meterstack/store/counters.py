"""SQL of the counters: the conditional increments where admission happens, and their reads.

One row per (account, item, scope, period) holds used, held and overage units; every check reads
it in O(1). On PostgreSQL, row locks taken by the increments serialize writers of one counter,
and scopes are always locked in one order (account, then project, then API key).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from meterstack.rules.admission import Totals
from meterstack.store.statements import Statements

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
    """PostgreSQL: lock the scopes' counters in the given order, then add to each within its bound.

    ``shape`` says, per scope, whether it has a bound and where overage starts. The ORDER BY …
    FOR UPDATE takes the row locks in the caller's order, the lock order every path keeps
    (account, project, API key); the UPDATE's bound is re-checked on the row's latest version.
    """
    scopes = ", ".join(f":s{index}" for index in range(len(shape)))
    order = " ".join(f"WHEN :s{index} THEN {index}" for index in range(len(shape)))
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
        f"AND item = :item AND period = :period AND scope IN ({scopes}) "
        f"ORDER BY CASE scope {order} END FOR UPDATE) "
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


class CounterStatements(Statements):
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
        within, params = self.one_of("period", periods, "p")
        params["account_id"] = account_id
        rows = self.all(
            "SELECT item, scope, period, used, held, overage FROM counters WHERE "
            f"account_id = :account_id AND {within}",
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
