"""The usage object's figures (C4), defined once in ``rules.headroom``, against admission."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterstack.rules.admission import Step, Totals, advance
from meterstack.rules.headroom import can_make_requests, remaining_units, usage_percent
from meterstack.rules.terms import hard_limit


@pytest.mark.parametrize(
    ("used", "held", "limit", "remaining", "percent"),
    [
        (24, 1, 25, 0, "100.00"),  # a request in flight occupies the last session
        (20, 0, 25, 5, "80.00"),
        (50_100, 0, 50_000, 0, "100.20"),
        (1, 0, 800, 799, "0.13"),  # half up
        (0, 0, 0, 0, "100.00"),
        (7, 3, None, None, None),
    ],
)
def test_c4_remaining_and_percentage_count_open_holds(
    used: int, held: int, limit: int | None, remaining: int | None, percent: str | None
) -> None:
    assert remaining_units(used + held, limit) == remaining
    assert usage_percent(used + held, limit) == (None if percent is None else Decimal(percent))


@given(
    used=st.integers(0, 80),
    held=st.integers(0, 10),
    limit=st.one_of(st.none(), st.integers(0, 60)),
    grace=st.sampled_from([Decimal(0), Decimal(10), Decimal(15), Decimal("33.3")]),
    overage_on=st.booleans(),
)
def test_c4_can_make_requests_exactly_when_admission_would_admit_one_more_unit(
    used: int, held: int, limit: int | None, grace: Decimal, overage_on: bool
) -> None:
    """The grace zone (B7) and overage (A5) keep requests possible past the limit; holds
    (D6) take room like used units."""
    hard = hard_limit(limit, grace)
    overage_on = overage_on and limit is not None
    step = Step("sessions", "account", "2026-01", 1, 0, None if overage_on else hard)

    admitted = not isinstance(advance([step], [Totals(used, held, 0)]), int)

    assert can_make_requests(used + held, hard, overage_on) is admitted
