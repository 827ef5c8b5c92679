"""Period close at scale: invoices for many accounts with mixed usage, on each backend.

The accounts and their counters are written directly (the setup is not what is measured); the
close itself goes through the engine. Prints accounts/s, invoices created and peak memory of the
close, and checks that a second close creates nothing. Target: 100,000 accounts in at most 60 s
on each backend.

    python bench/billing.py [--accounts 100000] [--postgres postgresql://postgres@127.0.0.1:5432/test]
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
import resource
import time
from datetime import UTC, datetime, timedelta

from measure import POSTGRES, backends
from meterstack import Engine, ManualClock
from meterstack.store.sql import SqlStore

START = datetime(2026, 1, 1, tzinfo=UTC)
PLANS = ("free", "starter", "basic", "pro", "premium")
CHUNK = 5_000


def populate(engine: Engine, accounts: int) -> None:
    """Write ``accounts`` accounts on mixed plans with mixed January usage, straight to SQL."""
    store = engine._ctx.store
    assert isinstance(store, SqlStore)  # rows written straight to SQL
    catalog_hash = engine._ctx.current.content_hash
    for first in range(0, accounts, CHUNK):
        rows = []
        counters = []
        for index in range(first, min(first + CHUNK, accounts)):
            account_id = f"acct_bench{index:012d}"
            plan = PLANS[index % len(PLANS)]
            rows.append(
                {
                    "id": account_id,
                    "catalog_hash": catalog_hash,
                    "plan_id": plan,
                    "period_anchor": START,
                    "created_at": START,
                }
            )
            if index % 3 == 0:  # a third used some API calls, within the limit
                counters.append((account_id, "api_calls", 1_000 + index % 997, 0))
            if index % 7 == 0 and plan != "free":  # some went over with overage on
                counters.append((account_id, "logic_engine_calls", 300_000, 250_000 + index % 13))
        with store.transaction() as tx:
            sql = tx.sql
            sql.cursor.executemany(
                sql.dialect.sql(
                    "INSERT INTO accounts (id, catalog_hash, plan_id, billing_interval, status, "
                    "period_anchor, created_at, version, anonymous) VALUES (:id, :catalog_hash, "
                    ":plan_id, 'monthly', 'active', :period_anchor, :created_at, 1, false)"
                ),
                [
                    {
                        **row,
                        "period_anchor": sql.ts(row["period_anchor"]),  # type: ignore[arg-type]
                        "created_at": sql.ts(row["created_at"]),  # type: ignore[arg-type]
                    }
                    for row in rows
                ],
            )
            sql.cursor.executemany(
                sql.dialect.sql(
                    "INSERT INTO plan_history (account_id, started_at, seq, plan_id, "
                    "billing_interval, catalog_hash) VALUES (:id, :created_at, 1, :plan_id, "
                    "'monthly', :catalog_hash)"
                ),
                [
                    {
                        "id": row["id"],
                        "created_at": sql.ts(row["created_at"]),  # type: ignore[arg-type]
                        "plan_id": row["plan_id"],
                        "catalog_hash": row["catalog_hash"],
                    }
                    for row in rows
                ],
            )
            sql.cursor.executemany(
                sql.dialect.sql(
                    "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
                    "VALUES (:account_id, :item, 'account', '2026-01', :used, 0, :overage)"
                ),
                [
                    {"account_id": a, "item": item, "used": used, "overage": overage}
                    for a, item, used, overage in counters
                ],
            )


def bench_backend(label: str, url: str, accounts: int) -> float:
    clock = ManualClock(START)
    with Engine.open(url, catalog="agentstack", clock=clock) as engine:
        populate(engine, accounts)
        clock.set(datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=1))
        began = time.perf_counter()
        created = engine.close_period()
        seconds = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        again = engine.close_period()
        total = sum((invoice.total for invoice in created), start=created[0].total * 0)
    print(label)
    print(f"  accounts closed:     {accounts:>10,}")
    print(f"  invoices created:    {len(created):>10,}   (second close: {len(again)})")
    print(f"  invoiced in all:     {total:>14,} USD")
    print(f"  close time:          {seconds:>10.1f} s   (target <= 60 s for 100,000)")
    print(f"  accounts/s:          {accounts / seconds:>10,.0f}")
    print(f"  peak memory:         {peak / 2**20:>10.1f} MiB (the process's peak resident set)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()
    for label, url in backends(postgres=args.postgres):
        bench_backend(label, url, args.accounts)


if __name__ == "__main__":
    main()
