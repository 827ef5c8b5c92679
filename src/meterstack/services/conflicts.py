"""Deciding again when PostgreSQL undid a unit of work to break a deadlock.

Two requests of one account can each hold a counter the other needs: a refusal sweeps the
account's lapsed holds (C6) and gives units back to other meters' counters while its own is
locked. PostgreSQL breaks such a cycle by undoing one of the transactions; nothing of it was
recorded, so the metering services decide that request again rather than fail it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from meterstack.errors import TransactionConflictError

#: Attempts of one unit of work before the conflict reaches the caller (503, safe to retry).
ATTEMPTS = 4

P = ParamSpec("P")
T = TypeVar("T")


def decided_again_on_conflict(work: Callable[P, T]) -> Callable[P, T]:
    """Run ``work`` again when the database undid it; ``work`` must be one transaction."""

    @functools.wraps(work)
    def attempt(*args: P.args, **kwargs: P.kwargs) -> T:
        for _ in range(ATTEMPTS - 1):
            try:
                return work(*args, **kwargs)
            except TransactionConflictError:
                continue
        return work(*args, **kwargs)

    return attempt
