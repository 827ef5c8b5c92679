"""D19: anonymous sign-ups are limited per client address, counted in the store.

Before, the count lived in one server process's memory: a second server (or worker) on the same
database, or a restart, started from zero. Two engines on one database share one count here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import RateLimitedError

EngineFactory = Callable[..., Engine]


def test_d19_anonymous_sign_ups_per_address_hold_across_engines_on_one_database(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    first, second = open_engine("agentstack"), open_engine("agentstack")
    made = [
        first.create_anonymous_account(client="203.0.113.7", per_hour=3),
        second.create_anonymous_account(client="203.0.113.7", per_hour=3),
        first.create_anonymous_account(client="203.0.113.7", per_hour=3),
    ]
    with pytest.raises(RateLimitedError) as refused:
        second.create_anonymous_account(client="203.0.113.7", per_hour=3)
    assert (refused.value.code, refused.value.http_status) == ("rate_limited", 429)
    # Another address has a window of its own; without an address nothing is counted.
    assert second.create_anonymous_account(client="198.51.100.1", per_hour=3)
    assert first.create_anonymous_account()

    assert len({account.id for account, _ in made}) == 3
    assert first.directory.accounts().total == 5  # the refused sign-up made no account

    clock.advance(timedelta(hours=1))
    assert second.create_anonymous_account(client="203.0.113.7", per_hour=3)


def test_d19_the_sign_up_count_outlives_a_restart(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    before = open_engine("agentstack")
    before.create_anonymous_account(client="203.0.113.9", per_hour=1)
    before.close()

    after = open_engine("agentstack")  # a new process on the same database
    with pytest.raises(RateLimitedError):
        after.create_anonymous_account(client="203.0.113.9", per_hour=1)
    clock.advance(timedelta(minutes=59))
    with pytest.raises(RateLimitedError):
        after.create_anonymous_account(client="203.0.113.9", per_hour=1)
    clock.advance(timedelta(minutes=1))
    assert after.create_anonymous_account(client="203.0.113.9", per_hour=1)
