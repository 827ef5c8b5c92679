"""Signed deliveries to a real receiver on loopback, retries on the moved clock, replays (D28)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import EngineFactory, Receiver, serving

from meterstack import ManualClock
from meterstack.errors import ConflictError
from meterstack.records.webhooks import DeliveryStatus, WebhookPolicy
from meterstack.services.webhooks.schedule import MAX_ATTEMPTS, MINIMUM_SPAN, retry_delay


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as made:
        yield made


def test_d28_deliveries_to_a_loopback_receiver_verify_with_standardwebhooks(
    open_engine: EngineFactory, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    registered = engine.webhooks.endpoints.create(receiver.url)
    clock.advance(timedelta(hours=1))
    account = engine.create_account(plan="starter")  # its opening invoice
    engine.cancel(account.id)

    report = engine.webhooks.deliver()

    assert (report.attempts, report.succeeded) == (2, 2)
    verifier = Webhook(registered.secret)
    verified = [verifier.verify(request.body, request.headers) for request in receiver.requests]
    assert [body["type"] for body in verified] == ["invoice.created", "subscription.updated"]
    assert all(set(body) == {"id", "type", "timestamp", "data"} for body in verified)
    assert receiver.ids() == [body["id"] for body in verified]
    assert {body["timestamp"] for body in verified} == {"2026-01-01T01:00:00+00:00"}
    created = verified[0]["data"]
    assert created["account_id"] == account.id
    assert (created["invoice"]["total"], created["invoice"]["status"]) == ("28.96", "finalized")
    assert verified[1]["data"]["status"] == "cancelling"
    assert verified[1]["data"]["pending"]["plan"] == "free"
    # The signature covers the body: one changed byte and it no longer verifies.
    tampered = receiver.requests[0].body.replace(b"28.96", b"0.01")
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, receiver.requests[0].headers)
    # The wall clock signs (receivers check it), whatever time the engine's clock says.
    sent_at = int(receiver.requests[0].headers["webhook-timestamp"])
    assert abs(sent_at - datetime.now(UTC).timestamp()) < 120


def test_d28_a_receiver_failing_five_times_gets_the_event_once_it_succeeds(
    open_engine: EngineFactory, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    engine.create_account(plan="starter")
    receiver.script = [(500, b"down", {})] * 5

    waits = []
    for _ in range(6):
        engine.webhooks.deliver()
        (delivery,) = engine.webhooks.deliveries()
        if delivery.next_attempt_at is not None:
            waits.append(delivery.next_attempt_at - clock.now())
            assert engine.webhooks.deliver().attempts == 0  # not due yet: nothing is sent
            clock.set(delivery.next_attempt_at)

    (delivery,) = engine.webhooks.deliveries()
    attempts = engine.webhooks.attempts(delivery.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 6)
    assert [a.status_code for a in attempts] == [500, 500, 500, 500, 500, 200]
    assert [a.succeeded for a in attempts] == [False] * 5 + [True]
    assert attempts[0].response_excerpt == "down"
    assert attempts[0].error == "answered 500"
    assert waits == [retry_delay(delivery.id, n) for n in range(1, 6)]
    assert len(receiver.requests) == 6
    assert len(set(receiver.ids())) == 1  # the same webhook-id on every retry


def test_d28_a_delivery_failing_for_three_days_is_failed_then_replayable(
    open_engine: EngineFactory, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    engine.create_account(plan="starter")
    receiver.default = (503, b"", {})
    first = clock.now()

    for _ in range(MAX_ATTEMPTS):
        assert engine.webhooks.deliver().attempts == 1
        (delivery,) = engine.webhooks.deliveries()
        if delivery.next_attempt_at is not None:
            clock.set(delivery.next_attempt_at)
    last = clock.now()
    (failed,) = engine.webhooks.deliveries(status="failed")
    with pytest.raises(ConflictError):
        engine.webhooks.replay(engine.webhooks.replay(failed.id).id)

    receiver.default = (204, b"", {})
    replayed = engine.webhooks.deliver()

    assert (failed.attempts, failed.next_attempt_at) == (MAX_ATTEMPTS, None)
    assert last - first >= MINIMUM_SPAN
    assert replayed.succeeded == 1
    (delivered,) = engine.webhooks.deliveries()
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.SUCCEEDED, MAX_ATTEMPTS + 1)
    assert len(receiver.requests) == MAX_ATTEMPTS + 1


def test_d28_rotation_signs_with_both_secrets_during_the_overlap(
    open_engine: EngineFactory, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    old = engine.webhooks.endpoints.create(receiver.url, event_types=["subscription.updated"])
    account = engine.create_account(plan="pro")
    rotated = engine.webhooks.endpoints.rotate_secret(old.endpoint.id, overlap=timedelta(hours=2))
    engine.cancel(account.id)
    engine.webhooks.deliver()
    clock.advance(timedelta(hours=2))
    engine.resume(account.id)
    engine.webhooks.deliver()

    during, after = receiver.requests
    assert rotated.previous_expires_at == datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old.secret, rotated.secret):
        assert Webhook(secret).verify(during.body, during.headers)["type"] == "subscription.updated"
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(rotated.secret).verify(after.body, after.headers)["data"]["change"] == "resumed"
    with pytest.raises(WebhookVerificationError):
        Webhook(old.secret).verify(after.body, after.headers)


def test_d28_redirects_are_not_followed(
    open_engine: EngineFactory, clock: ManualClock, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    engine.create_account(plan="starter")
    receiver.default = (307, b"", {"location": receiver.url + "/elsewhere"})

    report = engine.webhooks.deliver()

    (delivery,) = engine.webhooks.deliveries()
    (attempt,) = engine.webhooks.attempts(delivery.id)
    assert (report.attempts, report.retrying) == (1, 1)
    assert [request.path for request in receiver.requests] == ["/hooks"]
    assert attempt.status_code == 307
    assert attempt.error is not None
    assert "not followed" in attempt.error


def test_d28_answers_are_read_up_to_64_kib_and_slow_ones_time_out(
    open_engine: EngineFactory, receiver: Receiver
) -> None:
    engine = open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    engine.create_account(plan="starter")
    receiver.default = (200, b"x" * (1 << 20), {})

    assert engine.webhooks.deliver().succeeded == 1
    (delivery,) = engine.webhooks.deliveries()
    (attempt,) = engine.webhooks.attempts(delivery.id)
    assert attempt.response_excerpt == "x" * 1024


def test_d28_a_slow_receiver_times_out_and_is_retried(
    open_engine: EngineFactory, receiver: Receiver
) -> None:
    engine = open_engine("agentstack", webhooks=WebhookPolicy(timeout=0.3))
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    engine.create_account(plan="starter")
    receiver.hold = threading.Event()  # the receiver answers only when released

    report = engine.webhooks.deliver()
    receiver.hold.set()

    (delivery,) = engine.webhooks.deliveries()
    (attempt,) = engine.webhooks.attempts(delivery.id)
    assert report.retrying == 1
    assert attempt.status_code is None
    assert attempt.error is not None
    assert "Timeout" in attempt.error
    assert attempt.duration_ms < 5000


def test_d28_two_workers_racing_deliver_each_attempt_once(
    open_engine: EngineFactory, receiver: Receiver
) -> None:
    engine, other = open_engine("agentstack"), open_engine("agentstack")
    engine.webhooks.endpoints.create(receiver.url, event_types=["invoice.created"])
    for _ in range(40):
        engine.create_account(plan="starter")
    workers = [engine.webhooks.worker(name="one"), other.webhooks.worker(name="two")]
    start = threading.Barrier(2)
    done: list[int] = []

    def work(index: int) -> None:
        start.wait()
        done.append(workers[index].run_once().attempts)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for worker in workers:
        worker.close()

    deliveries = engine.webhooks.deliveries()
    attempts = [a for d in deliveries for a in engine.webhooks.attempts(d.id)]
    assert sum(done) == 40
    assert sorted(receiver.ids()) == sorted({*receiver.ids()})
    assert len(receiver.ids()) == 40
    assert {d.status for d in deliveries} == {DeliveryStatus.SUCCEEDED}
    assert [a.number for a in attempts] == [1] * 40
