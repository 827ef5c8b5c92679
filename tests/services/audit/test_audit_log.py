"""The audit log through the engine (the Python door), on every backend: one entry per change,
in the change's own transaction, with who, when, before and after; none for a change that fails,
rolls back or replays; read back newest first by account and kind, a page at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from meterstack import Actor, Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.records.audit import AuditEntry
from meterstack.records.payments import PaymentEvent
from meterstack.services.payments.local import LocalProvider
from meterstack.store.ports import Store, UnitOfWork
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
PUBLIC = "http://127.0.0.1:8000"


def entries(engine: Engine, account_id: str, kind: str | None = None) -> list[AuditEntry]:
    """Every entry of the account, newest first, read page after page."""
    found: list[AuditEntry] = []
    before = None
    while True:
        page = engine.audit(account_id=account_id, kind=kind, before=before, limit=200)
        found.extend(page.entries)
        if page.next_before is None:
            return found
        before = page.next_before


def test_a_python_change_writes_one_entry_with_before_after_and_the_clock(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    clock.advance(timedelta(hours=3))
    known = len(entries(engine, account.id))

    engine.set_limit(account.id, "api_calls", 9000, grace=5)

    found = entries(engine, account.id)
    assert len(found) == known + 1
    entry = found[0]
    assert (entry.kind, entry.account_id) == ("limit.set", account.id)
    assert entry.actor == Actor("python")
    assert entry.reason is None
    assert entry.at == clock.now()
    assert entry.before == {"item": "api_calls", "project_id": None, "override": None}
    assert entry.after == {
        "item": "api_calls",
        "project_id": None,
        "override": {"limit": 9000, "grace_percent": "5"},
    }

    engine.set_limit(account.id, "api_calls", 12000, actor=Actor.operator("support", "ticket 4"))
    again = entries(engine, account.id)[0]
    assert again.before == entry.after, "the next change starts where the last one ended"
    assert again.after is not None
    assert again.after["override"]["limit"] == 12000
    assert (again.actor.kind, again.actor.id, again.reason) == ("operator", "support", "ticket 4")


def test_each_kind_of_change_records_its_kind(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack", provider=LocalProvider(PUBLIC))
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True, meter="api_calls")
    engine.set_feature(account.id, "audit_logs", True)
    engine.set_price(account.id, monthly=Decimal("20.00"))
    engine.set_limit(account.id, "api_calls", 1)
    engine.clear_limit(account.id, "api_calls")
    engine.grant_pack(account.id, engine.pack_for(account.id, "api_calls", "small"))
    engine.buy_pack(account.id, engine.pack_for(account.id, "api_calls", "small"))
    key = engine.create_api_key(account.id)
    engine.revoke_api_key(key.id)
    engine.change_plan(account.id, "pro")
    engine.cancel(account.id)
    engine.resume(account.id)
    open_invoice = next(i for i in engine.invoices(account.id) if i.status == "finalized")
    assert open_invoice.number is not None
    engine.mark_uncollectible(open_invoice.number)

    kinds = [entry.kind for entry in reversed(entries(engine, account.id))]
    assert kinds == [
        "account.created",
        "overage.switched",
        "feature.set",
        "price.set",
        "limit.set",
        "limit.cleared",
        "pack.granted",
        "pack.bought",
        "key.created",
        "key.revoked",
        "plan.changed",
        "subscription.cancelled",
        "subscription.resumed",
        "invoice.uncollectible",
    ]
    bought = entries(engine, account.id, "pack.bought")[0]
    assert bought.before is not None
    assert bought.after is not None
    assert bought.after["limit"] > bought.before["limit"]
    assert bought.after["invoice"].startswith("INV-")
    changed = entries(engine, account.id, "plan.changed")[0]
    assert changed.before is not None
    assert changed.after is not None
    assert (changed.before["plan"], changed.after["plan"]) == ("starter", "pro")
    price = entries(engine, account.id, "price.set")[0]
    assert price.before == {"target": "fee", "price": None}
    assert price.after == {"target": "fee", "price": {"monthly": "20.00", "yearly": None}}


class AuditThatFails:
    """The audit port, failing right after its write: the change before it must roll back."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def append(self, entry: AuditEntry) -> None:
        self.inner.append(entry)
        raise RuntimeError("the audit write failed (test)")

    def entries(self, **query: Any) -> Any:
        return self.inner.entries(**query)


class StoreWithFailingAudit:
    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.failing = False

    @property
    def backend(self) -> str:
        return self.inner.backend

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self.inner.transaction() as tx:
            yield dataclasses.replace(tx, audit=AuditThatFails(tx.audit)) if self.failing else tx

    def close(self) -> None:
        self.inner.close()


def test_the_entry_and_its_change_commit_together_or_not_at_all(
    store_url: str, clock: ManualClock
) -> None:
    store = StoreWithFailingAudit(SqlStore(store_url))
    wrapped: Store = store
    engine = Engine.on(wrapped, catalog=load_catalog("agentstack"), clock=clock)
    try:
        account = engine.create_account(plan="starter")
        before = engine.entitlements(account.id).limits["api_calls"].limit
        known = entries(engine, account.id)

        store.failing = True
        with pytest.raises(RuntimeError, match="audit write failed"):
            engine.set_limit(account.id, "api_calls", 7)
        with pytest.raises(RuntimeError, match="audit write failed"):
            engine.change_plan(account.id, "pro")
        store.failing = False

        assert entries(engine, account.id) == known
        assert engine.entitlements(account.id).limits["api_calls"].limit == before
        assert engine.subscription(account.id).plan == "starter"
        assert len(engine.invoices(account.id)) == 1, "no proration invoice was kept either"
    finally:
        engine.close()


def test_a_refused_change_or_one_that_changes_nothing_writes_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    known = entries(engine, account.id)

    with pytest.raises(InvalidInputError):
        engine.set_limit(account.id, "no_such_item", 5)
    with pytest.raises(InvalidInputError):
        engine.set_limit(account.id, "api_calls", 5, actor=Actor.operator("api", "x" * 501))
    with pytest.raises(InvalidInputError):
        engine.change_plan(account.id, "starter")
    engine.clear_limit(account.id, "api_calls")  # there is no override to clear

    assert entries(engine, account.id) == known
    engine.set_limit(account.id, "api_calls", 5)
    engine.set_limit(account.id, "api_calls", 5)
    engine.set_overage(account.id, False)
    engine.set_overage(account.id, False)
    assert [entry.kind for entry in entries(engine, account.id)[:2]] == [
        "overage.switched",
        "limit.set",
    ]
    assert len(entries(engine, account.id)) == len(known) + 2, "the same value again is no change"


def test_an_idempotent_replay_writes_nothing(open_engine: EngineFactory) -> None:
    provider = LocalProvider(PUBLIC)
    engine = open_engine("agentstack", provider=provider)
    account = engine.create_account(plan="starter")
    key = engine.create_api_key(account.id)
    engine.revoke_api_key(key.id)
    engine.revoke_api_key(key.id)
    assert len(entries(engine, account.id, "key.revoked")) == 1

    checkout = engine.checkout(account.id, plan="pro", success_url=f"{PUBLIC}/done")
    event = PaymentEvent(f"evt_{checkout.id}", "checkout.completed", {"checkout_id": checkout.id})
    assert engine.apply_payment_event(event).applied
    assert not engine.apply_payment_event(event).applied
    changed = entries(engine, account.id, "plan.changed")
    assert len(changed) == 1
    assert changed[0].actor == Actor.system("payments")
    assert changed[0].after is not None
    assert changed[0].after["plan"] == "pro"


def test_a_deposit_is_recorded_once_by_the_payment_that_confirmed_it(
    open_engine: EngineFactory,
) -> None:
    provider = LocalProvider(PUBLIC)
    engine = open_engine("aerostack", provider=provider)
    account = engine.create_account(plan="pro")
    checkout = engine.deposit(account.id, Decimal("10.00"), success_url=f"{PUBLIC}/done")
    engine.pay_checkout(checkout.id, provider.checkout_secret(checkout.id))
    event = PaymentEvent(f"evt_{checkout.id}", "checkout.completed", {"checkout_id": checkout.id})
    assert not engine.apply_payment_event(event).applied

    engine.adjust_wallet(account.id, Decimal("-2.50"), "goodwill correction")

    deposit = entries(engine, account.id, "wallet.deposit")
    assert len(deposit) == 1
    assert deposit[0].before == {"balance": "0.000000"}
    assert deposit[0].after is not None
    assert deposit[0].after["balance"] == "10.000000"
    adjusted = entries(engine, account.id, "wallet.adjusted")[0]
    assert adjusted.reason == "goodwill correction"
    assert adjusted.before == {"balance": "10.000000"}
    assert adjusted.after is not None
    assert adjusted.after["balance"] == "7.500000"


def test_a_downgrade_taking_effect_is_recorded_by_the_schedule(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 10, tzinfo=UTC))
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.change_plan(account.id, "starter", actor=Actor.operator("api"))
    scheduled = entries(engine, account.id, "plan.changed")
    assert len(scheduled) == 1
    assert scheduled[0].after is not None
    assert scheduled[0].after["immediate"] is False
    assert scheduled[0].after["pending"]["plan_id"] == "starter"

    clock.set(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC))
    engine.usage(account.id)  # the first request after the period's end applies it

    applied = entries(engine, account.id, "plan.changed")
    assert len(applied) == 2
    assert applied[0].actor == Actor.system("schedule")
    assert applied[0].before is not None
    assert applied[0].after is not None
    assert (applied[0].before["plan"], applied[0].after["plan"]) == ("pro", "starter")
    assert applied[0].after["pending"] is None


def test_the_log_filters_by_account_and_kind_and_pages_newest_first(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    first = engine.create_account(plan="starter")
    second = engine.create_account(plan="starter")
    for limit in range(1, 8):
        engine.set_limit(first.id, "api_calls", limit * 1000)
        engine.set_limit(second.id, "api_calls", limit)
    engine.set_overage(first.id, True)

    pages, before = [], None
    while True:
        page = engine.audit(account_id=first.id, before=before, limit=3)
        pages.append(page.entries)
        if page.next_before is None:
            break
        before = page.next_before
    read = [entry for page in pages for entry in page]
    assert [len(page) for page in pages] == [3, 3, 3]
    assert {entry.account_id for entry in read} == {first.id}
    assert len({entry.id for entry in read}) == 9, "no entry twice, none skipped"
    assert read[0].kind == "overage.switched"
    assert read[-1].kind == "account.created"
    limits = [
        (entry.after or {})["override"]["limit"] for entry in read if entry.kind == "limit.set"
    ]
    assert limits == [7000, 6000, 5000, 4000, 3000, 2000, 1000], "newest first"

    both = engine.audit(kind="limit.set", limit=200).entries
    assert {entry.account_id for entry in both} >= {first.id, second.id}
    assert all(entry.kind == "limit.set" for entry in both)
    assert engine.audit(account_id=second.id, kind="overage.switched").entries == []

    with pytest.raises(NotFoundError):
        engine.audit(account_id="acct_nope")
    refused: list[dict[str, Any]] = [{"before": "x1"}, {"limit": 0}, {"limit": 201}, {"kind": ""}]
    for bad in refused:
        with pytest.raises(InvalidInputError):
            engine.audit(**bad)


def test_consumption_is_not_an_audited_change(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    known = entries(engine, account.id)
    engine.consume(account.id, "api_calls", 10)
    engine.consume_many([{"account_id": account.id, "meter": "api_calls", "quantity": 2}])
    assert entries(engine, account.id) == known


def test_an_objects_read_only_and_active_flags_are_recorded_when_they_move(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id, active=False)
    engine.set_active(project.id, True, actor=Actor.operator("api"))
    engine.set_active(project.id, True)
    engine.set_read_only(project.id, True)
    engine.set_read_only(project.id, True)

    activated = entries(engine, account.id, "resource.activated")
    read_only = entries(engine, account.id, "resource.read_only")
    assert len(activated) == 1, "a flag set to what it was is no change"
    assert len(read_only) == 1
    assert activated[0].before == {"resource_id": project.id, "kind": "projects", "active": False}
    assert activated[0].actor == Actor.operator("api")
    assert read_only[0].after == {"resource_id": project.id, "kind": "projects", "read_only": True}


def test_an_auto_reload_paid_is_recorded_once_by_the_system(open_engine: EngineFactory) -> None:
    provider = LocalProvider(PUBLIC, secret="audit-tests")
    engine = open_engine("aerostack", provider=provider)
    account = engine.create_account(plan="pro")
    checkout = engine.deposit(account.id, Decimal("10.00"), success_url=f"{PUBLIC}/done")
    engine.pay_checkout(checkout.id, provider.checkout_secret(checkout.id))
    engine.set_auto_reload(account.id, threshold=Decimal("5.00"), amount=Decimal("20.00"))
    charges_before = len(entries(engine, account.id))

    engine.charge(account.id, "agent_execution", 500)  # 10.00 -> 5.00: not below
    crossing = engine.charge(account.id, "agent_execution")  # 5.00 -> 4.99: a reload, paid
    assert crossing.reload_id is not None
    engine.collect_reloads(account.id)  # nothing pending: settles nothing again

    log = entries(engine, account.id)
    assert len(log) == charges_before + 1, "the charges themselves are usage, not changes"
    reload = log[0]
    assert (reload.kind, reload.actor) == ("wallet.reload", Actor.system("auto_reload"))
    assert reload.before == {"balance": "4.990000"}
    assert reload.after == {
        "balance": "24.990000",
        "amount": "20.000000",
        "reload_id": crossing.reload_id,
    }
    settings = entries(engine, account.id, "wallet.auto_reload_set")[0]
    assert settings.before == {"threshold": None, "amount": None, "target": None}
    assert settings.after == {"threshold": "5.000000", "amount": "20.000000", "target": None}


def test_d25_d26_alerts_and_the_budget_are_recorded_with_who_set_them(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter")
    customer = Actor.customer("key_1")

    alert = engine.create_alert(account.id, "usage_units", meter="sessions", threshold=500)
    engine.set_budget(account.id, Decimal("10.00"), mode="soft", actor=customer)
    engine.set_budget(account.id, Decimal("10.00"), mode="soft", actor=customer)  # no change
    engine.set_budget(account.id, Decimal("25.00"), mode="hard", actor=customer)
    engine.delete_alert(account.id, alert.id, actor=Actor.operator("api"))
    engine.set_budget(account.id, None, actor=customer)
    with pytest.raises(NotFoundError):
        engine.delete_alert(account.id, alert.id)  # refused: writes nothing

    log = [entry for entry in entries(engine, account.id) if entry.kind != "account.created"]
    assert [(entry.kind, entry.actor.kind) for entry in log] == [
        ("budget.removed", "customer"),
        ("alert.deleted", "operator"),
        ("budget.set", "customer"),
        ("budget.set", "customer"),
        ("alert.created", "python"),
    ]
    made = {"alert_id": alert.id, "kind": "usage_units", "meter": "sessions", "threshold": "500"}
    assert (log[4].before, log[4].after) == (None, made)
    assert (log[1].before, log[1].after) == (made, None)
    assert (log[3].before, log[3].after) == (None, {"amount": "10.00", "mode": "soft"})
    assert log[2].after == {"amount": "25.00", "mode": "hard"}
    assert (log[0].before, log[0].after) == ({"amount": "25.00", "mode": "hard"}, None)
