"""The one admission call, ``Counters.apply``, against the rules' statement of what it does.

The bound test and the D2 overage arithmetic are written once in Python
(``rules.admission.advance``) and, because the condition must hold inside the write, once more
in the SQL of each backend. Random admissions go through both: the store on a real database,
and ``advance`` on a dictionary of totals; every outcome and every counter must agree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meterstack.bounds import MAX_COUNTER
from meterstack.rules.admission import (
    NO_TOTALS,
    Step,
    Totals,
    advance,
    overage_units,
)
from meterstack.store.ports import Admission, Applied, KeyRecord, Refused, Stale, Store, Taken
from meterstack.store.rows import AccountRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
#: The counters the random admissions touch: units of one item in three scopes and two
#: periods (so that PostgreSQL's one-statement path and the step-by-step path both run), a
#: gauge's level and its peak, and an amount of money.
UNIT_COUNTERS = [
    ("api_calls", "account", "2026-01"),
    ("api_calls", "project:a", "2026-01"),
    ("api_calls", "project:b", "2026-01"),
    ("api_calls", "account", "2026-02"),
]
LEVEL, PEAK = ("storage", "account", ""), ("storage", "account", "2026-01")
MONEY = ("charges", "account", "2026-01")


def _unit_step(counter: tuple[str, str, str]) -> st.SearchStrategy[Step[int]]:
    item, scope, period = counter
    return st.builds(
        Step,
        st.just(item),
        st.just(scope),
        st.just(period),
        st.integers(-4, 12),
        st.sampled_from([0, 0, 0, 0, 0, 3, -2]),
        st.one_of(st.none(), st.integers(0, 40)),
        st.one_of(st.none(), st.integers(0, 30)),
        level=st.just(False),
        peak=st.just(False),
        charge=st.none(),  # a charges step (D26) has its own test: test_charges_step.py
    )


_MONEY_STEP = st.builds(
    Step,
    st.just(MONEY[0]),
    st.just(MONEY[1]),
    st.just(MONEY[2]),
    st.decimals(Decimal("-0.5"), Decimal("2"), places=6),
    st.just(Decimal(0)),
    st.one_of(st.none(), st.decimals(Decimal(0), Decimal("5"), places=6)),
    st.one_of(st.none(), st.decimals(Decimal(0), Decimal("3"), places=3)),
    level=st.just(False),
    peak=st.just(False),
    charge=st.none(),
)


@st.composite
def _admission(draw: st.DrawFn) -> tuple[Step[Any], ...]:
    """Steps on distinct counters, in lock order, sometimes a gauge's level and its peak."""
    chosen = draw(st.lists(st.sampled_from(UNIT_COUNTERS), min_size=1, max_size=4, unique=True))
    steps: list[Step[Any]] = [draw(_unit_step(counter)) for counter in chosen]
    if draw(st.booleans()):
        steps.append(draw(_MONEY_STEP))
    if draw(st.integers(0, 3)) == 0:
        level = draw(st.integers(-3, 60))
        bound = draw(st.one_of(st.none(), st.integers(0, 50)))
        overage_from = draw(st.one_of(st.none(), st.integers(0, 40)))
        steps.append(Step(*LEVEL, level, 0, bound, level=True))
        steps.append(Step(*PEAK, 0, 0, overage_from=overage_from, peak=True))
    return tuple(steps)


def _zero(step: Step[Any]) -> Totals[Any]:
    zero = step.quantity - step.quantity
    return Totals(zero, zero, zero) if isinstance(zero, Decimal) else NO_TOTALS


def _key(step: Step[Any]) -> tuple[str, str, str]:
    return step.item, step.scope, step.period


def test_apply_decides_and_counts_exactly_as_the_rules_advance(store: Store) -> None:
    """D2, B7, A5: random admissions (increments, decrements, holds, bounds, overage starts,
    gauge levels and peaks with the overage they keep, money) give the same totals and refusals
    in SQL as in Python."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(admissions=st.lists(_admission(), min_size=1, max_size=12))
    @example(  # overage crossing inside a step, then wholly past the start (D2), then refused
        admissions=[
            (Step(*UNIT_COUNTERS[0], 3, 0, None, 5), Step(*UNIT_COUNTERS[1], 3, 0, 9)),
            (Step(*UNIT_COUNTERS[0], 4, 0, None, 5), Step(*UNIT_COUNTERS[1], 1, 0, 9)),
            (Step(*UNIT_COUNTERS[0], 4, 0, None, 5), Step(*UNIT_COUNTERS[1], 2, 0, None)),
            (Step(*UNIT_COUNTERS[0], 1, 0, 12), Step(*UNIT_COUNTERS[1], 4, 0, 9)),
        ]
    )
    @example(  # a level past the overage start, then lower, then higher: the peak's overage
        admissions=[
            (Step(*LEVEL, 30, 0, None, level=True), Step(*PEAK, 0, 0, overage_from=20, peak=True)),
            (Step(*LEVEL, 5, 0, None, level=True), Step(*PEAK, 0, 0, overage_from=20, peak=True)),
            (Step(*LEVEL, 34, 0, None, level=True), Step(*PEAK, 0, 0, overage_from=30, peak=True)),
            (Step(*LEVEL, 60, 0, 50, level=True), Step(*PEAK, 0, 0, overage_from=0, peak=True)),
        ]
    )
    def same(admissions: list[tuple[Step[Any], ...]]) -> None:
        account = f"acct_{uuid.uuid4().hex[:12]}"
        model: dict[tuple[str, str, str], Totals[Any]] = {}
        for steps in admissions:
            before = [model.get(_key(step), _zero(step)) for step in steps]
            expected = advance(steps, before)
            with store.transaction() as tx:
                outcome = tx.counters.apply(Admission.plain(account, steps))
            if isinstance(expected, int):
                assert outcome == Refused(expected, before[expected]), steps
                continue
            assert isinstance(outcome, Applied), steps
            assert outcome.totals == expected, steps
            for step, after in zip(steps, expected, strict=True):
                model[_key(step)] = after
        with store.transaction() as tx:
            for counter, totals in model.items():
                stored = tx.counters.totals(account, *counter)
                money = isinstance(totals.used, Decimal)
                assert stored == (_as_units(totals) if money else totals), counter

    same()


def _as_units(totals: Totals[Decimal]) -> Totals[int]:
    """Money as ``totals`` reads it without knowing the counter holds money: millionths."""
    return Totals(*(int(value.scaleb(6)) for value in totals))


def test_d2_overage_of_events_one_by_one_adds_up_to_the_overage_of_their_sum() -> None:
    """What lets a batch admit a group's sum at once and name each event from the running
    totals: the overage is additive over any split of the quantity."""

    @settings(max_examples=300, deadline=None)
    @given(
        used=st.integers(0, 100),
        start=st.one_of(st.none(), st.integers(0, 120)),
        quantities=st.lists(st.integers(1, 30), min_size=1, max_size=8),
    )
    def additive(used: int, start: int | None, quantities: list[int]) -> None:
        running, parts = used, 0
        for quantity in quantities:
            parts += overage_units(quantity, running, start)
            running += quantity
        assert parts == overage_units(sum(quantities), used, start)

    additive()


def test_b2_a_money_step_is_admitted_beside_a_unit_step_all_or_none(store: Store) -> None:
    """A budget in money (D26) or a balance (B2) is one more step of the same call."""
    account = f"acct_{uuid.uuid4().hex[:12]}"
    calls = Step("api_calls", "account", "2026-01", 1000, 0, 2500)
    spend = Step("charges", "account", "2026-01", Decimal("0.50"), Decimal(0), Decimal("1.00"))

    outcomes = []
    for _ in range(3):
        with store.transaction() as tx:
            outcomes.append(tx.counters.apply(Admission.plain(account, (calls, spend))))
    with store.transaction() as tx:
        units = tx.counters.totals(account, "api_calls", "account", "2026-01")
        money = tx.counters.totals(account, "charges", "account", "2026-01")

    first, second, third = outcomes
    assert isinstance(first, Applied)
    assert first.totals == (Totals(1000, 0, 0), Totals(Decimal("0.5"), Decimal(0), Decimal(0)))
    assert isinstance(second, Applied)
    assert second.totals[1].used == Decimal("1.00")
    # The third fits its units (3,000 > 2,500 does not) and not its money: refused at the
    # first step that does not fit, and neither counts.
    assert third == Refused(0, Totals(2000, 0, 0))
    assert (units.used, money.used) == (2000, 1_000_000)  # money is kept in millionths
    with store.transaction() as tx:
        over_budget = tx.counters.apply(
            Admission.plain(account, (Step("api_calls", "account", "2026-01", 1, 0, 2500), spend))
        )
    assert over_budget == Refused(1, Totals(Decimal("1"), Decimal(0), Decimal(0)))
    with store.transaction() as tx:
        assert tx.counters.totals(account, "api_calls", "account", "2026-01").used == 2000


def test_an_amount_with_more_than_six_places_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    account = f"acct_{uuid.uuid4().hex[:12]}"
    steps = (
        Step("api_calls", "account", "2026-01", 1, 0),
        Step("charges", "account", "2026-01", Decimal("0.0000001"), Decimal(0)),
    )
    with pytest.raises(ValueError, match="6 decimal places"), store.transaction() as tx:
        tx.counters.apply(Admission.plain(account, steps))
    with store.transaction() as tx:
        assert tx.counters.totals(account, "api_calls", "account", "2026-01") == NO_TOTALS


def _account(store: Store) -> str:
    """An account row, for the version a cached plan is checked against."""
    account = f"acct_{uuid.uuid4().hex[:12]}"
    with store.transaction() as tx:
        tx.accounts.insert(
            AccountRow(account, "h", "free", "monthly", "active", NOW, NOW, 3, False, None, None)
        )
    return account


def test_c7_steps_planned_on_a_stale_version_apply_nothing(store: Store) -> None:
    account = _account(store)
    steps = (
        Step("api_calls", "account", "2026-01", 5, 0, 100),
        Step("api_calls", "project:a", "2026-01", 5, 0, None),
    )
    with store.transaction() as tx:
        assert isinstance(
            tx.counters.apply(Admission.plain(account, steps)._replace(version=3)), Applied
        )
        tx.accounts.bump_version(account)
    with store.transaction() as tx:
        stale = tx.counters.apply(Admission.plain(account, steps)._replace(version=3))
        fresh = tx.counters.apply(Admission.plain(account, steps)._replace(version=4))

    assert stale == Stale(4)
    assert isinstance(fresh, Applied)
    assert [totals.used for totals in fresh.totals] == [10, 10]


class _Answer:
    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self) -> str:
        return self.text


def test_d7_a_key_stored_first_by_another_request_applies_nothing(store: Store) -> None:
    account = _account(store)

    def admission(*keys: str) -> Admission[_Answer]:
        return Admission(
            account,
            (Step("api_calls", "account", "2026-01", 2 * len(keys), 0, 100),),
            answer=lambda totals: [_Answer(f"{key}:{totals[0].used}") for key in keys],
            records=tuple(KeyRecord(key, "hash") for key in keys),
            at=NOW,
        )

    with store.transaction() as tx:
        first = tx.counters.apply(admission("a"))
    with store.transaction() as tx:
        again = tx.counters.apply(admission("b", "a"))
        after = tx.counters.totals(account, "api_calls", "account", "2026-01")
        lone_b = tx.idempotency.get(account, "b")

    assert isinstance(first, Applied)
    assert [answer.text for answer in first.answers] == ["a:2"]
    assert isinstance(again, Taken)
    assert again.keys == frozenset({"a"})
    assert again.stored["a"].decision == "a:2"
    assert after.used == 2  # nothing of the second call stayed: neither units nor b's record
    assert lone_b is None


def test_d14_a_counter_refuses_rather_than_pass_the_store_range(store: Store) -> None:
    """No step, bounded or not, takes a counter past 2^63 − 1 or binds a quantity past it: the
    store answers Refused and keeps the counter an integer (SQLite would make it a float,
    PostgreSQL fail the statement); ``advance`` says the same."""
    account = _account(store)
    near = MAX_COUNTER - 5

    def unbounded(quantity: int, scope: str = "account") -> Step[int]:
        return Step("api_calls", scope, "2026-01", quantity, 0, None, 10**16)

    with store.transaction() as tx:
        assert isinstance(
            tx.counters.apply(Admission.plain(account, (unbounded(near), unbounded(near, "p")))),
            Applied,
        )
    cases: list[tuple[Step[int], ...]] = [
        (unbounded(6),),
        (unbounded(6), unbounded(1, "p")),  # PostgreSQL's one-statement path
        (unbounded(1), unbounded(6, "p")),
        (unbounded(MAX_COUNTER + 1),),  # a batch group's sum past the range
        (Step("api_calls", "account", "2026-01", 6, 0, 2**64),),  # packs past the range
        (Step("api_calls", "account", "2026-01", 0, 6, None),),  # a hold
    ]
    for steps in cases:
        with store.transaction() as tx:
            outcome = tx.counters.apply(Admission.plain(account, steps))
        assert isinstance(outcome, Refused), steps
        totals = [Totals(near, 0, near - 10**16)] * len(steps)
        assert advance(steps, totals) == outcome.position
    with store.transaction() as tx:
        applied = tx.counters.apply(Admission.plain(account, (unbounded(5), unbounded(5, "p"))))
        assert isinstance(applied, Applied)
        assert [totals.used for totals in applied.totals] == [MAX_COUNTER, MAX_COUNTER]
        assert applied.totals[0].overage == MAX_COUNTER - 10**16
        stored = tx.counters.totals(account, "api_calls", "account", "2026-01")
    assert type(stored.used) is int
    assert stored.used == MAX_COUNTER
