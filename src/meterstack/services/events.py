"""The request a metered call makes, and the fingerprint its idempotency key keeps (D7).

Metering, its batch, the express lane and the input checks all read the same event; it lives
below them so that none of them imports another for its type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple


class UsageEvent(NamedTuple):
    """One unit of metered work to record: ``quantity`` of ``meter`` for an account.

    A named tuple: every request makes one, and it is made in a fraction of the time of a
    frozen dataclass.
    """

    account_id: str
    meter: str
    quantity: int
    project_id: str | None = None
    idempotency_key: str | None = None
    #: The API key making the request; its own quota on the meter is one more scope (A8).
    api_key_id: str | None = None
    #: Features the request needs (C3): one the account's tier lacks refuses it, counting
    #: nothing.
    requires: Sequence[str] = ()
    #: Run on the customer's own model key (FlowStack's managed-vs-BYOK advice counts these).
    byok: bool = False
    #: The transaction's amount, for a meter priced by ``percentage`` (kept per transaction).
    amount: Decimal | None = None


def request_hash(event: UsageEvent, kind: str) -> str:
    """The fingerprint a key's later requests must match (D7); fields cannot contain US."""
    payload = (
        f"{kind}\x1f{event.meter}\x1f{event.quantity}\x1f{event.project_id or ''}"
        f"\x1f{event.api_key_id or ''}"
    )
    # Fields added later join the fingerprint only when set, so older keys still match.
    if event.byok:
        payload += "\x1fbyok"
    if event.amount is not None:
        payload += f"\x1famount={event.amount.normalize()}"
    return hashlib.sha256(payload.encode()).hexdigest()
