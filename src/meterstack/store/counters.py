"""SQL of the counters: :meth:`SqlCounters.apply`, where admission happens, and the reads.

One row per (account, item, scope, period) holds used, held and overage; every check reads it
in O(1) (A11). A step is one conditional statement on its row (``UPDATE … WHERE <the bound
holds> RETURNING``, or the same as an upsert on the scope's first use in a period), so no
concurrency pattern can pass a bound. A request's steps apply all or none: a step that refuses
puts the rows written before it back as they were, inside the same transaction. On PostgreSQL
the increments of one item and period (a consume's account and project, a batch group) go in one
statement that adds to each row where it fits; when one does not, the rows it wrote are put back
and the steps go one by one.

The condition and the overage written in the SQL are ``rules.admission.advance`` in SQL form;
tests/store/test_counters.py holds the two to the same totals and refusals. Amounts of money
are kept as whole millionths (six places, D17), so the arithmetic stays exact in SQL too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from meterstack.rules.admission import (
    ACCOUNT_SCOPE,
    Step,
    Totals,
    advance,
    effective_bound,
    increment_before,
    level_overage,
    overage_of,
    priced,
    unchanged,
    unwritten,
)
from meterstack.store import counter_values as values
from meterstack.store.counter_sql import KEY, in_one_sql, statement, together_sql
from meterstack.store.dialect import Dialect
from meterstack.store.history import ADD_ONE_FROM, SqlHistory
from meterstack.store.idempotency import INSERT_ONE, SqlIdempotency
from meterstack.store.ports import Admission, Applied, R, Refused, Stale, Taken
from meterstack.store.rows import Counter
from meterstack.store.statements import Statements

#: What the steps wrote: the totals each row holds now, (by step) the rows of level and peak
#: steps as they were before (an increment's are what it holds less what it added), and the
#: steps as written (a ``charge`` step with the quantity it was priced at).
_Written = tuple[list[Totals[Any]], dict[int, Totals[Any]], list[Step[Any]]]


#: The usage history's upsert of one consume's hour, reading the stored record (``kept``).
_COUNTED = ADD_ONE_FROM.format(source="kept")
#: PostgreSQL: one idempotency record and, when it was stored, its consumption's hour in the
#: usage history (D27); the bucket's insert reads the record's RETURNING row, so a key another
#: request took adds nothing.
_RECORD_COUNTING = Dialect("postgresql").sql(
    f"WITH kept AS ({INSERT_ONE} RETURNING key), counted AS ({_COUNTED}) SELECT key FROM kept"
)
#: Prepared steps kept per connection; past this many, forgotten.
_PREPARED = 256
#: Counters whose last totals a connection keeps (to foresee a decision); past this, forgotten.
_SEEN = 4096


def _shape(steps: Sequence[Step[Any]]) -> tuple[tuple[bool, bool], ...]:
    """Per step of :func:`together_sql`: whether it has a bound, and where overage starts."""
    return tuple((step.bound is not None, step.overage_from is not None) for step in steps)


class _Prepared(NamedTuple):
    step: Step[Any]
    account_id: str
    check: bool
    #: Whether the step's quantities fit the store's integers.
    representable: bool
    params: dict[str, Any]
    #: The step's conditional UPDATE.
    update: str


class SqlCounters:
    def __init__(self, sql: Statements, idempotency: SqlIdempotency, history: SqlHistory) -> None:
        self._sql = sql
        self._idempotency = idempotency
        self._history = history
        #: By the id of the step (which the entry holds, so that the id stays its own).
        self._prepared: dict[int, _Prepared] = {}
        #: PostgreSQL: the totals this connection last saw each counter reach (a guess of
        #: where the next request finds it, never a bound: the statement tests the rows).
        self._seen: dict[tuple[str, str, str, str], Totals[Any]] = {}

    # ------------------------------------------------------------------ admission

    def apply(self, admission: Admission[R]) -> Applied[R] | Refused | Stale | Taken:
        """Apply every step or none; then the answers, and their idempotency records (D7)."""
        outcome: _Written | Refused | Stale | None = None
        steps = admission.steps
        # A trailing charges step (D26) is priced from the first step's totals, after it.
        head = steps[:-1] if steps and steps[-1].charge is not None else steps
        if not self._sql.dialect.is_sqlite and values.together(head):
            if len(head) == len(steps):
                foreseen = self._in_one(admission)
                if foreseen is not None:
                    return foreseen
            outcome = self._at_once(admission, head)
            if outcome is not None and len(head) < len(steps):
                outcome = self._tail(admission, outcome)
        if outcome is None:
            outcome = self._step_by_step(admission)
        if isinstance(outcome, Refused | Stale):
            return outcome
        afters, befores, written = outcome
        totals = tuple(afters)
        answers = tuple(admission.answer(totals)) if admission.answer is not None else ()
        if admission.records:
            taken, counted = self._record(admission, answers)
            if taken is not None:
                self._restore(admission.account_id, written, afters, befores)
                return taken
            if counted:
                return Applied(totals, answers)
        if admission.usage:
            assert admission.at is not None, "usage history needs the time of the admission"
            self._history.add(admission.account_id, admission.usage, admission.at)
        return Applied(totals, answers)

    def _step_by_step(self, admission: Admission[Any]) -> _Written | Refused | Stale:
        account_id, steps, version = admission.account_id, admission.steps, admission.version
        afters: list[Totals[Any]] = []
        #: The rows a level or peak step wrote, as they were (an increment's follow from it).
        befores: dict[int, Totals[Any]] = {}
        done: list[Step[Any]] = []
        for index, asked in enumerate(steps):
            check = version is not None and index == 0
            step = asked if asked.charge is None else self._priced(asked, done, afters, befores)
            if asked.charge is not None and unwritten(step):
                return [*afters, unchanged(step)], befores, done
            if step.level or step.peak:
                befores[index] = self.totals_of(account_id, step)
            written = self._write(account_id, step, afters[-1] if afters else None, check)
            if written is None:
                self._restore(account_id, done, afters, befores)
                if version is not None:
                    found = self._version(account_id)
                    if found != version:
                        return Stale(found)
                return Refused(index, self.totals_of(account_id, step))
            after, read = written
            afters.append(after)
            done.append(step)
            if check and read != version:
                self._restore(account_id, done, afters, befores)
                return Stale(read)
        return afters, befores, done

    def _priced(
        self,
        step: Step[Any],
        done: list[Step[Any]],
        afters: list[Totals[Any]],
        befores: dict[int, Totals[Any]],
    ) -> Step[Any]:
        """A charges step priced from what the call's first step did (D26)."""
        if not done:
            return step._replace(charge=None)  # no meter step: the fixed amount alone
        before = befores.get(0)
        if before is None:
            before = increment_before(done[0], afters[0])
        return priced(step, before, afters[0])

    def _tail(self, admission: Admission[Any], head: _Written) -> _Written | Refused:
        """After the head's one statement (PostgreSQL), the trailing charges step."""
        afters, befores, done = head
        step = self._priced(admission.steps[-1], done, afters, befores)
        if unwritten(step):
            return [*afters, unchanged(step)], befores, done
        written = self._write(admission.account_id, step, afters[-1], False)
        if written is None:
            self._restore(admission.account_id, done, afters, befores)
            return Refused(len(done), self.totals_of(admission.account_id, step))
        return [*afters, written[0]], befores, [*done, step]

    def _prepare(self, account_id: str, step: Step[Any], check: bool) -> _Prepared:
        """A step's parameters and update statement, kept for the step object while it is
        reused (a cached plan's steps are), so that a repeated request builds neither."""
        kept = self._prepared.get(id(step))
        if (
            kept is not None
            and kept.step is step
            and kept.account_id == account_id
            and kept.check == check
        ):
            return kept
        representable = values.representable(step)
        params = values.params(account_id, step) if representable else {}
        update = statement(step, check, self._sql.dialect.is_sqlite, update=True)
        prepared = _Prepared(step, account_id, check, representable, params, update)
        if not step.peak:  # a peak's parameters are the level's, another each time
            if len(self._prepared) >= _PREPARED:
                self._prepared.clear()
            self._prepared[id(step)] = prepared
        return prepared

    def _write(
        self, account_id: str, step: Step[Any], previous: Totals[Any] | None, check: bool
    ) -> tuple[Totals[Any], int | None] | None:
        """One step on its row: (what it holds now, the version read) or None if it refused."""
        prepared = self._prepare(account_id, step, check)
        if not prepared.representable:
            return None  # past the store's range: refused like a bound, before the driver sees it
        params = prepared.params
        if step.peak:
            assert previous is not None, "a peak step follows the level it keeps"
            params["q"] = values.stored(previous.used)
        sqlite = self._sql.dialect.is_sqlite
        cursor = self._sql.cursor  # straight to the driver: this is every request's statement
        row = None
        if not step.peak:
            cursor.execute(prepared.update, params)
            row = cursor.fetchone()
        if row is None and (step.peak or values.fresh_fits(step)):
            # No row yet (or the bound refused): the upsert creates the row, or refuses again.
            params = dict(params)  # the kept parameters stay as they were
            if step.peak:
                assert previous is not None
                params["first_overage"] = values.stored(
                    level_overage(previous.used, step.overage_from)
                )
            else:
                params["first_overage"] = values.stored(overage_of(step, values.zero(step)))
            cursor.execute(statement(step, check, sqlite, update=False), params)
            row = cursor.fetchone()
        if row is None:
            return None
        if isinstance(step.quantity, Decimal):
            after: Totals[Any] = Totals(
                values.amount(row[0]), values.amount(row[1]), values.amount(row[2])
            )
        else:
            after = Totals(row[0], row[1], row[2])
        return after, (row[3] if check else None)

    def _at_once(self, admission: Admission[Any], steps: Sequence[Step[Any]]) -> _Written | None:
        """PostgreSQL: every increment of one item and period in one statement, or nothing
        (None: a row is missing, a bound refused or the version moved; decide step by step,
        after putting back what the statement wrote)."""
        if not all(values.representable(step) for step in steps):
            return None
        params = self._together_params(admission, steps)
        rows = self._sql.all(together_sql(_shape(steps), admission.version is not None), params)
        found = {row[0]: row for row in rows}
        written = [step for step in steps if step.scope in found]
        afters = [values.totals(found[step.scope][1:], step) for step in written]
        if len(written) != len(steps):
            # A row missing or a bound that refused: what was written goes back, and the
            # steps go one by one, which says which refused (or creates the missing row).
            self._restore(admission.account_id, written, afters, {})
            return None
        self._saw(admission.account_id, written, afters)
        return afters, {}, written

    def _in_one(self, admission: Admission[R]) -> Applied[R] | Taken | None:
        """PostgreSQL, one keyed request on counters this connection has seen: the increments,
        the record and its hour in one statement (one round trip less).

        The record must be written with the statement, before its decision is known: it holds
        the decision the totals last seen lead to, and when the totals reached are others (a
        request of another connection came between), it is rewritten before the transaction
        ends. None: not such a request, or a row missing or refused (what was written is put
        back, no record was stored): the caller decides it otherwise.
        """
        records, answer, at = admission.records, admission.answer, admission.at
        record = records[0] if len(records) == 1 else None
        if record is None or answer is None or at is None:
            return None
        account_id, steps = admission.account_id, admission.steps
        guessed = self._guess(account_id, steps)
        if guessed is None or not all(values.representable(step) for step in steps):
            return None
        bucket = self._history.bucket(account_id, admission.usage, at) if admission.usage else {}
        if bucket is None:
            return None  # usage the history writes otherwise (a transaction's amount)
        decision = answer(guessed)[0].encode()
        params = self._together_params(admission, steps) | (bucket or {})
        params |= {
            "key": record.key,
            "request_hash": record.request_hash,
            "decision": decision,
            "created_at": self._sql.ts(at),
        }
        text = in_one_sql(
            _shape(steps), admission.version is not None, _COUNTED if bucket else None
        )
        found = {row[0]: row for row in self._sql.all(text, params)}
        written = [step for step in steps if step.scope in found]
        afters = [values.totals(found[step.scope][1:4], step) for step in written]
        if len(written) != len(steps):
            self._restore(account_id, written, afters, {})
            return None
        if not found[steps[0].scope][4]:  # another request stored the key first
            self._restore(account_id, written, afters, {})
            return self._taken(account_id, [(record.key, record.request_hash, decision)], set())
        self._saw(account_id, written, afters)
        totals = tuple(afters)
        answers = tuple(answer(totals))
        reached = answers[0].encode()
        if reached != decision:
            self._idempotency.rewrite(account_id, record.key, reached)
        return Applied(totals, answers)

    def _guess(self, account_id: str, steps: Sequence[Step[Any]]) -> tuple[Totals[Any], ...] | None:
        """The totals the steps reach if their counters hold what this connection last saw
        (``rules.admission.advance``); None when one was not seen, or would not fit."""
        seen: list[Totals[Any]] = []
        for step in steps:
            last = self._seen.get((account_id, step.item, step.scope, step.period))
            if last is None:
                return None
            seen.append(last)
        guessed = advance(steps, seen)
        return None if isinstance(guessed, int) else guessed

    def _saw(
        self, account_id: str, steps: Sequence[Step[Any]], afters: Sequence[Totals[Any]]
    ) -> None:
        if len(self._seen) >= _SEEN:
            self._seen.clear()
        for step, after in zip(steps, afters, strict=True):
            self._seen[(account_id, step.item, step.scope, step.period)] = after

    def _together_params(
        self, admission: Admission[Any], steps: Sequence[Step[Any]]
    ) -> dict[str, Any]:
        first = steps[0]
        params: dict[str, Any] = {
            "account_id": admission.account_id,
            "item": first.item,
            "period": first.period,
            "version": admission.version,
        }
        for index, step in enumerate(steps):
            params[f"s{index}"] = step.scope
            params[f"q{index}"] = values.stored(step.quantity)
            params[f"b{index}"] = values.stored(effective_bound(step))
            params[f"o{index}"] = (
                None if step.overage_from is None else values.stored(step.overage_from)
            )
        return params

    def _restore(
        self,
        account_id: str,
        steps: Sequence[Step[Any]],
        afters: Sequence[Totals[Any]],
        befores: dict[int, Totals[Any]],
    ) -> None:
        """Put rows written by this admission back as they were (the transaction holds them)."""
        for index in reversed(range(len(steps))):
            step, after = steps[index], afters[index]
            before = befores.get(index)
            if before is None:  # an increment: what it added, taken off again
                used = after.used - step.quantity
                before = Totals(
                    used, after.held - step.held, after.overage - overage_of(step, used)
                )
            self._sql.execute(
                f"UPDATE counters SET used = :used, held = :held, overage = :overage WHERE {KEY}",
                {
                    **values.params(account_id, step),
                    "used": values.stored(before.used),
                    "held": values.stored(before.held),
                    "overage": values.stored(before.overage),
                },
            )

    def _record(
        self, admission: Admission[Any], answers: tuple[Any, ...]
    ) -> tuple[Taken | None, bool]:
        """Store the answers under their keys: the keys another request stored first, if any
        (then none of this admission's records stays), and whether the usage history was
        written with them (PostgreSQL, one consumption: one statement, one round trip)."""
        assert admission.at is not None, "records need the time they are made"
        records = admission.records
        if len(records) == 1:  # one request's record: most calls
            record = records[0]
            if record is None:
                return None, False
            row = (*record, answers[0].encode())
            bucket = (
                None
                if self._sql.dialect.is_sqlite or not admission.usage
                else self._history.bucket(admission.account_id, admission.usage, admission.at)
            )
            if bucket is not None:
                if self._stored_counting(admission.account_id, row, admission.at, bucket):
                    return None, True
                return self._taken(admission.account_id, [row], set()), False
            rows = [row]
        else:
            rows = [
                (record.key, record.request_hash, answer.encode())
                for record, answer in zip(records, answers, strict=True)
                if record is not None
            ]
        if not rows:
            return None, False
        account_id = admission.account_id
        stored = self._idempotency.insert_many(account_id, rows, admission.at)
        if len(stored) == len(rows):
            return None, False
        return self._taken(account_id, rows, stored), False

    def _taken(
        self, account_id: str, rows: Sequence[tuple[str, str, str]], stored: set[str]
    ) -> Taken:
        """Some keys were stored first by another request: this admission's own records go."""
        taken = frozenset(key for key, _, _ in rows) - stored
        self._idempotency.delete_many(account_id, sorted(stored))
        return Taken(taken, self._idempotency.get_many(account_id, sorted(taken)))

    def _stored_counting(
        self, account_id: str, row: tuple[str, str, str], at: datetime, bucket: dict[str, Any]
    ) -> bool:
        """PostgreSQL: one record and, only if it was stored, its consumption's bucket of the
        usage history, in one statement; whether the record was stored."""
        key, request_hash, decision = row
        cursor = self._sql.cursor
        cursor.execute(
            _RECORD_COUNTING,
            {
                **bucket,
                "account_id": account_id,
                "key": key,
                "request_hash": request_hash,
                "decision": decision,
                "created_at": self._sql.ts(at),
            },
        )
        return cursor.fetchone() is not None

    def _version(self, account_id: str) -> int | None:
        row = self._sql.one("SELECT version FROM accounts WHERE id = :id", {"id": account_id})
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ reads

    def totals_of(self, account_id: str, step: Step[Any]) -> Totals[Any]:
        row = self._sql.one(
            f"SELECT used, held, overage FROM counters WHERE {KEY}", values.params(account_id, step)
        )
        if row is None:
            return values.zero_totals(step)
        return values.totals(row, step)

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
