"""The SQL texts of the counter steps: the bound test and the D2 overage in SQL form.

``rules.admission.fits`` and ``overage_units`` say what a step does; these statements say the
same inside the write, where it must hold (tests/store/test_counters.py holds the two to the
same outcomes). Each text is built once per shape of step and kept as the driver takes it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from meterstack.rules.admission import Step
from meterstack.store.dialect import Dialect

#: Reads the account's version in the statement of the first step (a cached plan's check).
VERSION = "(SELECT version FROM accounts WHERE id = :account_id)"
#: A counter row by its primary key.
KEY = "account_id = :account_id AND item = :item AND scope = :scope AND period = :period"


class _Shape(NamedTuple):
    """What a step's statement must say (one statement text per shape, built once)."""

    kind: str
    overage: bool
    floor_used: bool
    floor_held: bool
    bounded: bool
    check: bool
    is_sqlite: bool
    #: An increment of used alone: held and overage are not written (a row less of work).
    used_only: bool


#: Statement texts (as the driver takes them) by what the step asks, built once.
_STATEMENTS: dict[tuple[bool, bool, bool, bool, bool, bool, bool, bool, bool, bool], str] = {}


def statement(step: Step[Any], check: bool, is_sqlite: bool, *, update: bool) -> str:
    quantity, held, peak, level = step.quantity, step.held, step.peak, step.level
    add = not (peak or level)
    key = (
        update,
        peak,
        level,
        add and step.overage_from is not None and quantity > 0,
        add and quantity < 0,
        held < 0,
        # Every growth is bounded: by its limit, or else by the store's range (a counter refuses
        # rather than overflow; SQLite would turn it into a float, PostgreSQL fail the request).
        (step.bound is not None and quantity > 0) if level else quantity + held > 0,
        check,
        is_sqlite,
        add and held == 0 and not (step.overage_from is not None and quantity > 0),
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
        # Written so that no sum can pass the 64-bit range: :q + :h is at most the bound.
        parts.append(f"{used} + {held} <= :bound - (:q + :h)")
    return " AND ".join(parts)


def _returning(shape: _Shape) -> str:
    return "RETURNING used, held, overage" + (f", {VERSION}" if shape.check else "")


def _update_sql(shape: _Shape) -> str:
    if shape.kind == "level":
        assignment = "used = :q"
    elif shape.used_only:
        assignment = "used = used + :q"
    else:
        added = _overage("used", shape.is_sqlite) if shape.overage else "0"
        assignment = f"used = used + :q, held = held + :h, overage = overage + {added}"
    condition = _condition(shape, "")
    where = f"{KEY} AND {condition}" if condition else KEY
    return f"UPDATE counters SET {assignment} WHERE {where} {_returning(shape)}"


def _upsert_sql(shape: _Shape) -> str:
    if shape.kind == "peak":
        greatest = "MAX" if shape.is_sqlite else "GREATEST"
        # The level's overage (:first_overage, rules.admission.level_overage) kept at its peak.
        assignment = (
            f"used = {greatest}(counters.used, excluded.used), "
            f"overage = {greatest}(counters.overage, excluded.overage)"
        )
        condition = ""
        values = ":q, 0, :first_overage"
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
def together_sql(shape: tuple[tuple[bool, bool], ...], check: bool) -> str:
    """PostgreSQL: add to every scope's row of one item and period, each only where it fits,
    in one plain ``UPDATE`` (no locking subquery: that form cost more than two statements).

    ``shape`` says, per step, whether it has a bound and where overage starts; a step without
    one is held to the store's range (``rules.admission.effective_bound``). Each row is tested
    on its latest version as the statement locks it, so a row that does not fit is left alone
    and comes back missing from the RETURNING rows: the caller then puts back the rows that
    were written and decides step by step. The rows are locked in the primary key's order of
    scope, ``account`` first, as every step-by-step path takes the account's row first too.
    """
    indexes = range(len(shape))
    scopes = ", ".join(f":s{index}" for index in indexes)
    tests = " ".join(
        f"WHEN :s{index} THEN used + held <= :b{index} - :q{index}" for index in indexes
    )
    added = " ".join(f"WHEN :s{index} THEN :q{index}" for index in indexes)
    overages = " ".join(
        f"WHEN :s{index} THEN GREATEST(0, LEAST(:q{index}, used + :q{index} - :o{index}))"
        for index, (_, overage) in enumerate(shape)
        if overage
    )
    overage = f", overage = overage + CASE scope {overages} ELSE 0 END" if overages else ""
    version = f" AND {VERSION} = :version" if check else ""
    return (
        f"UPDATE counters SET used = used + CASE scope {added} END{overage} "
        "WHERE account_id = :account_id AND item = :item AND period = :period "
        f"AND scope IN ({scopes}) AND CASE scope {tests} END{version} "
        "RETURNING scope, used, held, overage"
    )


@lru_cache(maxsize=64)
def in_one_sql(shape: tuple[tuple[bool, bool], ...], check: bool, bucket: str | None) -> str:
    """PostgreSQL: :func:`together_sql`, the request's idempotency record (stored only if every
    row was written) and, when ``bucket`` (an upsert of the usage history reading ``kept``) is
    given, its hour, in one statement. Its rows are the written counters', each with the number
    of records stored (1, or 0 when another request holds the key)."""
    kept = (
        "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
        "SELECT :account_id, :key, :request_hash, :decision, :created_at "
        f"WHERE (SELECT count(*) FROM written) = {len(shape)} ON CONFLICT DO NOTHING RETURNING key"
    )
    counted = "" if bucket is None else f", counted AS ({bucket})"
    return (
        f"WITH written AS ({together_sql(shape, check)}), kept AS ({kept}){counted} "
        "SELECT scope, used, held, overage, (SELECT count(*) FROM kept) FROM written"
    )
