"""An operator's override past the bounds is refused, and the account keeps working.

Limits at most 10^15 and grace at most 1000 % (meterstack.bounds): every hard limit then fits the
store's 64-bit counters. Before, ``limit 10**18`` with ``grace 1000`` was accepted and every
later consume of the account failed in the store (500 over HTTP on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meterstack import Engine
from meterstack.bounds import MAX_GRACE_PERCENT, MAX_QUANTITY
from meterstack.errors import InvalidInputError

EngineFactory = Callable[..., Engine]


def test_d14_override_limit_past_10_15_is_refused_and_changes_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    with pytest.raises(InvalidInputError, match=r"at most 1,000,000,000,000,000 \(10\^15\)"):
        engine.set_limit(account.id, "api_calls", 10**18, grace=1000)
    with pytest.raises(InvalidInputError, match="at most"):
        engine.set_limit(account.id, "api_calls", MAX_QUANTITY + 1)

    decision = engine.consume(account.id, "api_calls", 1)
    assert decision.allowed
    assert decision.limit == 2_000_000  # the plan's, untouched


def test_d14_override_grace_past_1000_percent_is_refused(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    with pytest.raises(InvalidInputError, match="from 0 to 1000"):
        engine.set_limit(account.id, "api_calls", 100, grace=MAX_GRACE_PERCENT + 1)


def test_d14_override_at_the_bounds_is_decided(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", MAX_QUANTITY, grace=MAX_GRACE_PERCENT)

    decision = engine.consume(account.id, "api_calls", MAX_QUANTITY)
    assert decision.allowed
    assert decision.limit == MAX_QUANTITY
    assert decision.hard_limit == 11 * MAX_QUANTITY
