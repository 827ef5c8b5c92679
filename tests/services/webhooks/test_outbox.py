"""The outbox: events commit with their cause, survive a killed process, follow the catalogue
(D28)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from webhook_receiver import EngineFactory, Receiver, StoreOf, serving

from meterstack import ManualClock
from meterstack.errors import ConflictError, InvalidInputError
from meterstack.services.webhooks.catalogue import CATALOGUE, EVENT_TYPES
from meterstack.services.webhooks.outbox import publish

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"

_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from meterstack import Engine, ManualClock

    url, account, start, what = sys.argv[1:5]
    clock = ManualClock(datetime.fromisoformat(start))
    engine = Engine.open(url, catalog="agentstack", clock=clock)
    if what == "cancel":
        engine.cancel(account)
        print("committed", flush=True)
    else:
        print("delivering", flush=True)
        engine.webhooks.deliver()
    sys.stdin.read()  # wait to be killed
    """
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as made:
        yield made


def _child(store_url: str, account_id: str, clock: ManualClock, what: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, store_url, account_id, clock.now().isoformat(), what],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            pipe.close()


def test_d28_an_event_committed_by_a_killed_process_is_delivered_after_restart(
    open_engine: EngineFactory, store_url: str, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    registered = engine.webhooks.endpoints.create(
        receiver.url, event_types=["subscription.updated"]
    )
    account = engine.create_account(plan="pro")

    child = _child(store_url, account.id, clock, "cancel")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "committed"
    _kill(child)  # committed, never delivered
    report = engine.webhooks.deliver()

    (request,) = receiver.requests
    body = Webhook(registered.secret).verify(request.body, request.headers)
    assert report.succeeded == 1
    assert (body["type"], body["data"]["change"]) == ("subscription.updated", "cancel_scheduled")


def test_d28_a_worker_killed_mid_send_leaves_a_lease_that_lapses(
    open_engine: EngineFactory, store_url: str, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["subscription.updated"])
    account = engine.create_account(plan="pro")
    engine.cancel(account.id)
    receiver.hold = threading.Event()

    child = _child(store_url, account.id, clock, "deliver")
    assert receiver.arrived.wait(30)  # the child's request is at the receiver
    _kill(child)
    receiver.hold.set()
    held = engine.webhooks.deliver()
    clock.advance(timedelta(hours=1))  # past the dead worker's lease
    retried = engine.webhooks.deliver()

    (delivery,) = engine.webhooks.deliveries()
    assert (held.attempts, retried.succeeded) == (0, 1)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert [a.number for a in engine.webhooks.attempts(delivery.id)] == [2]
    assert len(set(receiver.ids())) == 1  # the same event, twice: at least once
    assert len(receiver.requests) == 2


def test_d28_an_event_rolls_back_with_its_cause(
    open_engine: EngineFactory, store_of: StoreOf
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    before = engine.webhooks.events(account_id=account.id)

    def cause_that_fails() -> None:
        with store_of(engine).transaction() as tx:
            publish(
                tx,
                "usage.limit_reached",
                account.id,
                {"meter": "api_calls", "used": 5, "limit": 5, "period": "2026-01"},
                at=engine.clock.now(),
            )
            raise RuntimeError("the cause failed")

    with pytest.raises(RuntimeError):
        cause_that_fails()
    with pytest.raises(InvalidInputError):
        engine.change_plan(account.id, "gold")

    assert engine.webhooks.events(account_id=account.id) == before


def test_d28_payloads_are_checked_against_the_catalogue(
    open_engine: EngineFactory, store_of: StoreOf
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    now = engine.clock.now()
    with store_of(engine).transaction() as tx:
        with pytest.raises(InvalidInputError, match=r"unknown event type 'invoice\.lost'"):
            publish(tx, "invoice.lost", account.id, {}, at=now)
        with pytest.raises(InvalidInputError, match=r"invalid usage\.limit_reached payload"):
            publish(tx, "usage.limit_reached", account.id, {"meter": "api_calls"}, at=now)
        with pytest.raises(InvalidInputError, match="names account"):
            publish(
                tx, "wallet.low_balance", account.id, {**_example("wallet.low_balance")}, at=now
            )
        written = publish(
            tx,
            "wallet.low_balance",
            account.id,
            {"balance": "4.75", "threshold": "5.00", "currency": "USD"},
            at=now,
        )

    (stored,) = engine.webhooks.events(event_type="wallet.low_balance")
    assert stored == written
    assert stored.body == (
        f'{{"id":"{written.id}","type":"wallet.low_balance","timestamp":"2026-01-01T00:00:00+00:00",'
        f'"data":{{"account_id":"{account.id}","balance":"4.75","threshold":"5.00",'
        '"currency":"USD"}}'
    )


def _example(event_type: str) -> dict[str, object]:
    return dict(CATALOGUE[event_type].example)


def test_d28_every_catalogue_example_fits_its_schema_and_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert len(EVENT_TYPES) >= 9
    for event_type, spec in CATALOGUE.items():
        spec.payload.model_validate(spec.example)
        assert f"`{event_type}`" in docs, event_type


def test_d28_billing_services_announce_invoices_and_subscription_changes(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # opening invoice
    engine.pay_invoice(engine.invoices(account.id)[0].number or "")
    engine.change_plan(account.id, "pro")  # upgrade: proration invoice
    engine.change_plan(account.id, "basic")  # downgrade at period end
    engine.resume(account.id)
    with pytest.raises(ConflictError):  # nothing waits: refused, nothing to announce
        engine.resume(account.id)
    engine.cancel(account.id)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    engine.close_period()  # the cancellation applies, then the period's invoice

    events = sorted(engine.webhooks.events(account_id=account.id), key=lambda e: e.id)
    bodies = [engine.webhooks.event(e.id).body for e in events]
    changes = [b.split('"change":"')[1].split('"')[0] for b in bodies if "subscription" in b]
    assert [e.type for e in events] == [
        "invoice.created",
        "invoice.paid",
        "invoice.created",
        "subscription.updated",
        "subscription.updated",
        "subscription.updated",
        "subscription.updated",
        "subscription.updated",
        "invoice.created",
    ]
    assert changes == [
        "upgraded",
        "downgrade_scheduled",
        "resumed",
        "cancel_scheduled",
        "cancelled",
    ]
    assert events[-2].occurred_at == datetime(2026, 2, 1, tzinfo=UTC)
