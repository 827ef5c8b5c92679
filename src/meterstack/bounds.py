"""The largest numbers meterstack accepts, in one place, so that every sum fits the store.

Counters, limits and hard limits are stored as signed 64-bit integers (at most 2^63 − 1, about
9.2 × 10^18). With quantities and limits at most 10^15 and grace at most 1000 %, a hard limit is
at most 1.1 × 10^16 and a counter plus one more quantity stays far below the store's range, even
with many packs on top; a value past these bounds is refused as bad input instead of failing
in the database (PostgreSQL) or silently turning into a float (SQLite).

Money is Decimal with 28 significant digits (the default context) and is stored as text of at
most 40 characters. A whole amount (a fee, a pack, a minimum, a deposit) is at most 10^12 and a
price per unit at most 10^6: a period's usage up to the store's counter range at that unit price
is at most about 9.2 × 10^24, which with its cents still fits 28 digits, so rating never fails.
"""

from __future__ import annotations

import re
from decimal import Decimal

from meterstack.errors import InvalidInputError, OutOfRangeError

#: Largest quantity of one request, limit, pack, key quota or tier bound (units or bytes).
MAX_QUANTITY = 10**15
#: Largest grace above a limit, in percent (B7, D5): a hard limit at most 11 x the limit.
MAX_GRACE_PERCENT = 1000
#: The store's counter range: a signed 64-bit integer.
MAX_COUNTER = 2**63 - 1
#: Largest whole amount of money a catalog or an operator may state (a fee, a pack price…).
MAX_AMOUNT = Decimal(10**12)
#: Largest price of one unit (a unit price, a per-block price divided by its block).
MAX_UNIT_PRICE = Decimal(10**6)
#: Largest catalog version number (stored as a 32-bit integer).
MAX_CATALOG_VERSION = 2**31 - 1
#: The longest hold or lease anyone may ask for (a year); meters and items cap it lower.
MAX_TTL_SECONDS = 366 * 24 * 3600
#: Largest page number of a paged list: with a page of at most a few hundred entries, its
#: offset stays far inside the store's 64-bit range.
MAX_PAGE_NUMBER = 10**9
#: Largest position a page cursor (``before``) may name: the store's row ids are 64-bit.
MAX_CURSOR = MAX_COUNTER


def check_range(name: str, value: int, low: int, high: int = MAX_QUANTITY) -> None:
    """Refuse ``value`` outside ``low``…``high`` with :class:`OutOfRangeError` (422)."""
    if not low <= value <= high:
        raise OutOfRangeError(
            f"{name} must be at least {low:,} and at most {high:,}"
            + (" (10^15)" if high == MAX_QUANTITY else "")
            + f", got {value:,}",
            field=name,
            value=str(value)[:40],
        )


#: A whole number as text: ASCII digits only (``str.isdigit`` also takes ``²`` and ``①``,
#: which ``int`` then refuses, and ``int`` takes ``٣`` and ``1_000``).
_WHOLE = re.compile(r"[0-9]+")
#: Digits past this many are refused before ``int`` reads them (no bound needs more).
_MOST_DIGITS = 30


def whole_number(text: str, name: str, *, low: int = 0, high: int = MAX_QUANTITY) -> int:
    """A whole number a person typed or a caller sent as text (a form field, a query
    parameter, a command-line argument, a page cursor), from ``low`` to ``high``.

    Every door reads whole numbers from text through this one function, so that each refuses
    the same inputs in the same words: anything but ASCII digits is :class:`InvalidInputError`,
    a number outside the bounds :class:`OutOfRangeError` (both 422), never a ``ValueError`` from
    ``int`` or a number too large for the store.
    """
    if len(text) > _MOST_DIGITS or not _WHOLE.fullmatch(text):
        shown = text if len(text) <= 40 else f"{text[:40]}…"
        raise InvalidInputError(
            f"{name} must be a whole number from {low:,} to {high:,} in digits 0-9, got {shown!r}",
            field=name,
        )
    value = int(text)
    check_range(name, value, low, high)
    return value


def page_cursor(text: object) -> int:
    """A ``before`` cursor of a paged list (the ``next_before`` of the previous page): the
    position of a row, as text."""
    if not isinstance(text, str):
        raise InvalidInputError("before must be a page cursor", field="before")
    return whole_number(text, "before", high=MAX_CURSOR)
