"""What is left of a limit: the figures of FlowStack's usage object (C4), defined once.

Every figure counts open holds beside committed units (D6): a unit held by a request in flight
occupies the limit as much as a used one, so 24 used and 1 held of 25 leave 0. Whether a next
request can be made looks at the hard limit, not the limit: inside a grace zone requests still
succeed (B7), and with overage on they go on past it (A5). The engine's decisions, the usage
report, ``/api/billing/usage`` and the SDK's usage object all take their figures from here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_HUNDREDTH = Decimal("0.01")


def remaining_units(counted: int, limit: int | None) -> int | None:
    """Units left under ``limit`` once ``counted`` (used + held) are taken; never negative,
    None when unlimited."""
    if limit is None:
        return None
    return max(0, limit - counted)


def usage_percent(counted: int, limit: int | None) -> Decimal | None:
    """``counted`` as a percentage of ``limit``, two places, half up; 100.00 on a zero limit,
    None when unlimited."""
    if limit is None:
        return None
    if limit == 0:
        return Decimal("100.00")
    return (Decimal(counted) * 100 / limit).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def is_near_limit(counted: int, limit: int | None, near_limit_percent: Decimal) -> bool:
    """Whether ``counted`` is at or past the catalog's near-limit share of ``limit`` (C4)."""
    return limit is not None and counted * 100 >= limit * near_limit_percent


def can_make_requests(counted: int, hard_limit: int | None, overage_on: bool) -> bool:
    """Whether one more unit would be admitted: below the hard limit (the limit plus its grace
    zone, B7), or past it with overage on (A5); always when there is no bound."""
    return hard_limit is None or overage_on or counted < hard_limit
