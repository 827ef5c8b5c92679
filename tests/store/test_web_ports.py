"""The contract of the ports behind webhooks, the dashboard and account credit, run on each
implementation of the store (``store`` fixture), like ``test_ports.py``.

The outbox's claim is the only coordination between delivery workers, a sign-in link and an
attempt window are conditional writes, and account credit is read from the invoices' ledger:
each is held here to what the services rely on, whatever the backend.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from meterstack.records.invoicing import ACCOUNT_CREDIT, Invoice, InvoiceLine, InvoiceStatus
from meterstack.records.webhooks import (
    Attempt,
    DeliveryStatus,
    Endpoint,
    Owner,
    WebhookEvent,
)
from meterstack.store.ports import Store
from meterstack.store.rows import (
    AccountRow,
    AttemptOutcome,
    ClosedPeriod,
    NewDelivery,
    PendingChange,
    SessionRow,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _account(store: Store, email: str | None = None) -> str:
    account_id = f"acct_{uuid.uuid4().hex[:12]}"
    row = AccountRow(
        id=account_id,
        catalog_hash="hash-1",
        plan_id="pro",
        billing_interval="monthly",
        status="active",
        period_anchor=NOW,
        created_at=NOW,
        version=1,
        anonymous=email is None,
        email=email,
        name=None,
    )
    with store.transaction() as tx:
        tx.accounts.insert(row)
    return account_id


def _endpoint(endpoint_id: str, account_id: str | None, owner: Owner) -> Endpoint:
    return Endpoint(
        endpoint_id, owner, account_id, "https://hooks.example/in", (), None, True, NOW, NOW
    )


def _attempt(delivery_id: str, number: int, worker: str, code: int) -> Attempt:
    return Attempt(delivery_id, number, NOW, 12, code, "ok", None, code == 200, worker)


def test_d28_deliveries_are_made_once_claimed_by_one_worker_and_settled_under_its_lease(
    store: Store,
) -> None:
    account_id = _account(store)
    event = WebhookEvent("msg_1", "invoice.created", account_id, NOW, '{"id": "msg_1"}')
    with store.transaction() as tx:
        tx.webhooks.insert(_endpoint("whe_1", None, Owner.OPERATOR))
        tx.outbox.insert_events([event])
        to_fan_out = tx.outbox.to_fan_out(10)
        receiving = [endpoint.id for endpoint in tx.webhooks.receiving([account_id])]
        tx.outbox.insert_deliveries([NewDelivery("dlv_1", event, "whe_1")], NOW)
        tx.outbox.insert_deliveries([NewDelivery("dlv_2", event, "whe_1")], NOW)  # the same pair
        tx.outbox.mark_fanned_out(["msg_1"])
        fanned = tx.outbox.to_fan_out(10)
    lapsed = NOW + LEASE + timedelta(seconds=1)
    with store.transaction() as tx:
        leases = tx.outbox.claim("w1", NOW, NOW + LEASE, 10)
        taken = tx.outbox.claim("w2", NOW, NOW + LEASE, 10)
        retaken = tx.outbox.claim("w2", lapsed, lapsed + LEASE, 10)  # w1's lease lapsed
    with store.transaction() as tx:
        # w1 answers late: its attempt is kept, but the delivery is w2's now and stays so.
        tx.outbox.record(
            [AttemptOutcome(_attempt("dlv_1", 1, "w1", 200), DeliveryStatus.SUCCEEDED, None)],
            lapsed,
        )
        late = tx.outbox.delivery("dlv_1")
        tx.outbox.record(
            [AttemptOutcome(_attempt("dlv_1", 2, "w2", 500), DeliveryStatus.FAILED, None)],
            lapsed,
        )
        settled = tx.outbox.delivery("dlv_1")
        replayed = [tx.outbox.replay("dlv_1", lapsed) for _ in range(2)]
        pending = tx.outbox.deliveries(endpoint_id="whe_1", status=DeliveryStatus.PENDING)
        attempts = tx.outbox.attempts("dlv_1")
        listed = tx.outbox.events(account_id=account_id, event_type=None, limit=10)
        found = tx.outbox.events_by_id(["msg_1", "msg_none"])

    assert [e.id for e in to_fan_out] == ["msg_1"]
    assert receiving == ["whe_1"]
    assert fanned == []
    assert [(lease.delivery_id, lease.attempt) for lease in leases] == [("dlv_1", 1)]
    assert taken == []
    assert [(lease.delivery_id, lease.attempt) for lease in retaken] == [("dlv_1", 2)]
    assert late is not None
    assert late.status is DeliveryStatus.PENDING
    assert settled is not None
    assert (settled.status, settled.attempts, settled.last_status_code) == (
        DeliveryStatus.FAILED,
        2,
        500,
    )
    assert replayed == [True, False]  # queued again once; a pending delivery is not replayed
    assert [d.id for d in pending] == ["dlv_1"]
    assert [(a.number, a.worker, a.succeeded) for a in attempts] == [
        (1, "w1", True),
        (2, "w2", False),
    ]
    assert [e.body for e in listed] == ['{"id": "msg_1"}']
    assert list(found) == ["msg_1"]


def test_d28_endpoints_rotate_secrets_and_are_deleted_with_their_deliveries(
    store: Store,
) -> None:
    account_id = _account(store)
    own = _endpoint("whe_own", account_id, Owner.CUSTOMER)
    event = WebhookEvent("msg_2", "invoice.paid", account_id, NOW, "{}")
    with store.transaction() as tx:
        tx.webhooks.insert(own)
        tx.webhooks.insert(_endpoint("whe_all", None, Owner.OPERATOR))
        first = tx.webhooks.insert_secret("whe_own", "whsec_1", NOW, overlap_until=NOW)
        second = tx.webhooks.insert_secret(
            "whe_own", "whsec_2", NOW, overlap_until=NOW + timedelta(hours=24)
        )
        secrets = tx.webhooks.secrets_of(["whe_own"])["whe_own"]
        counted = tx.webhooks.count_locked(account_id, Owner.CUSTOMER)
        tx.webhooks.update(replace(own, enabled=False, updated_at=NOW + LEASE))
        customers = tx.webhooks.find(account_id=account_id, owner=Owner.CUSTOMER)
        receiving = [endpoint.id for endpoint in tx.webhooks.receiving([account_id])]
        tx.outbox.insert_events([event])
        tx.outbox.insert_deliveries([NewDelivery("dlv_own", event, "whe_own")], NOW)
        tx.webhooks.delete("whe_own")
        gone = (tx.webhooks.get("whe_own"), tx.outbox.delivery("dlv_own"))
        left = [endpoint.id for endpoint in tx.webhooks.find()]

    assert (first.seq, second.seq) == (1, 2)
    assert [(s.seq, s.expires_at) for s in secrets] == [
        (2, None),
        (1, NOW + timedelta(hours=24)),
    ]
    assert counted == 1
    assert [(e.id, e.enabled) for e in customers] == [("whe_own", False)]
    assert receiving == ["whe_all"]  # a disabled endpoint receives nothing
    assert gone == (None, None)
    assert left == ["whe_all"]


def test_a_sign_in_link_is_used_once_and_sessions_end_and_attempts_are_bounded(
    store: Store,
) -> None:
    account_id = _account(store, email=f"{uuid.uuid4().hex[:8]}@example.com")
    session = SessionRow(
        "sess-hash", "customer", account_id, "csrf", NOW, NOW + LEASE, 0, None, None
    )
    window = NOW - timedelta(minutes=15)
    with store.transaction() as tx:
        tx.access.insert_link("link-hash", account_id, NOW, NOW + LEASE)
        used = [tx.access.use_link("link-hash", NOW) for _ in range(2)]
        tx.access.insert_link("old-hash", account_id, NOW - LEASE, NOW)
        expired = tx.access.use_link("old-hash", NOW)
        tx.access.insert_session(session)
        tx.access.set_flash("sess-hash", "saved")
        live = tx.access.live_session("sess-hash", NOW)
        tx.access.end_session("sess-hash", NOW)
        ended = tx.access.live_session("sess-hash", NOW)
        admitted = [tx.access.admit_attempt("ip:1", NOW, window, 3) for _ in range(4)]
        started = tx.access.window_of("ip:1")
        later = tx.access.admit_attempt("ip:1", NOW + timedelta(minutes=16), NOW + LEASE, 3)
        tx.access.forget_attempts("ip:1")
        forgotten = tx.access.window_of("ip:1")
        revoked = tx.access.revoked_key_count(account_id, ("user", "anonymous"))
        assert live is not None
        registered = tx.access.registered_account(live.account_id or "")

    assert used == [account_id, None]
    assert expired is None
    assert live is not None
    assert (live.kind, live.csrf_token, live.flash) == ("customer", "csrf", "saved")
    assert ended is None
    assert admitted == [True, True, True, False]
    assert started == NOW
    assert later is True  # a window that has passed starts a new one
    assert forgotten is None
    assert revoked == 0
    assert registered is None  # looked up by email, not by id


def test_the_directory_reads_one_page_newest_first_and_counts_every_match(
    store: Store,
) -> None:
    tag = uuid.uuid4().hex[:8]
    accounts = [_account(store, email=f"{tag}-{n}@example.com") for n in range(3)]
    with store.transaction() as tx:
        tx.subscriptions.set_pending(
            accounts[1], PendingChange("cancel", "free", "monthly", NOW + LEASE, NOW)
        )
        invoices = [_invoice(accounts[0], f"2026-{month:02d}") for month in (1, 2, 3)]
        tx.invoices.insert(invoices, "INV", "period")
        first_page = tx.directory.account_page(
            query=tag, plan=None, pending_kind=None, settled=False, offset=0, limit=2
        )
        cancelling = tx.directory.account_page(
            query=tag, plan="pro", pending_kind="cancel", settled=False, offset=0, limit=10
        )
        settled = tx.directory.account_page(
            query=tag, plan=None, pending_kind=None, settled=True, offset=0, limit=10
        )
        invoice_page = tx.directory.invoice_page(
            account_id=accounts[0], status="draft", offset=1, limit=1
        )

    listed, total = first_page
    assert (len(listed), total) == (2, 3)
    assert [row.id for row in cancelling[0]] == [accounts[1]]
    assert (cancelling[0][0].pending_kind, cancelling[0][0].pending_plan) == ("cancel", "free")
    assert sorted(row.id for row in settled[0]) == sorted([accounts[0], accounts[2]])
    page, invoice_total = invoice_page
    assert invoice_total == 3
    assert [invoice.period_key for invoice in page] == ["2026-02"]
    assert page[0].lines[0].amount == Decimal("49")


def test_d10_b12_account_credit_is_the_ledger_of_its_lines_and_quiet_periods_close_once(
    store: Store,
) -> None:
    account_id = _account(store)
    kept = _invoice(account_id, "2026-01", credit=Decimal("30"))
    spent = _invoice(account_id, "2026-02", credit=Decimal("-12"))
    voided = _invoice(account_id, "2026-03", credit=Decimal("100"))
    march = datetime(2026, 4, 1, tzinfo=UTC)
    with store.transaction() as tx:
        tx.invoices.insert([kept, spent, voided], "INV", "period")
        start = tx.invoices.take_numbers("INV", 1)
        tx.invoices.finalize([(voided.id, f"INV-{start:06d}")], NOW)
        tx.invoices.set_status(f"INV-{start:06d}", InvoiceStatus.FINALIZED, InvoiceStatus.VOID, NOW)
        balances = tx.invoices.credit_balances([account_id], lock=True)
        none = tx.invoices.credit_balances([])
        before = tx.invoices.closed_through(account_id)
        quiet = ClosedPeriod(account_id, "2026-04", datetime(2026, 5, 1, tzinfo=UTC))
        tx.invoices.record_closes([quiet, quiet], NOW)
        after = tx.invoices.closed_through(account_id)
        to_close = {row.id: row for row in tx.invoices.to_close("", 1000)}

    assert balances == {account_id: Decimal("18")}  # 30 kept, 12 spent, the void moves nothing
    assert none == {}
    assert before == march
    assert after == quiet.period_end
    assert to_close[account_id].closed_through == quiet.period_end


def _invoice(account_id: str, period: str, credit: Decimal | None = None) -> Invoice:
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    lines = [InvoiceLine(1, "fee", "Pro", None, Decimal(1), Decimal("49"), Decimal("49"), {})]
    if credit is not None:
        lines.append(InvoiceLine(2, ACCOUNT_CREDIT, "credit", None, Decimal(1), credit, credit, {}))
    total = sum((line.amount for line in lines), Decimal(0))
    return Invoice(
        id=f"inv_{uuid.uuid4().hex[:12]}",
        number=None,
        account_id=account_id,
        status=InvoiceStatus.DRAFT,
        currency="USD",
        period_key=period,
        period_start=start,
        period_end=end,
        created_at=start,
        lines=tuple(lines),
        total=total,
        plan="pro",
        catalog="agentstack",
    )
