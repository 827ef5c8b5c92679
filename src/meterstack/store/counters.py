"""SQL of the counters: :meth:`SqlCounters.apply`, where admission happens, and the reads.

One row per (account, item, scope, period) holds used, held and overage; every check reads it
in O(1) (A11). A step is one conditional statement on its row (``UPDATE … WHERE <the bound
holds> RETURNING``, or the same as an upsert on the scope's first use in a period), so no
concurrency pattern can pass a bound. A request's steps apply all or none: a step that refuses
puts the rows written before it back as they were, inside the same transaction. On PostgreSQL
the increments of one item and period (a consume's account and project, a batch group) go in one
statement that locks the rows in the caller's order and updates them only if every one fits.

The condition and the overage written in the SQL are ``rules.admission.advance`` in SQL form;
tests/store/test_counters.py holds the two to the same totals and refusals. Amounts of money
are kept as whole millionths (six places, D17), so the arithmetic stays exact in SQL too.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from meterstack.money import LEDGER_PLACES
from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    NO_TOTALS,
    Step,
    Totals,
    fits,
    overage_of,
    reached,
)
from meterstack.store.dialect import Dialect
from meterstack.store.idempotency import SqlIdempotency
from meterstack.store.ports import Admission, Applied, R, Refused, Stale, Taken
from meterstack.store.rows import Counter
from meterstack.store.statements import Statements

#: Reads the account's version in the statement of the first step (a cached plan's check).
_VERSION = "(SELECT version FROM accounts WHERE id = :account_id)"
#: What the steps wrote: the totals each row holds now, and (by step) the rows of level and
#: peak steps as they were before (an increment's are what it holds less what it added).
_Written = tuple[list[Totals[Any]], dict[int, Totals[Any]]]
_KEY = "account_id = :account_id AND item = :item AND scope = :scope AND period = :period"


class SqlCounters:
    def __init__(self, sql: Statements, idempotency: SqlIdempotency) -> None:
        self._sql = sql
        self._idempotency = idempotency

    # ------------------------------------------------------------------ admission

    def apply(self, admission: Admission[R]) -> Applied[R] | Refused | Stale | Taken:
        """Apply every step or none; then the answers, and their idempotency records (D7)."""
        outcome: _Written | Refused | Stale | None = None
        if not self._sql.dialect.is_sqlite and _together(admission.steps):
            outcome = self._at_once(admission)
        if outcome is None:
            outcome = self._step_by_step(admission)
        if isinstance(outcome, Refused | Stale):
            return outcome
        afters, befores = outcome
        totals = tuple(afters)
        answers = tuple(admission.answer(totals)) if admission.answer is not None else ()
        if admission.records:
            taken = self._record(admission, answers)
            if taken is not None:
                self._restore(admission.account_id, admission.steps, afters, befores)
                return taken
        return Applied(totals, answers)

    def _step_by_step(self, admission: Admission[Any]) -> _Written | Refused | Stale:
        account_id, steps, version = admission.account_id, admission.steps, admission.version
        afters: list[Totals[Any]] = []
        #: The rows a level or peak step wrote, as they were (an increment's follow from it).
        befores: dict[int, Totals[Any]] = {}
        for index, step in enumerate(steps):
            check = version is not None and index == 0
            if step.level or step.peak:
                befores[index] = self.totals_of(account_id, step)
            written = self._write(account_id, step, afters[-1] if afters else None, check)
            if written is None:
                self._restore(account_id, steps[:index], afters, befores)
                if version is not None:
                    found = self._version(account_id)
                    if found != version:
                        return Stale(found)
                return Refused(index, self.totals_of(account_id, step))
            after, read = written
            afters.append(after)
            if check and read != version:
                self._restore(account_id, steps[:1], afters, befores)
                return Stale(read)
        return afters, befores

    def _write(
        self, account_id: str, step: Step[Any], previous: Totals[Any] | None, check: bool
    ) -> tuple[Totals[Any], int | None] | None:
        """One step on its row: (what it holds now, the version read) or None if it refused."""
        params = _params(account_id, step)
        if step.peak:
            assert previous is not None, "a peak step follows the level it keeps"
            params["q"] = _stored(previous.used)
        sqlite = self._sql.dialect.is_sqlite
        cursor = self._sql.cursor  # straight to the driver: this is every request's statement
        row = None
        if not step.peak:
            cursor.execute(_statement(step, check, sqlite, update=True), params)
            row = cursor.fetchone()
        if row is None and (step.peak or _fresh_fits(step)):
            # No row yet (or the bound refused): the upsert creates the row, or refuses again.
            params["first_overage"] = _stored(overage_of(step, _zero(step)))
            cursor.execute(_statement(step, check, sqlite, update=False), params)
            row = cursor.fetchone()
        if row is None:
            return None
        if isinstance(step.quantity, Decimal):
            after: Totals[Any] = Totals(*(_read(value, step) for value in row[:3]))
        else:
            after = Totals(row[0], row[1], row[2])
        return after, (row[3] if check else None)

    def _at_once(self, admission: Admission[Any]) -> _Written | None:
        """PostgreSQL: every increment of one item and period in one statement, or nothing
        (None: a row is missing, a bound refused or the version moved; decide step by step)."""
        steps = admission.steps
        first = steps[0]
        params: dict[str, Any] = {
            "account_id": admission.account_id,
            "item": first.item,
            "period": first.period,
            "version": admission.version,
        }
        for index, step in enumerate(steps):
            params[f"s{index}"] = step.scope
            params[f"q{index}"] = _stored(step.quantity)
            params[f"b{index}"] = None if step.bound is None else _stored(step.bound)
            params[f"o{index}"] = None if step.overage_from is None else _stored(step.overage_from)
        shape = tuple((step.bound is not None, step.overage_from is not None) for step in steps)
        rows = self._sql.all(_together_sql(shape, admission.version is not None), params)
        if len(rows) != len(steps):
            return None
        found = {row[0]: row for row in rows}
        return [_totals(found[step.scope][1:], step) for step in steps], {}

    def _restore(
        self,
        account_id: str,
        steps: Sequence[Step[Any]],
        afters: Sequence[Totals[Any]],
        befores: dict[int, Totals[Any]],
    ) -> None:
        """Put rows written by this admission back as they were (the transaction holds them)."""
        for index in reversed(range(len(afters))):
            step, after = steps[index], afters[index]
            before = befores.get(index)
            if before is None:  # an increment: what it added, taken off again
                used = after.used - step.quantity
                before = Totals(
                    used, after.held - step.held, after.overage - overage_of(step, used)
                )
            self._sql.execute(
                f"UPDATE counters SET used = :used, held = :held, overage = :overage WHERE {_KEY}",
                {
                    **_params(account_id, step),
                    "used": _stored(before.used),
                    "held": _stored(before.held),
                    "overage": _stored(before.overage),
                },
            )

    def _record(self, admission: Admission[Any], answers: tuple[Any, ...]) -> Taken | None:
        """Store the answers under their keys; the keys another request stored first, if any
        (then none of this admission's records stays)."""
        assert admission.at is not None, "records need the time they are made"
        records = admission.records
        if len(records) == 1:  # one request's record: most calls
            record = records[0]
            rows = [] if record is None else [(*record, answers[0].encode())]
        else:
            rows = [
                (record.key, record.request_hash, answer.encode())
                for record, answer in zip(records, answers, strict=True)
                if record is not None
            ]
        if not rows:
            return None
        account_id = admission.account_id
        stored = self._idempotency.insert_many(account_id, rows, admission.at)
        if len(stored) == len(rows):
            return None
        taken = frozenset(key for key, _, _ in rows) - stored
        self._idempotency.delete_many(account_id, sorted(stored))
        return Taken(taken, self._idempotency.get_many(account_id, sorted(taken)))

    def _version(self, account_id: str) -> int | None:
        row = self._sql.one("SELECT version FROM accounts WHERE id = :id", {"id": account_id})
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ reads

    def totals_of(self, account_id: str, step: Step[Any]) -> Totals[Any]:
        row = self._sql.one(
            f"SELECT used, held, overage FROM counters WHERE {_KEY}", _params(account_id, step)
        )
        if row is None:
            return _zero_totals(step)
        return _totals(row, step)

    def totals(self, account_id: str, item: str, scope: str, period: str) -> Totals[int]:
        return self.totals_of(account_id, Step(item, scope, period, 0, 0))

    def of_account(self, account_id: str, periods: Sequence[str]) -> list[Counter]:
        within, params = self._sql.one_of("period", periods, "p")
        params["account_id"] = account_id
        rows = self._sql.all(
            "SELECT item, scope, period, used, held, overage FROM counters WHERE "
            f"account_id = :account_id AND {within}",
            params,
        )
        return [
            Counter(row[0], row[1], row[2], Totals(int(row[3]), int(row[4]), int(row[5])))
            for row in rows
        ]

    def of_accounts(
        self, account_ids: Sequence[str], periods: Sequence[str]
    ) -> dict[tuple[str, str, str], Totals[int]]:
        accounts, params = self._sql.one_of("account_id", account_ids, "a")
        keys, more = self._sql.one_of("period", sorted(set(periods)), "p")
        rows = self._sql.all(
            "SELECT account_id, item, period, used, held, overage FROM counters "
            f"WHERE scope = :scope AND {accounts} AND {keys}",
            params | more | {"scope": ACCOUNT_SCOPE},
        )
        return {
            (row[0], row[1], row[2]): Totals(int(row[3]), int(row[4]), int(row[5])) for row in rows
        }


# --------------------------------------------------------------------------- values


def _money(step: Step[Any]) -> bool:
    return isinstance(step.quantity, Decimal)


def _stored(value: int | Decimal) -> int:
    """A quantity as the counters table holds it: units, or millionths of money."""
    if isinstance(value, int):
        return value
    scaled = value.scaleb(LEDGER_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"an amount is kept to {LEDGER_PLACES} decimal places, got {value}")
    return int(scaled)


def _read(value: Any, step: Step[Any]) -> int | Decimal:
    return Decimal(int(value)).scaleb(-LEDGER_PLACES) if _money(step) else int(value)


def _totals(row: Sequence[Any], step: Step[Any]) -> Totals[Any]:
    return Totals(_read(row[0], step), _read(row[1], step), _read(row[2], step))


def _zero(step: Step[Any]) -> Any:
    return step.quantity - step.quantity


def _zero_totals(step: Step[Any]) -> Totals[Any]:
    zero = _zero(step)
    return Totals(zero, zero, zero) if _money(step) else NO_TOTALS


def _fresh_fits(step: Step[Any]) -> bool:
    """Whether the step fits a counter that does not exist yet (an insert admits at once)."""
    zero = _zero_totals(step)
    return fits(step, zero, reached(step, zero))


def _params(account_id: str, step: Step[Any]) -> dict[str, Any]:
    if not isinstance(step.quantity, Decimal):
        return {
            "account_id": account_id,
            "item": step.item,
            "scope": step.scope,
            "period": step.period,
            "q": step.quantity,
            "h": step.held,
            "bound": step.bound,
            "overage_from": step.overage_from,
        }
    return {
        "account_id": account_id,
        "item": step.item,
        "scope": step.scope,
        "period": step.period,
        "q": _stored(step.quantity),
        "h": _stored(step.held),
        "bound": None if step.bound is None else _stored(step.bound),
        "overage_from": None if step.overage_from is None else _stored(step.overage_from),
    }


def _together(steps: Sequence[Step[Any]]) -> bool:
    """Whether the steps can go in one statement: increments of used alone, one item and
    period, several scopes."""
    if len(steps) < 2:
        return False
    first = steps[0]
    return len({step.scope for step in steps}) == len(steps) and all(
        step.item == first.item
        and step.period == first.period
        and not step.level
        and not step.peak
        and step.held == 0
        and step.quantity > 0
        for step in steps
    )


# --------------------------------------------------------------------------- SQL


class _Shape(NamedTuple):
    """What a step's statement must say (one statement text per shape, built once)."""

    kind: str
    overage: bool
    floor_used: bool
    floor_held: bool
    bounded: bool
    check: bool
    is_sqlite: bool


#: Statement texts (as the driver takes them) by what the step asks, built once.
_STATEMENTS: dict[tuple[bool, bool, bool, bool, bool, bool, bool, bool, bool], str] = {}


def _statement(step: Step[Any], check: bool, is_sqlite: bool, *, update: bool) -> str:
    quantity, held, peak, level = step.quantity, step.held, step.peak, step.level
    add = not (peak or level)
    key = (
        update,
        peak,
        level,
        add and step.overage_from is not None and quantity > 0,
        add and quantity < 0,
        held < 0,
        step.bound is not None and (quantity > 0 if level else quantity + held > 0),
        check,
        is_sqlite,
    )
    text = _STATEMENTS.get(key)
    if text is None:
        kind = "peak" if peak else "level" if level else "add"
        shape = _Shape(kind, *key[3:])
        built = _update_sql(shape) if update else _upsert_sql(shape)
        dialect = Dialect("sqlite" if is_sqlite else "postgresql")
        text = _STATEMENTS[key] = dialect.sql(built)
    return text


def _overage(used: str, is_sqlite: bool) -> str:
    greatest, least = ("MAX", "MIN") if is_sqlite else ("GREATEST", "LEAST")
    return f"{greatest}(0, {least}(:q, {used} + :q - :overage_from))"


def _condition(shape: _Shape, row: str) -> str:
    """The bound test of ``rules.admission.fits`` on the row's columns (``row`` = prefix)."""
    used, held = f"{row}used", f"{row}held"
    parts: list[str] = []
    if shape.kind == "level":
        parts.append(":q >= 0")
        if shape.bounded:
            parts.append(f"(:q <= {used} OR :q + {held} <= :bound)")
        return " AND ".join(parts)
    if shape.floor_used:
        parts.append(f"{used} + :q >= 0")
    if shape.floor_held:
        parts.append(f"{held} + :h >= 0")
    if shape.bounded:
        parts.append(f"{used} + {held} + :q + :h <= :bound")
    return " AND ".join(parts)


def _returning(shape: _Shape) -> str:
    return "RETURNING used, held, overage" + (f", {_VERSION}" if shape.check else "")


def _update_sql(shape: _Shape) -> str:
    if shape.kind == "level":
        assignment = "used = :q"
    else:
        added = _overage("used", shape.is_sqlite) if shape.overage else "0"
        assignment = f"used = used + :q, held = held + :h, overage = overage + {added}"
    condition = _condition(shape, "")
    where = f"{_KEY} AND {condition}" if condition else _KEY
    return f"UPDATE counters SET {assignment} WHERE {where} {_returning(shape)}"


def _upsert_sql(shape: _Shape) -> str:
    if shape.kind == "peak":
        greatest = "MAX" if shape.is_sqlite else "GREATEST"
        assignment = f"used = {greatest}(counters.used, excluded.used)"
        condition = ""
        values = ":q, 0, 0"
    elif shape.kind == "level":
        assignment = "used = excluded.used"
        condition = _condition(shape, "counters.")
        values = ":q, 0, 0"
    else:
        added = _overage("counters.used", shape.is_sqlite) if shape.overage else "0"
        assignment = (
            "used = counters.used + excluded.used, held = counters.held + excluded.held, "
            f"overage = counters.overage + {added}"
        )
        condition = _condition(shape, "counters.")
        values = ":q, :h, :first_overage"
    return (
        "INSERT INTO counters (account_id, item, scope, period, used, held, overage) VALUES "
        f"(:account_id, :item, :scope, :period, {values}) ON CONFLICT (account_id, item, scope, "
        f"period) DO UPDATE SET {assignment}{' WHERE ' + condition if condition else ''} "
        f"{_returning(shape)}"
    )


@lru_cache(maxsize=64)
def _together_sql(shape: tuple[tuple[bool, bool], ...], check: bool) -> str:
    """PostgreSQL: lock the scopes' rows in the given order, then add to every one of them if
    every one fits (``fit``), in one statement.

    ``shape`` says, per step, whether it has a bound and where overage starts. ORDER BY … FOR
    UPDATE takes the row locks in the caller's order, the lock order every path keeps (account,
    project, API key); the rows it returns are their latest versions, which ``fit`` tests.
    """
    indexes = range(len(shape))
    scopes = ", ".join(f":s{index}" for index in indexes)
    order = " ".join(f"WHEN :s{index} THEN {index}" for index in indexes)
    tests = " ".join(
        f"WHEN :s{index} THEN " + (f"used + held + :q{index} <= :b{index}" if bounded else "TRUE")
        for index, (bounded, _) in enumerate(shape)
    )
    added = " ".join(f"WHEN :s{index} THEN :q{index}" for index in indexes)
    overages = " ".join(
        f"WHEN :s{index} THEN GREATEST(0, LEAST(:q{index}, c.used + :q{index} - :o{index}))"
        for index, (_, overage) in enumerate(shape)
        if overage
    )
    overage = f"CASE c.scope {overages} ELSE 0 END" if overages else "0"
    version = f" AND {_VERSION} = :version" if check else ""
    return (
        "WITH locked AS (SELECT scope, used, held FROM counters WHERE account_id = :account_id "
        f"AND item = :item AND period = :period AND scope IN ({scopes}) "
        f"ORDER BY CASE scope {order} END FOR UPDATE), "
        f"fit AS (SELECT count(*) AS n FROM locked WHERE CASE scope {tests} END) "
        f"UPDATE counters AS c SET used = c.used + CASE c.scope {added} END, "
        f"overage = c.overage + {overage} FROM locked, fit WHERE fit.n = {len(shape)} "
        "AND c.account_id = :account_id AND c.item = :item AND c.period = :period "
        f"AND c.scope = locked.scope{version} RETURNING c.scope, c.used, c.held, c.overage"
    )
