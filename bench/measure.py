"""What the benchmarks share: interleaved timed measures, a raw connection of an engine's own
store (same driver, pragmas and commit mode) for the bare-SQL baselines, and the backends to
measure (a SQLite file in WAL mode; PostgreSQL in a schema of its own when reachable).

A benchmark script imports it by name: each script moves its own folder to the end of
``sys.path`` (``bench/http.py`` would otherwise shadow the standard library's ``http``).
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from meterstack import Engine
from meterstack.store.dialect import Dialect
from meterstack.store.sql import SqlStore

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SQLITE_LABEL = "SQLite (WAL, synchronous=NORMAL)"
POSTGRES_LABEL = "PostgreSQL (synchronous commit)"


@dataclass(frozen=True)
class Measure:
    name: str
    operations: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    def line(self) -> str:
        p50 = statistics.median(self.latencies) * 1e3
        p99, p999 = (
            statistics.quantiles(self.latencies, n=1000, method="inclusive")[index] * 1e3
            for index in (989, 998)
        )
        return (
            f"  {self.name:<42} {self.rate:>10,.0f} /s   p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"
            f"   p99.9 {p999:7.3f} ms"
        )


@dataclass
class Timed:
    """One measure's operation, and what its rounds have measured so far."""

    name: str
    #: ``operation(i)`` does the i-th operation(s) and returns how many it did.
    operation: Callable[[int], int]
    operations: int = 0
    seconds: float = 0.0
    next_index: int = 0
    latencies: list[float] = field(default_factory=list)
    #: False when the operation records its requests' latencies itself (concurrent callers).
    time_each_call: bool = True

    def round(self, seconds: float) -> None:
        """Call the operation for ``seconds`` more."""
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            began = time.perf_counter()
            if began >= deadline:
                break
            self.operations += self.operation(self.next_index)
            if self.time_each_call:
                self.latencies.append(time.perf_counter() - began)
            self.next_index += 1
        self.seconds += time.perf_counter() - start

    def result(self) -> Measure:
        return Measure(self.name, self.operations, self.seconds, self.latencies)


def interleaved(seconds: float, rounds: int, *timed: Timed) -> list[Measure]:
    """``seconds`` of each measure, in ``rounds`` alternating rounds."""
    for _ in range(rounds):
        for measure in timed:
            measure.round(seconds / rounds)
    return [measure.result() for measure in timed]


@dataclass
class Raw:
    """A connection of the engine's own store, outside the engine: its dialect, its cursor."""

    dialect: Dialect
    connection: Any
    cursor: Any

    def begin(self) -> None:
        self.dialect.begin(self.cursor)

    def commit(self) -> None:
        if self.dialect.is_sqlite:
            self.cursor.execute("COMMIT")
        else:
            self.connection.commit()

    def run(self, text: str, params: dict[str, Any] | None = None) -> None:
        """One statement in a transaction of its own (a baseline's setup)."""
        self.begin()
        self.cursor.execute(self.dialect.sql(text), params or {})
        self.commit()


@contextmanager
def raw_connection(engine: Engine) -> Iterator[Raw]:
    """The same driver, pragmas and commit mode as the engine, without the engine."""
    store = engine._ctx.store  # a benchmark reaches past the public surface on purpose
    assert isinstance(store, SqlStore)
    connection = store.engine.raw_connection()
    cursor = connection.cursor()
    try:
        yield Raw(store.dialect, connection, cursor)
    finally:
        cursor.close()
        connection.close()


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def backends(only: str | None = None, postgres: str = POSTGRES) -> Iterator[tuple[str, str]]:
    """(label, database URL) of each backend to measure: a fresh SQLite file, then a fresh
    PostgreSQL schema (dropped afterwards) when the server is reachable; ``only`` one of them."""
    if only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            yield SQLITE_LABEL, f"sqlite:///{Path(folder) / 'bench.db'}"
    if only == "sqlite":
        return
    if not postgres_reachable():
        print("PostgreSQL: not reachable at 127.0.0.1:5432, skipped")
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        yield POSTGRES_LABEL, f"{postgres}?schema={schema}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
