"""Query plans of the hot statements: their cost must not grow with what an account has stored.

The planner's estimates depend on statistics a server may not have gathered yet (a new table,
autovacuum off or behind); these tests check the plan under both custom and generic planning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from meterstack import Engine, UsageEvent
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
StoreOf = Callable[[Engine], SqlStore]


class _ExplainingCursor:
    """A cursor that asks PostgreSQL for each statement's plan before running it."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.plans: list[dict[str, Any]] = []

    def execute(self, statement: str, params: Any = None) -> Any:
        self.cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
        self.plans.append(self.cursor.fetchone()[0][0]["Plan"])
        return self.cursor.execute(statement, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("planning", ["force_custom_plan", "force_generic_plan"])
def test_d7_batch_key_lookup_probes_each_key_not_the_accounts_keys(
    open_engine: EngineFactory, store_of: StoreOf, planning: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    for batch in range(10):
        engine.consume_many(
            [UsageEvent(account.id, "api_calls", 1, None, f"old-{batch}-{n}") for n in range(100)]
        )
    asked = ["old-3-7", "new-1", "old-9-99", "new-2"]

    with store_of(engine).transaction() as tx:
        tx.sql.execute(f"SET LOCAL plan_cache_mode = {planning}")
        explaining = _ExplainingCursor(tx.sql.cursor)
        tx.sql.cursor = explaining
        found = tx.idempotency.get_many(account.id, asked)

    assert sorted(found) == ["old-3-7", "old-9-99"]
    [plan] = explaining.plans
    scans = [node for node in _nodes(plan) if node.get("Relation Name") == "idempotency_keys"]
    assert scans, plan
    for scan in scans:
        # An index scan on both primary-key columns: one probe per asked key.
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), plan
        assert "account_id" in scan["Index Cond"], plan
        assert re.search(r"\bkey\b", scan["Index Cond"]), plan
