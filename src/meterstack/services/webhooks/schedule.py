"""The retry schedule: exponential backoff with deterministic jitter, for at least 3 days (D28).

After the n-th failed attempt (n = 1, 2, …) the next one waits ``min(30 s × 2^(n-1), 12 h)``
plus a jitter of 0 to 25 % of that delay. The jitter spreads retries of many deliveries that
failed together (an endpoint's outage) so they do not come back in one burst; it is computed
from the delivery's id and the attempt number, not drawn at random, so the schedule of a
delivery can be stated and tested exactly. Jitter only lengthens a delay: the base delays alone
add up to more than 3 days by the last attempt, so no delivery gives up sooner.

An attempt is made at once, then 16 retries; the delivery is ``failed`` when the 17th attempt
fails (77 h 3 min 30 s of base delays after the first). A replay starts the schedule afresh.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=12)
MAX_JITTER = 0.25
#: Attempts per delivery (or per replay) before it is failed.
MAX_ATTEMPTS = 17
#: No delivery gives up before this much time after its first attempt.
MINIMUM_SPAN = timedelta(days=3)


def base_delay(failed_attempts: int) -> timedelta:
    """The delay before the next attempt after ``failed_attempts`` failures, without jitter."""
    if failed_attempts < 1:
        raise ValueError("a delay follows at least one failed attempt")
    delay: timedelta = FIRST_DELAY * 2 ** min(failed_attempts - 1, 30)
    return min(delay, MAX_DELAY)


def jitter_share(delivery_id: str, failed_attempts: int) -> float:
    """A fraction in [0, MAX_JITTER), the same for the same delivery and attempt."""
    digest = hashlib.sha256(f"{delivery_id}:{failed_attempts}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * MAX_JITTER


def retry_delay(delivery_id: str, failed_attempts: int) -> timedelta | None:
    """How long to wait before the next attempt; None when the delivery has failed for good."""
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    delay = base_delay(failed_attempts)
    return delay + delay * jitter_share(delivery_id, failed_attempts)


def schedule() -> list[tuple[int, timedelta, timedelta]]:
    """(attempt number, base delay before it, base time since the first) for every retry."""
    rows, since = [], timedelta(0)
    for failed in range(1, MAX_ATTEMPTS):
        delay = base_delay(failed)
        since += delay
        rows.append((failed + 1, delay, since))
    return rows
