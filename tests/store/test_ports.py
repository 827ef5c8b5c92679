"""The contract of every port of the store, run on each implementation (``store`` fixture).

What a service may rely on, whatever the backend: a unit of work lands all or none, each port
answers with typed rows, and the conditional writes happen once when callers race for them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterstack.errors import EmailTakenError
from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.records.payments import CheckoutRequest, PaymentEvent
from meterstack.rules.admission import Step
from meterstack.rules.terms import ALL_ITEMS, LimitOverride
from meterstack.store.ports import Admission, KeyRecord, Store
from meterstack.store.rows import (
    AccountRow,
    ApiKeyRow,
    CloseFailure,
    PendingChange,
    ReservationRow,
    ResourceRow,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _new_account(store: Store, *, email: str | None = None) -> str:
    account_id = f"acct_{uuid.uuid4().hex[:12]}"
    with store.transaction() as tx:
        tx.accounts.insert(
            AccountRow(
                account_id,
                "hash-1",
                "free",
                "monthly",
                "active",
                NOW,
                NOW,
                1,
                email is None,
                email,
                None,
            )
        )
    return account_id


class _Decision:
    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self) -> str:
        return self.text


def test_a_unit_of_work_lands_all_or_none(store: Store) -> None:
    account_id = _new_account(store)
    step = (Step("api_calls", "account", "2026-01", 5, 0),)

    def failing_block() -> None:
        with store.transaction() as tx:
            tx.counters.apply(Admission.plain(account_id, step))
            tx.accounts.bump_version(account_id)
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError, match="the block failed"):
        failing_block()
    with store.transaction() as tx:
        assert tx.counters.totals(account_id, "api_calls", "account", "2026-01").used == 0
        assert tx.accounts.version(account_id) == 1
        tx.counters.apply(Admission.plain(account_id, step))
    with store.transaction() as tx:
        assert tx.counters.totals(account_id, "api_calls", "account", "2026-01").used == 5


def test_d14_accounts_hold_the_terms_that_make_their_state(store: Store) -> None:
    account_id = _new_account(store, email="Ada@Example.com")
    with store.transaction() as tx:
        tx.accounts.set_override(account_id, "", "api_calls", LimitOverride(10, Decimal("5")))
        tx.accounts.set_override(account_id, "proj_x", "api_calls", LimitOverride(None))
        tx.accounts.set_switch(account_id, "", ALL_ITEMS, True)
        tx.accounts.insert_pack("pack_1", account_id, "api_calls_small", NOW, "operator")
        tx.accounts.set_feature_override(account_id, "webhooks", "advanced")
        tx.accounts.set_price_override(account_id, "fee", '{"monthly": "9.00"}')
        version = tx.accounts.bump_version(account_id)
        state = tx.accounts.state(account_id)
        taken = tx.accounts.email_taken("ada@example.COM")
    with pytest.raises(EmailTakenError), store.transaction() as tx:
        tx.accounts.insert(
            AccountRow(
                "acct_other",
                "hash-1",
                "free",
                "monthly",
                "active",
                NOW,
                NOW,
                1,
                False,
                "Ada@Example.com",
                None,
            )
        )

    assert state is not None
    assert (state.version, version) == (2, 2)
    assert state.overrides == {
        ("", "api_calls"): LimitOverride(10, Decimal("5")),
        ("proj_x", "api_calls"): LimitOverride(None),
    }
    assert state.switches == {("", ALL_ITEMS): True}
    assert state.packs == ("api_calls_small",)
    assert state.features == {"webhooks": "advanced"}
    assert state.prices == (("fee", '{"monthly": "9.00"}'),)
    assert taken


def test_a7_an_anonymous_account_registers_once(store: Store) -> None:
    account_id = _new_account(store)
    with store.transaction() as tx:
        first = tx.accounts.register(
            account_id, plan_id="free", email="b@example.com", name="B", password_hash="x"
        )
        second = tx.accounts.register(
            account_id, plan_id="free", email="c@example.com", name="C", password_hash="x"
        )
        row = tx.accounts.get(account_id)
        others = tx.accounts.on_other_catalogs("hash-2")

    assert (first, second) == (True, False)
    assert row is not None
    assert (row.anonymous, row.email) == (False, "b@example.com")
    assert account_id in [account.id for account in others]


def test_c6_holds_close_once_and_lapse_by_the_clock(store: Store) -> None:
    account_id = _new_account(store)

    def hold(hold_id: str, expires: timedelta) -> ReservationRow:
        return ReservationRow(
            hold_id, account_id, "sessions", "2026-01", None, 2, "open", NOW, NOW + expires, None
        )

    with store.transaction() as tx:
        tx.reservations.insert(hold("rsv_a", timedelta(seconds=30)))
        tx.reservations.insert(hold("rsv_b", timedelta(seconds=300)))
        closed = [tx.reservations.close("rsv_a", "committed", 1) for _ in range(2)]
        tx.reservations.extend("rsv_b", NOW + timedelta(seconds=60))
        lapsed = tx.reservations.expire(account_id, NOW + timedelta(seconds=61))
        committed = tx.reservations.get("rsv_a", lock=True)

    assert closed == [True, False]
    assert [row.id for row in lapsed] == ["rsv_b"]
    assert committed is not None
    assert (committed.status, committed.committed_quantity) == ("committed", 1)


def test_d13_resources_are_listed_oldest_first_and_change_by_id(store: Store) -> None:
    account_id = _new_account(store)
    with store.transaction() as tx:
        for n, kind in enumerate(("projects", "members", "projects")):
            tx.resources.insert(
                ResourceRow(
                    f"res_{n}",
                    account_id,
                    kind,
                    None,
                    None,
                    f"r{n}",
                    True,
                    False,
                    NOW + timedelta(seconds=n),
                )
            )
        tx.resources.set_active("res_0", False)
        tx.resources.set_read_only("res_2", True)
        deleted = [tx.resources.delete("res_1") for _ in range(2)]
        projects = tx.resources.of_account(account_id, "projects")
        everything = tx.resources.of_account(account_id)

    assert deleted == [True, False]
    assert [(row.id, row.active, row.read_only) for row in projects] == [
        ("res_0", False, False),
        ("res_2", True, True),
    ]
    assert [row.id for row in everything] == ["res_0", "res_2"]


def test_a8_keys_are_found_by_lookup_and_revoked_once(store: Store) -> None:
    account_id = _new_account(store)
    with store.transaction() as tx:
        tx.keys.insert(
            ApiKeyRow(
                "key_1",
                account_id,
                "proj_1",
                "project",
                "lookup1",
                "hash",
                "k",
                ("payments",),
                {"api_calls": 10},
                NOW,
                None,
            )
        )
        found = tx.keys.by_lookup("lookup1")
        revoked = [tx.keys.revoke("key_1", NOW) for _ in range(2)]
        live = tx.keys.of_account(account_id, revoked=False)
        every = tx.keys.of_account(account_id, revoked=True)
        of_project = tx.keys.of_project("proj_1")

    assert found is not None
    assert (found.modules, found.quotas) == (("payments",), {"api_calls": 10})
    assert revoked == [True, False]
    assert (live, [row.id for row in every], of_project) == ([], ["key_1"], [])


def test_c7_plans_are_kept_in_order_and_a_pending_change_waits(store: Store) -> None:
    account_id = _new_account(store)
    later = NOW + timedelta(days=31)
    with store.transaction() as tx:
        # The account's first plan was recorded when it was inserted.
        tx.subscriptions.change_plan(account_id, "pro", "yearly", "hash-1", later)
        tx.subscriptions.record_plan(account_id, "pro", "yearly", "hash-2", later)
        tx.subscriptions.set_pending(
            account_id, PendingChange("downgrade", "free", "monthly", later, NOW)
        )
        due_now = tx.subscriptions.due_changes(NOW)
        due_later = tx.subscriptions.due_changes(later)
        history = tx.subscriptions.history([account_id])[account_id]
        row = tx.accounts.get(account_id)
        pending = tx.subscriptions.pending(account_id)

    assert [(spell.plan_id, spell.catalog_hash) for spell in history] == [
        ("free", "hash-1"),
        ("pro", "hash-1"),
        ("pro", "hash-2"),
    ]
    assert row is not None
    assert (row.plan_id, row.billing_interval) == ("pro", "yearly")
    assert pending is not None
    assert pending.effective_at == later
    assert (account_id in due_now, account_id in due_later) == (False, True)


def test_d7_records_are_read_deleted_and_purged_by_age(store: Store) -> None:
    account_id = _new_account(store)
    for n, at in enumerate((NOW, NOW, NOW + timedelta(days=40))):
        with store.transaction() as tx:
            tx.counters.apply(
                Admission(
                    account_id,
                    (Step("api_calls", "account", "2026-01", 1, 0),),
                    answer=lambda totals: [_Decision(f"d{totals[0].used}")],
                    records=(KeyRecord(f"k{n}", "hash"),),
                    at=at,
                )
            )
    with store.transaction() as tx:
        one = tx.idempotency.get(account_id, "k0")
        many = tx.idempotency.get_many(account_id, ["k1", "k2", "missing"])
        tx.idempotency.delete(account_id, "k1")
    windows = []
    after = None
    while True:
        with store.transaction() as tx:
            window = tx.idempotency.purge(NOW + timedelta(days=1), after, 1)
        windows.append(window.deleted)
        after = window.last
        if after is None:
            break
    with store.transaction() as tx:
        left = tx.idempotency.get_many(account_id, ["k0", "k1", "k2"])

    assert one is not None
    assert (one.decision, one.request_hash, one.created_at) == ("d1", "hash", NOW)
    assert sorted(many) == ["k1", "k2"]
    assert sum(windows) == 1  # k0 was old; k1 was deleted; k2 is recent
    assert sorted(left) == ["k2"]


def _invoice(account_id: str, period: str) -> Invoice:
    line = InvoiceLine(1, "subscription", "Pro", None, Decimal(1), Decimal("49"), Decimal("49"))
    return Invoice(
        f"inv_{uuid.uuid4().hex[:10]}",
        None,
        account_id,
        InvoiceStatus.DRAFT,
        "USD",
        period,
        NOW,
        NOW + timedelta(days=31),
        NOW,
        (line,),
        Decimal("49"),
        "pro",
        "agentstack",
    )


def test_d10_invoices_are_inserted_once_per_period_and_numbered_without_gaps(
    store: Store,
) -> None:
    account_id = _new_account(store)
    first, again = _invoice(account_id, "2026-01"), _invoice(account_id, "2026-01")
    with store.transaction() as tx:
        inserted = tx.invoices.insert([first], "INV", "period")
        repeated = tx.invoices.insert([again], "INV", "period")
        start = tx.invoices.take_numbers("INV", 2)
        tx.invoices.finalize([(first.id, f"INV-{start:06d}")], NOW)
        paid = tx.invoices.set_status(
            f"INV-{start:06d}", InvoiceStatus.FINALIZED, InvoiceStatus.PAID, NOW
        )
        paid_twice = tx.invoices.set_status(
            f"INV-{start:06d}", InvoiceStatus.FINALIZED, InvoiceStatus.PAID, NOW
        )
        following = tx.invoices.take_numbers("INV", 1)
        listed = tx.invoices.of_account(account_id)
        found = tx.invoices.by_number(f"INV-{start:06d}")
        terms = tx.invoices.billing_terms([account_id])
        to_close = [row.id for row in tx.invoices.to_close("", 1000)]

    assert (inserted, repeated) == ({first.id}, set())
    assert following == start + 2
    assert (paid, paid_twice) == (True, False)
    assert [invoice.id for invoice in listed] == [first.id]
    assert found is not None
    assert (found.status, found.total, found.lines[0].amount) == (
        InvoiceStatus.PAID,
        Decimal("49"),
        Decimal("49"),
    )
    assert terms[account_id].packs == ()
    assert account_id in to_close


def test_b11_a_payment_event_applies_once_and_a_checkout_closes_once(store: Store) -> None:
    account_id = _new_account(store)
    request = CheckoutRequest(account_id, "plan", plan_id="pro", billing_interval="monthly")
    with store.transaction() as tx:
        created = tx.payments.insert_checkout("cs_1", request, "https://pay/cs_1", NOW)
        recorded = [tx.payments.record_event(PaymentEvent("evt_1", "x", {"a": 1}), NOW)]
        recorded.append(tx.payments.record_event(PaymentEvent("evt_1", "x", {"a": 1}), NOW))
        closed = [tx.payments.close_checkout("cs_1", "paid") for _ in range(2)]
        found = tx.payments.checkout("cs_1", "https://pay/cs_1")
        events = tx.payments.events()

    assert (created.status, created.plan_id) == ("open", "pro")
    assert recorded == [True, False]
    assert closed == [True, False]
    assert found is not None
    assert found.status == "paid"
    assert [(event.id, event.data) for event in events] == [("evt_1", {"a": 1})]


def test_period_close_isolation_failures_are_kept_one_per_account_until_cleared(
    store: Store,
) -> None:
    first, second = _new_account(store), _new_account(store)
    later = NOW + timedelta(days=31)
    with store.transaction() as tx:
        tx.invoices.record_close_failures(
            [
                CloseFailure(first, "2026-01", NOW, "RatingError: no amounts"),
                CloseFailure(second, "2026-01", NOW, "ArithmeticError: fault"),
            ]
        )
    with store.transaction() as tx:
        tx.invoices.record_close_failures([CloseFailure(first, "2026-01", later, "again")])
        tx.invoices.clear_close_failures([second])
        tx.invoices.clear_close_failures([])
    with store.transaction() as tx:
        assert tx.invoices.close_failures() == [CloseFailure(first, "2026-01", later, "again")]
