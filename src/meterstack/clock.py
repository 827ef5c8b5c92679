"""Time, injected: every component reads one clock object (ARCHITECTURE: time is injected).

A test or a user's simulation moves accounts through months with :class:`ManualClock`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

#: How far ahead of the real time a test-mode clock may be moved.
TEST_MODE_HORIZON = timedelta(days=36525)  # 100 years of 365.25 days


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; safe to share between threads."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware(start or datetime(2026, 1, 1, tzinfo=UTC))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not move backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> datetime:
        instant = _aware(instant)
        with self._lock:
            if instant < self._now:
                raise ValueError("a clock does not move backwards")
            self._now = instant
            return self._now


class TestModeClock(ManualClock):
    """The manual clock of a service started in test mode (``meterstack serve --test-mode``).

    It moves only forwards and at most :data:`TEST_MODE_HORIZON` ahead of the real time: past
    that, periods, expiries and retention windows would reach the end of the calendar (year
    9999) and every later call would fail.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, start: datetime | None = None, real: Clock | None = None) -> None:
        self._real = real or SystemClock()
        super().__init__(start or self._real.now())

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not move backwards")
        try:
            return self.set(self.now() + delta)
        except OverflowError:
            raise ValueError(self._beyond_horizon()) from None

    def set(self, instant: datetime) -> datetime:
        if _aware(instant) > self._real.now() + TEST_MODE_HORIZON:
            raise ValueError(self._beyond_horizon())
        return super().set(instant)

    def _beyond_horizon(self) -> str:
        limit = (self._real.now() + TEST_MODE_HORIZON).date().isoformat()
        return f"the test-mode clock goes at most 100 years ahead of the real time ({limit})"


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("clock instants must be timezone-aware (UTC)")
    return instant.astimezone(UTC)
