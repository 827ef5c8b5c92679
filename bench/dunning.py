"""Invoice collection throughput of one runner pass, against bare conditional writes, same run.

For each backend, ``--invoices`` Aerostack Pro accounts are made, each with its opening invoice
finalized and due (the setup is not measured). One pass of the collection runner then collects
them all through the local provider: open the collections, lease each attempt, check the
account can be charged, record the attempt, ask the provider, record the outcome, mark the
invoice paid and announce ``invoice.paid``. The baseline is the least any coordinated attempt
costs on the same database: per invoice, one transaction with a conditional ``UPDATE`` taking
a lease and one recording the outcome, on a table of the same size. The ratio is runner rate /
bare rate. Both run on this machine at the same time as everything else on it: compare
ratios, not times.

    python bench/dunning.py [--invoices 300] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (httpx imports it).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime

import psycopg

from meterstack import Engine, ManualClock
from meterstack.services.payments.local import LocalProvider
from meterstack.store.sql import SqlStore

START = datetime(2026, 1, 1, tzinfo=UTC)


def bare_rate(engine: Engine, count: int) -> float:
    """Attempts per second of two bare transactions each: lease (conditional UPDATE), record."""
    store = engine._ctx.store
    assert isinstance(store, SqlStore)
    with store.transaction() as tx:
        tx.sql.execute(
            "CREATE TABLE bench_leases (id INTEGER PRIMARY KEY, owner TEXT, status TEXT)"
        )
        for index in range(count):
            tx.sql.execute(
                "INSERT INTO bench_leases (id, owner, status) VALUES (:id, NULL, 'due')",
                {"id": index},
            )
    began = time.perf_counter()
    for index in range(count):
        with store.transaction() as tx:
            tx.sql.one(
                "UPDATE bench_leases SET owner = 'bench' WHERE id = :id AND owner IS NULL "
                "AND status = 'due' RETURNING id",
                {"id": index},
            )
        with store.transaction() as tx:
            tx.sql.execute(
                "UPDATE bench_leases SET status = 'paid', owner = NULL "
                "WHERE id = :id AND owner = 'bench'",
                {"id": index},
            )
    return count / (time.perf_counter() - began)


def run(label: str, url: str, invoices: int) -> None:
    engine = Engine.open(
        url, catalog="aerostack", clock=ManualClock(START), provider=LocalProvider()
    )
    try:
        for _ in range(invoices):
            engine.create_account(plan="pro")
        bare = bare_rate(engine, invoices)
        began = time.perf_counter()
        report = engine.collections.run(worker="bench")
        elapsed = time.perf_counter() - began
        if report.paid != invoices:
            raise SystemExit(f"{label}: {report.paid} of {invoices} collected")
        rate = invoices / elapsed
        print(
            f"{label:10s} runner {rate:7,.0f} invoices/s   bare lease+record {bare:7,.0f}/s   "
            f"ratio {rate / bare:.2f}x   ({invoices:,} invoices)"
        )
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.invoices)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        run("postgresql", f"{args.postgres}?schema={schema}", args.invoices)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
