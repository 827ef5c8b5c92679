"""Plan changes across tiers and intervals, in money, on SQLite and PostgreSQL (C7, D10, B12, D30):
what each change charges at once, what it credits, when it takes effect, and what the invoices
after it charge, through a whole year of closes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterstack import Engine, ManualClock
from meterstack.records.invoicing import Invoice

EngineFactory = Callable[..., Engine]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
NEXT_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


def _amounts(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in invoice.lines]


def _month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _close_months(engine: Engine, clock: ManualClock, until: datetime) -> list[Invoice]:
    """Run the close at every month start after the clock's now, up to ``until``."""
    closed: list[Invoice] = []
    now = clock.now()
    month = _month_start(now.year, now.month + 1)
    while month <= until:
        clock.set(month)
        closed.extend(engine.close_period())
        month = _month_start(month.year, month.month + 1)
    return closed


def _sums_hold(invoices: list[Invoice]) -> bool:
    return all(
        invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))
        for invoice in invoices
    )


def test_d10_starter_yearly_to_pro_yearly_halfway_pays_the_difference_for_the_rest_of_the_year(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter", interval="yearly")  # $171 for 2026
    halfway = YEAR_START + timedelta(days=182, hours=12)  # 182.5 of 365 days left
    _close_months(engine, clock, halfway)
    clock.set(halfway)

    change = engine.change_plan(account.id, "pro", "yearly")
    year = engine.subscription(account.id).current_period
    rest_of_year = _close_months(engine, clock, NEXT_YEAR)

    assert change.immediate
    assert change.invoice is not None
    # (441 - 171) x 182.5 / 365 days
    assert _amounts(change.invoice) == [("proration", Decimal("135.00"))]
    assert change.invoice.total == Decimal("135.00")
    assert (year.start, year.end) == (YEAR_START, NEXT_YEAR)  # the paid year is kept
    # No month of the year charges anything more; the next year is Pro's, at its renewal.
    (renewal,) = rest_of_year
    assert _amounts(renewal) == [("subscription", Decimal("441.00"))]
    assert renewal.period_key == "2026-12"
    totals = [invoice.total for invoice in engine.invoices(account.id)]
    assert totals == [Decimal("171.00"), Decimal("135.00"), Decimal("441.00")]
    assert _sums_hold(engine.invoices(account.id))


@pytest.mark.parametrize("closed_before_the_change", [True, False])
def test_c7_d10_pro_yearly_to_business_monthly_at_month_3_credits_the_unused_year(
    open_engine: EngineFactory, clock: ManualClock, closed_before_the_change: bool
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="pro", interval="yearly")  # $441 for 2026
    month_3 = datetime(2026, 3, 1, tzinfo=UTC)  # 306 of 365 days of the year left
    if closed_before_the_change:
        _close_months(engine, clock, month_3)
    clock.set(month_3)

    change = engine.change_plan(account.id, "business", "monthly")
    credit_after_change = engine.subscription(account.id).account_credit
    _close_months(engine, clock, datetime(2026, 12, 1, tzinfo=UTC))  # bills December
    invoices = engine.invoices(account.id)
    paid_for_2026 = sum((invoice.total for invoice in invoices), Decimal(0))

    assert change.immediate
    assert engine.subscription(account.id).plan == "business"
    assert change.invoice is not None
    unused = ("unused_time", Decimal("-369.72"))  # 441 x 306 / 365, credited
    if closed_before_the_change:
        # March is charged with the change; what the year leaves over is account credit.
        assert _amounts(change.invoice) == [
            unused,
            ("remaining_time", Decimal("149.00")),
            ("account_credit", Decimal("220.72")),
        ]
        assert credit_after_change == Decimal("220.72")
    else:
        # February's close, still to run, bills March on the plan March starts on.
        assert _amounts(change.invoice) == [unused, ("account_credit", Decimal("369.72"))]
    assert change.invoice.total == Decimal("0.00")
    # The credit pays the next monthly invoices until it is spent; none is lost.
    assert engine.subscription(account.id).account_credit == Decimal("0.00")
    assert any(("account_credit", Decimal("-71.72")) in _amounts(invoice) for invoice in invoices)
    # Two months of Pro at the yearly rate, ten of Business at $149.
    assert paid_for_2026 == Decimal("441.00") - Decimal("369.72") + 10 * Decimal("149.00")
    # Never more than switching optimally: Pro monthly for two months, then Business monthly.
    optimal = 2 * Decimal("49.00") + 10 * Decimal("149.00")
    assert paid_for_2026 <= optimal
    assert _sums_hold(invoices)


def test_d10_starter_monthly_to_pro_yearly_starts_a_year_paid_only_from_the_change(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter")  # $19 a month
    mid_june = datetime(2026, 6, 16, tzinfo=UTC)  # 15 of June's 30 days left
    _close_months(engine, clock, mid_june)
    clock.set(mid_june)

    change = engine.change_plan(account.id, "pro", "yearly")
    year = engine.subscription(account.id).current_period
    closes = _close_months(engine, clock, datetime(2027, 6, 1, tzinfo=UTC))

    assert change.invoice is not None
    left = Decimal((year.end - mid_june).total_seconds()) / Decimal(year.length_seconds)
    assert _amounts(change.invoice) == [
        ("unused_time", Decimal("-9.50")),  # 19 x 15 / 30
        ("remaining_time", (Decimal("441.00") * left).quantize(Decimal("0.01"))),
    ]
    assert (year.start, year.end) == (
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2027, 6, 1, tzinfo=UTC),
    )
    # Nothing is charged in the year's months; the next year at its renewal.
    (renewal,) = closes
    assert (renewal.period_key, _amounts(renewal)) == (
        "2027-05",
        [("subscription", Decimal("441.00"))],
    )
    assert _sums_hold(engine.invoices(account.id))


def test_c7_a_downgrade_from_yearly_to_a_cheaper_monthly_plan_waits_for_the_paid_year(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="pro", interval="yearly")
    clock.set(datetime(2026, 6, 10, tzinfo=UTC))

    change = engine.downgrade(account.id, "starter", "monthly")
    during = _close_months(engine, clock, datetime(2026, 12, 1, tzinfo=UTC))
    clock.set(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    december = engine.subscription(account.id)
    after = _close_months(engine, clock, datetime(2027, 2, 1, tzinfo=UTC))

    assert not change.immediate
    assert change.invoice is None  # not prorated (C7): the paid year is used to its end
    assert change.subscription.pending is not None
    assert change.subscription.pending.effective_at == NEXT_YEAR
    assert during == []
    assert (december.plan, december.billing_interval) == ("pro", "yearly")
    assert [(invoice.period_key, _amounts(invoice)) for invoice in after] == [
        ("2026-12", [("subscription", Decimal("19.00"))]),
        ("2027-01", [("subscription", Decimal("19.00"))]),
    ]
    now = engine.subscription(account.id)
    assert (now.plan, now.billing_interval) == ("starter", "monthly")
    assert (now.current_period.start, now.current_period.end) == (
        datetime(2027, 2, 1, tzinfo=UTC),
        datetime(2027, 3, 1, tzinfo=UTC),
    )
    assert _sums_hold(engine.invoices(account.id))


def test_d10_account_credit_pays_a_later_upgrade_before_anything_is_charged(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter", interval="yearly")
    _close_months(engine, clock, datetime(2026, 2, 1, tzinfo=UTC))
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))  # 334 of 365 days of the year left
    to_monthly = engine.change_plan(account.id, "pro", "monthly")
    credit = engine.subscription(account.id).account_credit
    clock.set(datetime(2026, 2, 15, tzinfo=UTC))  # 14 of February's 28 days left

    to_business = engine.change_plan(account.id, "business")

    assert to_monthly.invoice is not None
    # 171 x 334 / 365 = 156.48 credited; February at 49 charged; 107.48 kept.
    assert _amounts(to_monthly.invoice) == [
        ("unused_time", Decimal("-156.48")),
        ("remaining_time", Decimal("49.00")),
        ("account_credit", Decimal("107.48")),
    ]
    assert credit == Decimal("107.48")
    assert to_business.invoice is not None
    # (149 - 49) x 14 / 28 = 50.00, paid from the credit.
    assert _amounts(to_business.invoice) == [
        ("proration", Decimal("50.00")),
        ("account_credit", Decimal("-50.00")),
    ]
    assert to_business.invoice.total == Decimal("0.00")
    assert engine.subscription(account.id).account_credit == Decimal("57.48")
