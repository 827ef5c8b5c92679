"""The stored form of a decision (D7): what a replay returns is what was decided."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterstack.rules.decisions import Decision, DecisionCode

AS_OF = datetime(2026, 11, 23, 14, 51, 1, 443211, tzinfo=UTC)


def _admitted(**changes: object) -> Decision:
    decision = Decision(
        allowed=True,
        code=DecisionCode.OK,
        http_status=200,
        meter="api_calls",
        quantity=1,
        used=1,
        held=0,
        limit=2_000_000,
        hard_limit=2_000_000,
        remaining=1_999_999,
        overage_units=0,
        warnings=(),
        as_of=AS_OF,
        period="2026-11",
        scope="account",
        message="admitted",
        period_end=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return decision.but(**changes)


@given(
    used=st.integers(min_value=0, max_value=10**15),
    limit=st.none() | st.integers(min_value=0, max_value=10**15),
    warnings=st.lists(st.sampled_from(["near_limit", "grace", "overage"]), max_size=3),
    reservation_id=st.none() | st.text(min_size=1, max_size=40),
    extra=st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=3),
    period_end=st.none() | st.just(datetime(2027, 1, 1, tzinfo=UTC)),
    code=st.sampled_from(list(DecisionCode)),
)
def test_d7_a_stored_decision_decodes_to_the_same_decision(
    used: int,
    limit: int | None,
    warnings: list[str],
    reservation_id: str | None,
    extra: dict[str, object],
    period_end: datetime | None,
    code: DecisionCode,
) -> None:
    decision = _admitted(
        used=used,
        limit=limit,
        hard_limit=limit,
        remaining=None if limit is None else max(0, limit - used),
        warnings=tuple(warnings),
        reservation_id=reservation_id,
        extra=extra,
        period_end=period_end,
        code=code,
    )

    stored = decision.encode()

    assert Decision.decode(stored) == decision
    assert Decision.decode(stored.encode()) == decision
    assert Decision.decode(stored, replayed=True) == decision.but(replayed=True)


def test_d7_the_stored_form_is_a_compact_array() -> None:
    decision = _admitted()

    stored = decision.encode()

    assert isinstance(json.loads(stored), list)
    assert len(stored) < len(json.dumps(decision.to_dict(), separators=(",", ":"))) * 0.6


@pytest.mark.parametrize(
    "older",
    [
        # Records written as an object of every field, and as ``to_dict`` JSON before that.
        msgspec.json.encode(msgspec.structs.asdict(_admitted(extra={"excess_units": 2}))),
        json.dumps(_admitted(extra={"excess_units": 2}).to_dict()),
    ],
)
def test_d7_decisions_stored_by_older_versions_still_replay(older: str | bytes) -> None:
    assert Decision.decode(older) == _admitted(extra={"excess_units": 2})
