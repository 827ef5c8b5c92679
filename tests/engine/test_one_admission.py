"""One admission: every path that counts goes through ``Counters.apply``, once per attempt, and
the batch decides exactly as the same events one by one.

The engine runs on a store whose counters port is wrapped (``Engine.on`` takes any
implementation of the ports): the wrapper records each call and its outcome. Replaying the
recorded steps through the rules' ``advance`` must give the counters the database holds, so no
other write touched a counter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meterstack import Decision, Engine, ManualClock, UsageEvent
from meterstack.catalog import load_catalog
from meterstack.errors import MeterstackError
from meterstack.money import LEDGER_PLACES
from meterstack.rules.admission import NO_TOTALS, Totals, advance
from meterstack.rules.history import Granularity
from meterstack.services.history import HistoryQuery
from meterstack.store.ports import Applied
from recording import Call, RecordingStore

EngineFactory = Callable[..., Engine]


@pytest.fixture
def recording(store_url: str, clock: ManualClock) -> Iterator[tuple[Engine, RecordingStore]]:
    store = RecordingStore(store_url)
    engine = Engine.on(store, catalog=load_catalog("aerostack"), clock=clock)
    yield engine, store
    engine.close()


def _replayed(calls: list[Call]) -> dict[tuple[str, str, str, str], Totals[Any]]:
    """The counters the recorded calls lead to, by the rules alone."""
    model: dict[tuple[str, str, str, str], Totals[Any]] = {}
    for admission, outcome in calls:
        if not isinstance(outcome, Applied):
            continue
        keys = [(admission.account_id, s.item, s.scope, s.period) for s in admission.steps]
        reached = advance(admission.steps, [model.get(key, NO_TOTALS) for key in keys])
        assert reached == outcome.totals
        model.update(zip(keys, outcome.totals, strict=True))
    return model


def _as_stored(totals: Totals[Any]) -> Totals[int]:
    """A counter as the store holds it: units, or whole millionths of money (D17)."""
    return Totals(*(int(v.scaleb(LEDGER_PLACES)) if isinstance(v, Decimal) else v for v in totals))


def test_d6_c6_every_path_that_counts_makes_one_apply_per_attempt_and_nothing_else_writes(
    recording: tuple[Engine, RecordingStore], clock: ManualClock
) -> None:
    engine, store = recording
    account = engine.create_account(plan="starter").id
    project = engine.create_project(account).id
    engine.set_limit(account, "api_requests", 20, grace=0)
    hold: list[str] = []
    lease: list[str] = []

    def reserve() -> None:
        reservation = engine.reserve(account, "ai_tokens", 40, project_id=project)
        assert reservation.id is not None
        hold.append(reservation.id)

    def acquire() -> None:
        acquired = engine.acquire_lease(account, "realtime_connections")
        assert acquired.id is not None
        lease.append(acquired.id)

    def consume(quantity: int, **options: Any) -> Callable[[], Decision]:
        return lambda: engine.consume(account, "api_requests", quantity, **options)

    # Wallet charges (D20, D23): the price is a money step of the same admission.
    creator = engine.create_account(plan="starter").id
    tool = engine.create_item(creator, "Weather tool", Decimal("0.05")).id

    def charge(
        code: str, operation: str, quantity: int = 1, *, replayed: bool = False, **options: Any
    ) -> Callable[[], None]:
        def charged() -> None:
            answer = engine.charge(account, operation, quantity, **options)
            assert (answer.code, answer.replayed) == (code, replayed), answer.message

        return charged

    paths: list[tuple[str, Callable[[], Any]]] = [
        ("consume, planned", consume(3)),
        ("consume, on the cached plan", consume(2, idempotency_key="a")),
        ("consume, replayed", consume(2, idempotency_key="a")),
        ("consume, a project", consume(1, project_id=project)),
        ("consume, refused", consume(50)),
        (
            "consume_many",
            lambda: engine.consume_many(
                [UsageEvent(account, "api_requests", 1, project, f"m{n}") for n in range(6)]
            ),
        ),
        ("reserve", reserve),
        ("commit", lambda: engine.commit(hold[0], 30)),
        ("reserve again", reserve),
        ("release", lambda: engine.release(hold[1])),
        ("set_gauge", lambda: engine.set_gauge(account, "storage", 5_000)),
        ("adjust_gauge", lambda: engine.adjust_gauge(account, "storage", -1_000)),
        ("acquire_lease", acquire),
        ("release_lease", lambda: engine.release_lease(lease[0])),
        ("create_resource", lambda: engine.create_resource(account, "projects")),
        ("create_end_user", lambda: engine.create_end_user(account)),
        ("delete_resource", lambda: engine.delete_resource(project)),
        ("adjust_wallet", lambda: engine.adjust_wallet(account, Decimal("1.00"), "test funds")),
        ("charge", charge("ok", "bot_message", 10)),
        ("charge, keyed", charge("ok", "agent_execution", 2, idempotency_key="c1")),
        (
            "charge, replayed",
            charge("ok", "agent_execution", 2, idempotency_key="c1", replayed=True),
        ),
        ("charge, a marketplace item", charge("ok", "marketplace_tool_call", item_id=tool)),
        ("charge, refused for balance", charge("insufficient_balance", "agent_execution", 1_000)),
    ]
    for name, path in paths:
        assert store.applies(path) == [1], name

    # Group commit: whatever the groups, one apply per transaction that decided.
    def grouped(n: int) -> Decision:
        return engine.consume(account, "ai_tokens", 1, idempotency_key=f"g{n}")

    def concurrently() -> None:
        with ThreadPoolExecutor(8) as pool:
            assert all(decision.allowed for decision in pool.map(grouped, range(64)))

    assert set(store.applies(concurrently)) == {1}

    # What counts nothing writes no counter: plan changes settled with proration and credit,
    # the customer's self-service, webhook delivery, the dashboard's sign-in and its consoles.
    quiet: list[tuple[str, Callable[[], Any]]] = [
        ("switch_overage", lambda: engine.switch_overage(account, False)),
        ("upgrade, prorated", lambda: engine.change_plan(account, "pro")),
        ("downgrade", lambda: engine.downgrade(account, "starter")),
        ("resume", lambda: engine.resume(account)),
        ("cancel", lambda: engine.cancel(account)),
        ("sign-in link", lambda: engine.access.redeem_link(engine.access.mint_link(account).token)),
        ("directory", lambda: engine.directory.accounts(query=account)),
        ("invoices page", lambda: engine.directory.invoices(account)),
        ("webhook delivery", engine.webhooks.deliver),
        # A price above the caller's max_price is refused before any admission (D20).
        (
            "charge, price_changed",
            charge("price_changed", "agent_execution", max_price=Decimal("0.001")),
        ),
    ]
    for name, path in quiet:
        assert store.applies(path) == [], name

    clock.advance(timedelta(seconds=301))  # the lease and the hold lapse (C6)
    assert store.applies(lambda: engine.usage(account)) == []  # nothing was open any more

    def counted() -> dict[tuple[str, str, str, str], Totals[Any]]:
        with store.inner.transaction() as tx:
            return {
                (account, c.item, c.scope, c.period): c.totals
                for c in tx.counters.of_account(account, ("2026-01", ""))
            }

    model = {key: _as_stored(totals) for key, totals in _replayed(store.calls).items()}
    stored = counted()
    assert stored == {key: totals for key, totals in model.items() if key[0] == account}
    usage = engine.usage(account)
    assert (usage["api_requests"].used, usage["ai_tokens"].used) == (12, 94)
    assert (usage["storage"].used, usage["realtime_connections"].used) == (4_000, 0)
    assert usage["projects"].used == 1
    # $1.00 less 10 bot messages, 2 agent executions (once) and a $0.05 tool call.
    assert engine.wallet(account).balance == Decimal("0.91")

    # Closing the period (and the cancellation it carries out) rates counters, never writes one.
    clock.advance(timedelta(days=31))
    assert store.applies(engine.close_period) == []
    assert counted() == stored


# ------------------------------------------------------------------ the batch is one by one

_EVENT = st.tuples(
    st.sampled_from(["logic_engine_calls", "api_calls"]),
    st.sampled_from([None, 0, 1]),
    st.integers(1, 12),
    st.sampled_from([None, None, "k1", "k2", "k3"]),
    st.sampled_from([False, False, False, True]),  # through the API key with its own quota
    st.booleans(),  # run on the customer's own model key (the history counts it apart)
)
_STEP = st.one_of(
    st.lists(_EVENT, min_size=1, max_size=12).map(lambda events: ("batch", events)),
    st.tuples(st.just("limit"), st.sampled_from([None, None, 0, 1]), st.integers(0, 60)),
    st.tuples(st.just("overage"), st.booleans()),
    st.tuples(st.just("advance"), st.integers(0, 20)),
)


class _World:
    """An account with two projects and an API key, deciding batches one way or the other."""

    def __init__(self, engine: Engine, together: bool) -> None:
        self.engine, self.together = engine, together
        self.origin = engine.clock.now()
        self.account = engine.create_account(plan="starter").id
        self.projects = [engine.create_project(self.account).id for _ in range(2)]
        self.key = engine.create_api_key(
            self.account, project_id=self.projects[0], quotas={"api_calls": 25}
        ).id

    def event(self, spec: tuple[Any, ...]) -> UsageEvent:
        meter, project, quantity, key, with_key, *byok = spec
        return UsageEvent(
            self.account,
            meter,
            quantity,
            None if project is None else self.projects[project],
            key,
            self.key if with_key else None,
            byok=bool(byok and byok[0]),
        )

    def run(self, step: tuple[Any, ...]) -> Any:
        engine = self.engine
        if step[0] == "batch":
            events = [self.event(spec) for spec in step[1]]
            if self.together:
                return [self.answer(result) for result in engine.consume_many(events)]
            return [self.answer(self.alone(event)) for event in events]
        try:
            if step[0] == "limit":
                project = None if step[1] is None else self.projects[step[1]]
                engine.set_limit(self.account, "logic_engine_calls", step[2], project_id=project)
            elif step[0] == "overage":
                engine.set_overage(self.account, step[1], meter="logic_engine_calls")
        except MeterstackError as error:
            return self.answer(error)
        return None

    def alone(self, event: UsageEvent) -> Decision | MeterstackError:
        try:
            return self.engine.consume(
                event.account_id,
                event.meter,
                event.quantity,
                project_id=event.project_id,
                idempotency_key=event.idempotency_key,
                api_key_id=event.api_key_id,
                byok=event.byok,
            )
        except MeterstackError as error:
            return error

    def answer(self, result: Decision | MeterstackError) -> str:
        value: Any = result.to_dict()
        if isinstance(result, MeterstackError):
            value = (type(result).__name__, value)
        text = repr(value).replace(self.account, "ACCOUNT").replace(self.key, "KEY")
        for index, project in enumerate(self.projects):
            text = text.replace(project, f"PROJECT{index}")
        return text

    def counted(self) -> list[tuple[int, int]]:
        usage = self.engine.usage
        return [
            (usage(self.account, project_id=project)[meter].used, usage(self.account)[meter].used)
            for meter in ("logic_engine_calls", "api_calls")
            for project in (None, *self.projects)
        ] + [(usage(self.account)["logic_engine_calls"].overage_units, 0)]

    def history(self) -> list[str]:
        """The operator's per-project buckets (D27, A11), by day since the start and by hour
        over the last day, with the account's own names taken out."""
        now = self.engine.clock.now()
        queries = [
            HistoryQuery(self.account, self.origin, now + timedelta(days=1), Granularity.DAY),
            HistoryQuery(self.account, now - timedelta(days=1), now, Granularity.HOUR),
        ]
        reports = [
            self.engine.history.history(query, operator=True, by_project=True) for query in queries
        ]
        return sorted(
            self.answer_text(repr(bucket)) for report in reports for bucket in report.buckets
        )

    def admitted_by_day(self) -> int:
        """The units of the daily buckets, every meter and project together."""
        query = HistoryQuery(self.account, self.origin, self.engine.clock.now() + timedelta(days=1))
        report = self.engine.history.history(query, operator=True)
        return sum(bucket.used for bucket in report.buckets)

    def answer_text(self, text: str) -> str:
        text = text.replace(self.account, "ACCOUNT").replace(self.key, "KEY")
        for index, project in enumerate(self.projects):
            text = text.replace(project, f"PROJECT{index}")
        return text


def test_d2_d7_any_sequence_of_batches_decides_and_counts_as_the_events_one_by_one(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    """Random batches (two meters, projects with and without a cap of their own, an API key's
    quota, idempotency keys repeated and reused, limits, overage switched, days passing, work
    on the customer's own key) on two engines of one database: one decides each batch with
    consume_many, the other sends the same events one by one through consume. Every answer,
    every counter and every usage-history bucket (D27) is the same."""
    together, alone = open_engine("agentstack"), open_engine("agentstack")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=st.lists(_STEP, min_size=1, max_size=8))
    @example(  # a refusal inside a batch, replays and a reused key, a project's cap, overage
        steps=[
            ("limit", None, 20),
            ("limit", 1, 6),
            (
                "batch",
                [
                    ("logic_engine_calls", 0, 8, "k1", False),
                    ("logic_engine_calls", 1, 5, None, False),
                    ("logic_engine_calls", 1, 3, None, False),
                    ("logic_engine_calls", None, 9, None, False),
                    ("logic_engine_calls", 0, 8, "k1", False),
                    ("logic_engine_calls", 0, 2, "k1", False),
                    ("api_calls", 0, 20, "k2", True),
                    ("api_calls", 0, 8, None, True),
                    ("api_calls", None, 3, "k1", False),
                ],
            ),
            ("overage", True),
            ("batch", [("logic_engine_calls", None, 12, "k3", False)] * 2),
            ("advance", 20),
            ("advance", 20),
            ("batch", [("logic_engine_calls", 0, 8, "k1", False)]),
        ]
    )
    def same(steps: list[tuple[Any, ...]]) -> None:
        first, second = _World(together, together=True), _World(alone, together=False)
        admitted = 0
        for step in steps:
            if step[0] == "advance":
                clock.advance(timedelta(days=step[1]))
                continue
            if step[0] == "batch":
                results = together.consume_many([first.event(spec) for spec in step[1]])
                assert [first.answer(result) for result in results] == second.run(step), step
                admitted += sum(
                    result.quantity
                    for result in results
                    if isinstance(result, Decision) and result.allowed and not result.replayed
                )
                continue
            assert first.run(step) == second.run(step), step
        assert first.counted() == second.counted()
        assert first.history() == second.history()
        # Every admitted unit is in the history once, and nothing else is (D27).
        assert first.admitted_by_day() == second.admitted_by_day() == admitted

    same()
