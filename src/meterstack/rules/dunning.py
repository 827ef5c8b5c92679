"""Dunning's schedule (D29): when a failed invoice is tried again, and when trying stops.

A collection's first attempt is made when the invoice is due; if it fails, the subscription is
past due (access kept, with a warning) and the invoice is tried again 3, 5 and 7 days after that
first failure (``# assumption`` in SPEC.md: the seeds give no schedule). When the last retry
fails too, the account moves to the catalog's fallback plan until the invoice is paid. Pure: the
caller gives every instant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: Days after the first failure on which the invoice is tried again (D29, ``# assumption``).
RETRY_DAYS: tuple[int, ...] = (3, 5, 7)
#: The first attempt and one per retry.
LAST_ATTEMPT = 1 + len(RETRY_DAYS)


def retry_at(first_failed_at: datetime, failed_attempt: int) -> datetime | None:
    """When the attempt after ``failed_attempt`` is due; None when that was the last one.

    Retries are counted from the first failure, not from each other, so an attempt made late
    (a runner that was down) does not push the ones after it back.
    """
    if failed_attempt < 1:
        raise ValueError(f"attempts are numbered from 1, got {failed_attempt}")
    if failed_attempt >= LAST_ATTEMPT:
        return None
    return first_failed_at + timedelta(days=RETRY_DAYS[failed_attempt - 1])


def exhausted(failed_attempt: int) -> bool:
    """Whether the failure of ``failed_attempt`` ends dunning: the account falls back."""
    return failed_attempt >= LAST_ATTEMPT
