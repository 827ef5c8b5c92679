"""Engine throughput and latency beside a raw conditional UPDATE, measured in the same run.

For each backend (SQLite file in WAL mode; PostgreSQL when reachable) it measures:
- the baseline: one single-row conditional ``UPDATE … RETURNING`` per transaction, through the
  same driver, pragmas and commit mode as the engine;
- ``consume`` touching two scopes (account and project) with an idempotency key;
- the same consume from 8 threads at once, which group commit lets share transactions (on
  SQLite also with every thread on one CPU, beside what waking a thread costs across CPUs and
  on one: each concurrent call ends with its thread woken, which bounds what threads gain);
- ``consume_many`` of 100 events per call, per event;
- keyed consume, single and in batches of 100, on an engine that keeps the usage history (D27:
  hourly and daily buckets written by the admission) beside one that does not, same database;
- keyed consume, single and in batches of 100, on an account with three threshold alerts on the
  measured meter and a hard budget (D25, D26: the charges step in every admission) beside an
  account with neither, same engine.
It prints rates, p50/p99/p99.9 latencies and the ratios the project targets: on SQLite, consume
>= 0.5x the bare SQL of the same work and 8 threads >= 1x one thread; on PostgreSQL, consume
>= 0.5x the raw UPDATE and 8 threads >= 2x one thread; consume_many >= 5x a single consume per
event on both; with history >= 0.8x without it, single and batched, on both; with alerts and a
hard budget >= 0.7x without them, single and batched, on both. Absolute numbers
depend on the machine; the ratios are what to compare. The measures run interleaved, in short
rounds, so that a drift of the machine or the database (a checkpoint, a noisy neighbour) weighs
on every measure alike.

    python bench/engine.py [--seconds 3] [--rounds 10] [--only sqlite|postgresql]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--history-only] [--alerts-only]
"""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (the engine's webhook
# delivery imports httpx, which imports it): this folder goes last, for bench/measure.py.
HERE = Path(__file__).parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE] + [str(HERE)]

import argparse
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress

from measure import (
    POSTGRES,
    SQLITE_LABEL,
    Measure,
    Timed,
    backends,
    interleaved,
    raw_connection,
)
from meterstack import Engine, UsageEvent

BATCH = 100
#: Concurrent callers of ``consume``, and the requests each round hands them at once.
THREADS = 8
BURST = 256


@contextmanager
def raw_update(engine: Engine) -> Iterator[Timed]:
    """The baseline: one conditional single-row UPDATE … RETURNING per transaction."""
    with raw_connection(engine) as raw:
        raw.run(
            "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
            "VALUES ('raw', 'raw', 'raw', 'raw', 0, 0, 0)"
        )
        update = raw.dialect.sql(
            "UPDATE counters SET used = used + :q WHERE account_id = 'raw' AND item = 'raw' "
            "AND scope = 'raw' AND period = 'raw' AND used + held + :q <= :bound RETURNING used"
        )

        def once(_: int) -> int:
            raw.begin()
            raw.cursor.execute(update, {"q": 1, "bound": 10**15})
            raw.cursor.fetchone()
            raw.commit()
            return 1

        yield Timed("raw conditional UPDATE ... RETURNING", once)


@contextmanager
def raw_same_work(engine: Engine) -> Iterator[Timed]:
    """A second reference: the SQL a keyed two-scope consume needs at least, without the engine.

    Two conditional counter updates, one idempotency row and the consumption's hour in the
    usage history (D27, kept by default) per transaction; on PostgreSQL all four in one
    statement, as the engine sends them. It shows how much of the gap to the single-row
    baseline is the work itself rather than the engine's code.
    """
    with raw_connection(engine) as raw:
        for scope in ("raw-a", "raw-b"):
            raw.run(
                "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
                "VALUES ('raw', 'raw', :scope, 'raw', 0, 0, 0)",
                {"scope": scope},
            )
        update = (
            "UPDATE counters SET used = used + :q WHERE account_id = 'raw' AND item = 'raw' "
            "AND scope = :scope AND period = 'raw' AND used + held + :q <= :bound RETURNING used"
        )
        remember = (
            "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
            "VALUES ('raw', :key, :hash, :decision, :created_at)"
        )
        bucket = (
            "INSERT INTO usage_buckets (account_id, meter, bucket_start, project_id, used, byok) "
            "{rows} ON CONFLICT (account_id, meter, bucket_start, project_id) DO UPDATE SET "
            "used = usage_buckets.used + excluded.used, byok = usage_buckets.byok + excluded.byok"
        )
        scoped = [update.replace(":scope", f"'{scope}'") for scope in ("raw-a", "raw-b")]
        if raw.dialect.is_sqlite:
            hour_row = "VALUES ('raw', 'raw', :hour, 'raw', 1, 0)"
            writes = [*scoped, remember, bucket.format(rows=hour_row)]
        else:
            hour_row = "SELECT 'raw', 'raw', :hour, 'raw', 1, 0 FROM kept"
            writes = [
                f"WITH a AS ({scoped[0]}), b AS ({scoped[1]}), kept AS ({remember} RETURNING key), "
                f"counted AS ({bucket.format(rows=hour_row)}) SELECT used FROM a"
            ]
        writes = [raw.dialect.sql(write) for write in writes]
        decision = "x" * 160  # about the size of a stored decision (a JSON array of its fields)
        created_at = raw.dialect.ts(engine.clock.now())
        hour = raw.dialect.ts(engine.clock.now().replace(minute=0, second=0, microsecond=0))
        run_id = uuid.uuid4().hex[:8]

        def once(index: int) -> int:
            raw.begin()
            params = {
                "q": 1,
                "bound": 10**15,
                "key": f"{run_id}-{index}",
                "hash": "0" * 64,
                "decision": decision,
                "created_at": created_at,
                "hour": hour,
            }
            for write in writes:
                raw.cursor.execute(write, params)
                if write.startswith(("UPDATE", "WITH")):
                    raw.cursor.fetchone()
            raw.commit()
            return 1

        yield Timed("raw SQL of a keyed 2-scope consume", once)


def bench_backend(label: str, url: str, seconds: float, rounds: int) -> tuple[float, float]:
    with Engine.open(url, catalog="agentstack") as engine:
        account = engine.create_account(plan="pro")
        engine.set_limit(account.id, "api_calls", "unlimited")
        project = engine.create_project(account.id)
        run_id = uuid.uuid4().hex[:8]

        def single_consume(i: int) -> int:
            engine.consume(
                account.id,
                "api_calls",
                1,
                project_id=project.id,
                idempotency_key=f"{run_id}-one-{i}",
            )
            return 1

        def batch(i: int) -> int:
            events = [
                UsageEvent(account.id, "api_calls", 1, project.id, f"{run_id}-many-{i}-{n}")
                for n in range(BATCH)
            ]
            engine.consume_many(events)
            return BATCH

        concurrent = Timed(
            f"consume from {THREADS} threads (group commit)", lambda i: 0, time_each_call=False
        )
        #: Where the concurrent callers' latencies go: the measure under way.
        sink = [concurrent.latencies]

        def timed_consume(i: int) -> None:
            began = time.perf_counter()
            single_consume(i)
            sink[0].append(time.perf_counter() - began)

        one_cpu: tuple[Measure, Measure] | None = None
        with Callers(timed_consume, THREADS) as callers:
            concurrent.operation = callers.burst
            with raw_update(engine) as raw_timed, raw_same_work(engine) as same_timed:
                raw, same_work, single, grouped, many = interleaved(
                    seconds,
                    rounds,
                    raw_timed,
                    same_timed,
                    Timed("consume (2 scopes + idempotency key)", single_consume),
                    concurrent,
                    Timed(f"consume_many ({BATCH} events), per event", batch),
                )
            cpu = first_cpu()
            if cpu is not None and label == SQLITE_LABEL:
                pinned = Timed(
                    f"consume from {THREADS} threads, one CPU", callers.burst, time_each_call=False
                )
                sink[0] = pinned.latencies
                with on_one_cpu(cpu, [threading.current_thread(), *callers.threads]):
                    alone, together = interleaved(
                        seconds / 2,
                        rounds,
                        Timed("consume, one CPU", single_consume),
                        pinned,
                    )
                one_cpu = alone, together
    print(f"{label}")
    for measure in (raw, same_work, single, grouped, many):
        print(measure.line())
    single_ratio = single.rate / raw.rate
    many_ratio = many.rate / single.rate
    sqlite = label == SQLITE_LABEL
    print(
        f"  consume / raw UPDATE:                  {single_ratio:5.2f}x"
        + ("" if sqlite else "   (target >= 0.5x)")
    )
    print(f"  raw SQL of the same work / raw UPDATE: {same_work.rate / raw.rate:5.2f}x")
    print(
        f"  consume / raw SQL of the same work:    {single.rate / same_work.rate:5.2f}x"
        + ("   (target >= 0.5x)" if sqlite else "")
    )
    print(
        f"  consume, {THREADS} threads / 1 thread:     {grouped.rate / single.rate:5.2f}x"
        f"   (target >= {1.0 if sqlite else 2.0:.1f}x)"
    )
    print(f"  consume_many per event / consume:      {many_ratio:5.2f}x   (target >= 5x)")
    if one_cpu is not None:
        # Why threads gain little here: each concurrent call ends with its thread woken, and a
        # thread woken on another (idle) CPU costs far more than one on the same CPU.
        alone, together = one_cpu
        across, beside = wake_round_trip(None), wake_round_trip(cpu)
        print(
            f"  the same, all threads on one CPU:      {together.rate / alone.rate:5.2f}x"
            f"   (two threads waking each other: {across * 1e6:.0f} us across CPUs, "
            f"{beside * 1e6:.0f} us on one)"
        )
    return single_ratio, many_ratio


def first_cpu() -> int | None:
    """A CPU of this process to pin threads on, when the system lets threads be pinned and
    the process has more than one CPU (else there is nothing to compare)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0] if len(cpus) > 1 else None


@contextmanager
def on_one_cpu(cpu: int, threads: list[threading.Thread]) -> Iterator[None]:
    """The threads run on ``cpu`` alone while the block runs, then where they ran before."""
    before = os.sched_getaffinity(0)
    ids = [thread.native_id for thread in threads if thread.native_id is not None]
    for native in ids:
        os.sched_setaffinity(native, {cpu})
    try:
        yield
    finally:
        for native in ids:
            with suppress(ProcessLookupError):  # a thread that ended has nothing to restore
                os.sched_setaffinity(native, before)


def wake_round_trip(cpu: int | None, times: int = 5000) -> float:
    """Seconds for two threads to wake each other once each (a lock handed back and forth),
    both on ``cpu`` or wherever the system runs them."""
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()

    def answer() -> None:
        for _ in range(times):
            ping.acquire()
            pong.release()

    other = threading.Thread(target=answer, daemon=True)
    other.start()
    both = [threading.current_thread(), other]
    with nullcontext() if cpu is None else on_one_cpu(cpu, both):
        start = time.perf_counter()
        for _ in range(times):
            ping.release()
            pong.acquire()
        elapsed = time.perf_counter() - start
    other.join()
    return elapsed / times


def bench_history(label: str, url: str, seconds: float, rounds: int) -> tuple[float, float]:
    """Keyed consume (account and project scopes) with the usage history and without it, on
    two engines of one database, single and batched, measured interleaved."""
    with (
        Engine.open(url, catalog="agentstack") as keeping,
        Engine.open(url, catalog="agentstack", usage_history=False) as bare,
    ):
        run_id = uuid.uuid4().hex[:8]
        measures: list[Timed] = []
        for engine, name in ((keeping, "with history"), (bare, "without history")):
            account = engine.create_account(plan="pro").id
            engine.set_limit(account, "api_calls", "unlimited")
            project = engine.create_project(account).id

            def single(i: int, engine: Engine = engine, a: str = account, p: str = project) -> int:
                engine.consume(a, "api_calls", 1, project_id=p, idempotency_key=f"{run_id}-{i}")
                return 1

            def batch(i: int, engine: Engine = engine, a: str = account, p: str = project) -> int:
                engine.consume_many(
                    [UsageEvent(a, "api_calls", 1, p, f"{run_id}-b{i}-{n}") for n in range(BATCH)]
                )
                return BATCH

            measures += [
                Timed(f"keyed consume, {name}", single),
                Timed(f"consume_many ({BATCH}), {name}, per event", batch),
            ]
        one, many, one_bare, many_bare = interleaved(seconds, rounds, *measures)
    print(f"{label}: usage history (D27)")
    for measure in (one, one_bare, many, many_bare):
        print(measure.line())
    single_ratio, batch_ratio = one.rate / one_bare.rate, many.rate / many_bare.rate
    print(f"  consume with history / without:        {single_ratio:5.2f}x   (target >= 0.8x)")
    print(f"  consume_many with history / without:   {batch_ratio:5.2f}x   (target >= 0.8x)")
    return single_ratio, batch_ratio


def bench_alerts(label: str, url: str, seconds: float, rounds: int) -> tuple[float, float]:
    """Keyed consume (account and project scopes) on an account with three threshold alerts
    and a hard budget on the measured meter, and on one with neither, measured interleaved."""
    with Engine.open(url, catalog="agentstack") as engine:
        run_id = uuid.uuid4().hex[:8]
        measures: list[Timed] = []
        for watched in (True, False):
            account = engine.create_account(plan="pro").id
            engine.set_limit(account, "api_calls", 10**12)  # thresholds far away: never crossed
            project = engine.create_project(account).id
            name = "3 alerts + hard budget" if watched else "no alerts, no budget"
            if watched:
                for percent in ("75", "90", "95"):
                    engine.create_alert(account, "usage_percent", meter="api_calls",
                                        threshold=percent)  # fmt: skip
                engine.set_budget(account, "100000.00", mode="hard")

            def single(i: int, a: str = account, p: str = project) -> int:
                engine.consume(a, "api_calls", 1, project_id=p, idempotency_key=f"{run_id}-{i}")
                return 1

            def batch(i: int, a: str = account, p: str = project) -> int:
                engine.consume_many(
                    [UsageEvent(a, "api_calls", 1, p, f"{run_id}-b{i}-{n}") for n in range(BATCH)]
                )
                return BATCH

            measures += [
                Timed(f"keyed consume, {name}", single),
                Timed(f"consume_many ({BATCH}), {name}, per event", batch),
            ]
        one, many, one_bare, many_bare = interleaved(seconds, rounds, *measures)
    print(f"{label}: alerts and budget guard (D25, D26)")
    for measure in (one, one_bare, many, many_bare):
        print(measure.line())
    single_ratio, batch_ratio = one.rate / one_bare.rate, many.rate / many_bare.rate
    print(f"  consume with alerts+budget / without:  {single_ratio:5.2f}x   (target >= 0.7x)")
    print(f"  consume_many with / without:           {batch_ratio:5.2f}x   (target >= 0.7x)")
    return single_ratio, batch_ratio


class Callers:
    """``THREADS`` threads calling ``consume`` at once, as a server's worker threads do: each
    burst, every thread makes its share of the calls one after the other, and the burst ends
    when all are answered. (A thread pool's future per call would add its own cost.)"""

    def __init__(self, call: Callable[[int], None], threads: int) -> None:
        self._call = call
        self._threads = threads
        self._start = threading.Barrier(threads + 1)
        self._end = threading.Barrier(threads + 1)
        self._first = 0
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._work, args=(index,), daemon=True)
            for index in range(threads)
        ]

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._workers)

    def __enter__(self) -> Callers:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping = True
        self._start.wait()
        for worker in self._workers:
            worker.join()

    def _work(self, index: int) -> None:
        share = BURST // self._threads
        while True:
            self._start.wait()
            if self._stopping:
                return
            first = self._first + index * share
            for number in range(first, first + share):
                self._call(number)
            self._end.wait()

    def burst(self, index: int) -> int:
        self._first = index * BURST + 10**9  # keys apart from the single consumes'
        self._start.wait()
        self._end.wait()
        return BURST


def _sections(args: argparse.Namespace, label: str, url: str, only: bool) -> None:
    if not only:
        bench_backend(label, url, args.seconds, args.rounds)
    if args.history_only or not only:
        bench_history(label, url, args.seconds, args.rounds)
    if args.alerts_only or not only:
        bench_alerts(label, url, args.seconds, args.rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measure")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per measure")
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument(
        "--only", choices=["sqlite", "postgresql"], help="measure one backend rather than both"
    )
    parser.add_argument(
        "--history-only", action="store_true", help="measure the usage-history section alone"
    )
    parser.add_argument(
        "--alerts-only", action="store_true", help="measure the alerts and budget section alone"
    )
    args = parser.parse_args()
    only = args.history_only or args.alerts_only
    for label, url in backends(args.only, args.postgres):
        _sections(args, label, url, only)


if __name__ == "__main__":
    main()
