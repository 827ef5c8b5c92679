"""Wallet charge decisions per second beside the bare SQL of the same work, in the same run.

For each backend (SQLite file in WAL mode; PostgreSQL when reachable) it measures
``engine.charge`` of a keyed operation (the price taken off the balance counter, the ledger
entry, the idempotency record: one transaction) and, through the same driver, pragmas and commit
mode, the bare SQL of that work: one conditional balance UPDATE, one ledger INSERT and one
idempotency INSERT per transaction. It prints both rates, their latencies and the ratio against
its target (charge >= 0.5x the bare SQL). The measures run interleaved in short rounds.

    python bench/wallet.py [--seconds 3] [--rounds 10] [--only sqlite|postgresql]
"""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (httpx imports it): this
# folder goes last, for bench/measure.py.
HERE = Path(__file__).parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE] + [str(HERE)]

import argparse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from measure import POSTGRES, Timed, backends, interleaved, raw_connection
from meterstack import Engine

TARGET = 0.5


@contextmanager
def bare_charge(engine: Engine) -> Iterator[Timed]:
    """The SQL a keyed charge needs at least, without the engine."""
    with raw_connection(engine) as raw:
        raw.run(
            "INSERT INTO counters (account_id, item, scope, period, used, held, overage) "
            "VALUES ('raw', 'wallet:balance', 'account', '', :balance, 0, 0)",
            {"balance": 10**15},
        )
        sql = raw.dialect.sql
        spend = sql(
            "UPDATE counters SET used = used + :q WHERE account_id = 'raw' AND item = "
            "'wallet:balance' AND scope = 'account' AND period = '' AND used + :q >= 0 "
            "RETURNING used"
        )
        entry = sql(
            "INSERT INTO wallet_entries (id, account_id, book, kind, amount, operation, quantity, "
            "byok, project_id, item_id, idempotency_key, reference, memo, payout_id, created_at) "
            "VALUES (:id, 'raw', 'wallet', 'charge', -10000, 'agent_execution', 1, :byok, NULL, "
            "NULL, :key, NULL, NULL, NULL, :created_at) RETURNING seq"
        )
        remember = sql(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, decision, created_at) "
            "VALUES ('raw', :key, :hash, :decision, :created_at)"
        )
        answer = "x" * 200  # about the size of a stored charge (a JSON array of its fields)
        created_at = raw.dialect.ts(engine.clock.now())
        run_id = uuid.uuid4().hex[:8]
        cursor = raw.cursor

        def once(index: int) -> int:
            key = f"{run_id}-{index}"
            raw.begin()
            cursor.execute(spend, {"q": -10_000})
            cursor.fetchone()
            cursor.execute(
                entry, {"id": f"wle_{key}", "byok": False, "key": key, "created_at": created_at}
            )
            cursor.fetchone()
            cursor.execute(
                remember,
                {"key": key, "hash": "0" * 64, "decision": answer, "created_at": created_at},
            )
            raw.commit()
            return 1

        yield Timed("bare SQL of a keyed charge", once)


def bench_backend(label: str, url: str, seconds: float, rounds: int) -> float:
    with Engine.open(url, catalog="aerostack") as engine:
        account = engine.create_account(plan="pro")
        engine.adjust_wallet(account.id, Decimal(10**9), "bench funds")
        run_id = uuid.uuid4().hex[:8]

        def charge(index: int) -> int:
            decided = engine.charge(
                account.id, "agent_execution", idempotency_key=f"{run_id}-{index}"
            )
            assert decided.allowed
            return 1

        with bare_charge(engine) as bare:
            measured = interleaved(seconds, rounds, bare, Timed("engine.charge (keyed)", charge))
    baseline, charged = measured
    ratio = float(charged.rate / baseline.rate)
    print(label)
    for measure in measured:
        print(measure.line())
    verdict = "meets" if ratio >= TARGET else "below"
    print(f"  charge / bare SQL: {ratio:.2f}x ({verdict} the {TARGET}x target)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measure")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per measure")
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    for label, url in backends(args.only, args.postgres):
        bench_backend(label, url, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
