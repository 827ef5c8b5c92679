"""The request a metered call makes, and the fingerprint its idempotency key keeps (D7).

Metering, its batch, the express lane and the input checks all read the same event; it lives
below them so that none of them imports another for its type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
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


class Fingerprints:
    """Fingerprints (D7) made lately, by the fields they are made of: a route repeats one
    request, and a SHA-256 costs more than the rest of a keyed decision's planning. Past
    ``limit`` of them, forgotten."""

    def __init__(self, limit: int = 4096) -> None:
        self._made: dict[tuple[Any, ...], str] = {}
        self._limit = limit

    def of(self, fields: tuple[Any, ...], plain: bool, make: Callable[[], str]) -> str:
        """The fingerprint of ``fields``, made by ``make`` the first time. Fields that are not
        ``plain`` (of their own types, hashable, and each equal only to values that read the
        same: True == 1, Decimal("1.0") == Decimal("1.00")) are made every time, never kept."""
        if not plain:
            return make()
        found = self._made.get(fields)
        if found is None:
            found = make()
            if len(self._made) >= self._limit:
                self._made.clear()
            self._made[fields] = found
        return found


_FINGERPRINTS = Fingerprints()


def request_hash(event: UsageEvent, kind: str) -> str:
    """The fingerprint a key's later requests must match (D7); fields cannot contain US."""
    # Plain fields: texts, a whole quantity, a flag, an amount (normalized: equal amounts read
    # the same).
    plain = (
        type(event.quantity) is int
        and type(event.byok) is bool
        and type(event.meter) is str
        and type(event.project_id) in _TEXT
        and type(event.api_key_id) in _TEXT
        and (event.amount is None or type(event.amount) is Decimal)
    )
    return _FINGERPRINTS.of(
        (
            kind,
            event.meter,
            event.quantity,
            event.project_id,
            event.api_key_id,
            event.byok,
            event.amount,
        ),
        plain,
        lambda: _fingerprint(event, kind),
    )


#: The types of an optional text field.
_TEXT = (str, type(None))


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
