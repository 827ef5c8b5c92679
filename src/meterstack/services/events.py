"""The request a metered call makes, and the fingerprint its idempotency key keeps (D7).

Metering, its batch, the express lane and the input checks all read the same event; it lives
below them so that none of them imports another for its type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple


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


#: Fingerprints made lately, by the fields they are made of: a route repeats one request, and
#: a SHA-256 costs more than the rest of its keyed decision's planning. Past this, forgotten.
_MAX_FINGERPRINTS = 4096
_FINGERPRINTS: dict[tuple[Any, ...], str] = {}


def request_hash(event: UsageEvent, kind: str) -> str:
    """The fingerprint a key's later requests must match (D7); fields cannot contain US."""
    fields = (
        kind,
        event.meter,
        event.quantity,
        event.project_id,
        event.api_key_id,
        event.byok,
        event.amount,
    )
    try:
        found = _FINGERPRINTS.get(fields)
    except TypeError:  # a field a door let through unhashable: made, not kept
        return _fingerprint(event, kind)
    if found is None:
        found = _fingerprint(event, kind)
        # Kept only for fields of their own types: True == 1, and a bad request's fingerprint
        # must never answer for a good one's.
        plain = event.amount is None or type(event.amount) is Decimal
        if plain and type(event.quantity) is int and type(event.byok) is bool:
            if len(_FINGERPRINTS) >= _MAX_FINGERPRINTS:
                _FINGERPRINTS.clear()
            _FINGERPRINTS[fields] = found
    return found


def _fingerprint(event: UsageEvent, kind: str) -> str:
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
