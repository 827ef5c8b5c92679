"""Runners coordinate through the database (D29): one attempt however many run, and an
attempt's idempotency key is never given to another attempt."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from meterstack import Engine, ManualClock
from meterstack.records.collections import AttemptStatus, CollectionStatus
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import (
    INVOICE_PAYMENT_FAILED,
    PENDING_REASON,
    Collected,
    PaymentEvent,
    attempt_key,
)
from meterstack.services.collections.service import LEASE
from meterstack.services.payments.local import LocalProvider

EngineFactory = Callable[..., Engine]
JAN = datetime(2026, 1, 1, tzinfo=UTC)


class CountingProvider(LocalProvider):
    """The local provider, counting every call of the collector (a second call of one key
    would charge nothing twice here, so the count is what proves one attempt)."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.calls: list[str] = []
        self.during: Callable[[], None] | None = None
        self._calls_lock = threading.Lock()

    def collect_invoice(self, invoice: Invoice, attempt: int) -> Collected:
        assert invoice.number is not None
        with self._calls_lock:
            self.calls.append(attempt_key(invoice.number, attempt))
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return super().collect_invoice(invoice, attempt)


class RunnerDied(BaseException):
    """A runner's process ending mid-attempt (not an error the runner handles)."""


def test_d29_a_runner_finds_an_attempt_another_runner_is_making_leased(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = CountingProvider()
    first = open_engine("aerostack", provider=provider)
    second = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = first.create_account(plan="pro")
    overlapping: list[int] = []
    # While the first runner waits for the provider, a second server's runner makes a pass.
    provider.during = lambda: overlapping.append(second.collections.run().attempted)

    report = first.collections.run()

    assert overlapping == [0]
    assert report.paid == 1
    assert len(provider.calls) == 1
    (view,) = first.collections.of_account(account.id)
    assert [a.number for a in view.attempts] == [1]


def test_d29_two_concurrent_runners_make_each_attempt_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = CountingProvider(decline_collections=True)
    engines = [open_engine("aerostack", provider=provider) for _ in range(2)]
    clock.set(JAN)
    accounts = [engines[0].create_account(plan="pro").id for _ in range(12)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def runner(engine: Engine) -> None:
        try:
            start.wait()
            engine.collections.run()
        except BaseException as error:  # surfaced below
            errors.append(error)

    for day in (0, 3):
        clock.set(JAN + timedelta(days=day))
        threads = [threading.Thread(target=runner, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        start.reset()

    assert errors == []
    # Two rounds (the first attempt, the retry on day 3), one call per invoice each.
    assert len(provider.calls) == len(set(provider.calls)) == 2 * len(accounts)
    for account_id in accounts:
        (view,) = engines[1].collections.of_account(account_id)
        assert view.collection.status is CollectionStatus.PAST_DUE
        assert [(a.number, a.status) for a in view.attempts] == [
            (1, AttemptStatus.FAILED),
            (2, AttemptStatus.FAILED),
        ]


def test_d29_an_attempt_left_unanswered_is_asked_again_under_its_own_key(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = CountingProvider()
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="pro")

    def die() -> None:
        raise RunnerDied

    provider.during = die
    with pytest.raises(RunnerDied):
        engine.collections.run()
    # Its lease still holds: nobody else asks meanwhile.
    assert engine.collections.run().attempted == 0
    clock.advance(LEASE + timedelta(seconds=1))
    report = engine.collections.run()

    (view,) = engine.collections.of_account(account.id)
    key = attempt_key(view.collection.invoice_number, 1)
    assert report.paid == 1
    assert provider.calls == [key, key]
    assert [(a.number, a.key, a.status) for a in view.attempts] == [(1, key, AttemptStatus.PAID)]
    assert list(provider.collections) == [key]


def test_d29_every_attempt_of_a_dunning_run_has_a_key_of_its_own(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = CountingProvider(decline_collections=True)
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="pro")
    for day in (0, 3, 5, 7):
        clock.set(JAN + timedelta(days=day))
        engine.collections.run()
    provider.decline_collections = False
    number = engine.invoices(account.id)[0].number
    assert number is not None
    engine.collections.collect(number)

    (view,) = engine.collections.of_account(account.id)
    keys = [attempt.key for attempt in view.attempts]
    assert [attempt.number for attempt in view.attempts] == [1, 2, 3, 4, 5]
    assert keys == [attempt_key(number, n) for n in range(1, 6)]
    assert provider.calls == keys
    assert sorted(provider.collection_requests) == sorted(keys)
    assert [provider.collections[key].paid for key in keys] == [False] * 4 + [True]


class LaterProvider(CountingProvider):
    """A provider that learns outcomes later and reports them as events, as Stripe does."""

    def collect_invoice(self, invoice: Invoice, attempt: int) -> Collected:
        assert invoice.number is not None
        self.calls.append(attempt_key(invoice.number, attempt))
        return Collected(False, attempt_key(invoice.number, attempt), PENDING_REASON)


def test_d29_an_outcome_reported_later_by_event_drives_dunning(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LaterProvider()
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="pro")

    report = engine.collections.run()
    (view,) = engine.collections.of_account(account.id)
    number = view.collection.invoice_number
    failed = PaymentEvent(
        "evt_f1",
        INVOICE_PAYMENT_FAILED,
        {"invoice_number": number, "attempt": 1, "reason": "insufficient_funds"},
    )
    outcome = engine.apply_payment_event(failed)
    engine.apply_payment_event(failed)
    (after,) = engine.collections.of_account(account.id)

    assert (report.attempted, report.pending) == (1, 1)
    assert [a.status for a in view.attempts] == [AttemptStatus.PENDING]
    assert outcome.applied
    assert after.collection.status is CollectionStatus.PAST_DUE
    assert after.collection.next_attempt_at == JAN + timedelta(days=3)
    assert [(a.status, a.reason) for a in after.attempts] == [
        (AttemptStatus.FAILED, "insufficient_funds")
    ]
    assert engine.subscription(account.id).status == "past_due"
    # Settled by the event: it is not asked again before the retry is due.
    clock.set(JAN + timedelta(hours=2))
    assert engine.collections.run().attempted == 0
    assert provider.calls == [attempt_key(number, 1)]
