"""A store whose counters port records every ``apply`` call and its outcome, around the SQL
store's own: what the tests of the one admission count (``Engine.on`` takes any implementation
of the ports)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from meterstack.rules.admission import Totals
from meterstack.store.ports import Admission, Applied, Counters, R, Refused, Stale, Taken
from meterstack.store.rows import Counter
from meterstack.store.sql import SqlStore, SqlTransaction

#: One ``apply`` call: the admission and what the store answered.
Call = tuple[Admission[Any], Applied[Any] | Refused | Stale | Taken]


class RecordedCounters:
    """A counters port that records every call of ``apply``, around the real one."""

    def __init__(self, inner: Counters, calls: list[Call], lock: threading.Lock) -> None:
        self._inner, self._calls, self._lock = inner, calls, lock

    def apply(self, admission: Admission[R]) -> Applied[R] | Refused | Stale | Taken:
        outcome = self._inner.apply(admission)
        with self._lock:
            self._calls.append((admission, outcome))
        return outcome

    def totals(self, account_id: str, item: str, scope: str, period: str) -> Totals[int]:
        return self._inner.totals(account_id, item, scope, period)

    def of_account(self, account_id: str, periods: Sequence[str]) -> list[Counter]:
        return self._inner.of_account(account_id, periods)

    def of_accounts(
        self, account_ids: Sequence[str], periods: Sequence[str]
    ) -> dict[tuple[str, str, str], Totals[int]]:
        return self._inner.of_accounts(account_ids, periods)


class RecordingStore:
    """The SQL store, each transaction's counters port wrapped; applies per transaction."""

    def __init__(self, url: str) -> None:
        self.inner = SqlStore(url)
        self.calls: list[Call] = []
        #: The number of apply calls of each transaction, in order.
        self.per_transaction: list[int] = []
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def close(self) -> None:
        self.inner.close()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        mine: list[Call] = []
        with self.inner.transaction() as tx:
            yield dataclasses.replace(tx, counters=RecordedCounters(tx.counters, mine, self._lock))
        with self._lock:
            self.calls += mine
            self.per_transaction.append(len(mine))

    def applies(self, action: Callable[[], Any]) -> list[int]:
        """The apply calls of each transaction ``action`` opened (those that applied any)."""
        before = len(self.per_transaction)
        action()
        return [count for count in self.per_transaction[before:] if count]
