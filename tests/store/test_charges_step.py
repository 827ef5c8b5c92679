"""The charges step (D26) in the store's one call against the rules' statement of it.

A charges step is priced inside ``Counters.apply`` from what the call's first step did; the
rules' ``advance`` prices it the same way on a dictionary of totals. Random consumes past an
overage start, with a bounded charges step, go through both on every backend: the outcomes, the
meter's counter and the charges counter must agree, and the charges must equal the invoice's
overage line as ``rules.rating`` rates it at period close (D1: rounded once, then the minimum).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterstack.catalog.loader import load_catalog
from meterstack.rules.admission import NO_TOTALS, Step, Totals, advance
from meterstack.rules.budget import ZERO, charges_step, lines_delta, meter_lines
from meterstack.rules.rating import rate_usage
from meterstack.store.ports import Admission, Applied, Refused, Store

CATALOG = load_catalog("agentstack").catalog
PLAN = CATALOG.plan("free")
METER = "logic_engine_calls"  # overage $1.00 per 1,000 past 10,000, at least $0.01
_LINES = meter_lines(CATALOG, PLAN, METER)
assert _LINES is not None
LINES = _LINES
OVERAGE_FROM = 10_000


def _invoiced(used: int, overage: int) -> Decimal:
    lines = rate_usage(
        CATALOG, PLAN, {METER: used}, overage=True, recorded_overage={METER: overage}
    )
    return sum((line.amount for line in lines if line.item == METER), ZERO)


def test_d26_d1_the_charges_step_prices_in_sql_as_the_rules_do_and_adds_up_to_the_invoice(
    store: Store,
) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        start=st.integers(9_990, 10_010),
        bound=st.sampled_from([Decimal("0.01"), Decimal("0.02"), Decimal("0.05"), None]),
        quantities=st.lists(st.integers(1, 9), min_size=1, max_size=14),
    )
    def same(start: int, bound: Decimal | None, quantities: list[int]) -> None:
        account = f"acct_{uuid.uuid4().hex[:12]}"
        meter: Totals[Any] = NO_TOTALS
        charges: Totals[Any] = Totals(ZERO, ZERO, ZERO)
        priced = lines_delta(LINES)
        first = Step(METER, "account", "2026-01", start, 0, None, OVERAGE_FROM)
        with store.transaction() as tx:
            opened = tx.counters.apply(Admission.plain(account, (first,)))
            assert isinstance(opened, Applied)
            meter = opened.totals[0]
        for quantity in quantities:
            steps: tuple[Step[Any], ...] = (
                Step(METER, "account", "2026-01", quantity, 0, None, OVERAGE_FROM),
                charges_step("2026-01", bound, ZERO, priced),
            )
            expected = advance(steps, [meter, charges])
            with store.transaction() as tx:
                outcome = tx.counters.apply(Admission.plain(account, steps))
            if isinstance(expected, int):
                assert outcome == Refused(expected, charges if expected else meter)
                continue
            assert isinstance(outcome, Applied)
            assert outcome.totals[0] == expected[0]
            moved = priced(meter, expected[0])
            meter = expected[0]
            if moved:
                assert outcome.totals[1] == expected[1]
                charges = expected[1]
            with store.transaction() as tx:
                stored = tx.counters.totals(account, "charges:period", "account", "2026-01")
            assert Decimal(stored.used).scaleb(-6) == charges.used
        # What the charges counter holds is the invoice's overage line past the opening.
        assert charges.used == _invoiced(meter.used, meter.overage) - _invoiced(
            start, max(0, start - OVERAGE_FROM)
        )
        if bound is not None:
            assert charges.used <= bound

    same()
