"""Collecting finalized invoices, and dunning when that fails (D10, D29).

meterstack's invoice is the invoice of record; a provider only collects it, off-session, through
the payment port's :class:`~meterstack.records.payments.InvoiceCollector`. Every finalized
invoice with an amount due gets a collection (``store.collections``), due at once. A runner (the
``meterstack collections run`` command, or the worker ``meterstack serve`` starts) makes each
due attempt:

1. it leases the attempt (one conditional write: two runners never both have it), then checks
   the account can be charged (the invoice's plan takes payments, the provider has a payment
   method; otherwise it looks again a day later, attempting nothing);
2. it records the attempt, numbered from 1, with its idempotency key (the invoice number and the
   attempt number, :func:`~meterstack.records.payments.attempt_key`);
3. it asks the provider, outside any transaction, and records the outcome under its lease.

A paid attempt marks the invoice ``paid`` (``invoice.paid``). A failed one makes the
subscription ``past_due``: access is kept, the usage answer carries a warning, and
``invoice.payment_failed`` and ``subscription.updated`` are announced; the invoice is tried again
3, 5 and 7 days after the first failure (``rules.dunning``, on the injected clock). When the last
attempt fails, the account moves to the catalog's fallback plan (what exceeds its limits becomes
read-only, D13; data, wallet and history are kept) until the invoice is paid, which restores the
paid plan for the rest of its period. A provider that learns outcomes later reports them as
``invoice.paid`` / ``invoice.payment_failed`` events (``Payments.apply``), carried out by
:meth:`Collections.settle_in` with the same rules.

A runner that dies mid-attempt leaves the attempt ``pending``: when its lease lapses the next
runner asks the provider again under the same key, which answers as the first time, so nothing
is charged twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.errors import (
    ConflictError,
    MeterstackError,
    NotFoundError,
    PaymentsNotConfiguredError,
)
from meterstack.money import format_money
from meterstack.records.collections import (
    DUNNING,
    AttemptStatus,
    Collection,
    CollectionAttempt,
    CollectionStatus,
)
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.records.payments import (
    PENDING_REASON,
    AttemptOutcome,
    Collected,
    InvoiceCollector,
    attempt_key,
)
from meterstack.rules.dunning import retry_at
from meterstack.rules.periods import day_name
from meterstack.services.alerts.service import payment_failed_in, payment_recovered_in
from meterstack.services.context import ServiceContext
from meterstack.services.payments.mirrors import InvoiceMirrors
from meterstack.services.subscriptions import reconcile_read_only
from meterstack.services.webhooks.announce import (
    announce_invoice_status,
    announce_payment_failed,
    announce_subscription,
)
from meterstack.store.ports import UnitOfWork

log = logging.getLogger("meterstack.services.collections")

#: What a provider answers for an attempt whose outcome it reports later, as an event.
PENDING = PENDING_REASON
#: How long a runner's lease on an attempt lasts (on the engine's clock): the provider's call
#: must be answered well within it.
LEASE = timedelta(minutes=5)
#: When an account cannot be charged (no payment method, a plan without payments) or the
#: provider could not be reached, the invoice is looked at again this much later.
RECHECK = timedelta(days=1)
PROVIDER_RETRY = timedelta(hours=1)
#: Due attempts one runner leases per read.
BATCH = 50
#: The invoice statuses a collection may be made for.
COLLECTABLE = (InvoiceStatus.FINALIZED, InvoiceStatus.UNCOLLECTIBLE)
#: The worker name of attempts a provider's event reported (no runner made them here).
EVENT_WORKER = "event"


class NotChargeableError(ConflictError):
    """The invoice's plan takes no payments, or the provider has no payment method on file."""

    code = "not_chargeable"


@dataclass(frozen=True)
class CollectionReport:
    """What one pass of a runner did."""

    opened: int = 0
    attempted: int = 0
    paid: int = 0
    failed: int = 0
    #: Asked, outcome not known yet (the provider reports it later, or could not be reached).
    pending: int = 0
    #: Due, but the account cannot be charged yet: looked at again a day later.
    skipped: int = 0
    #: Settled outside collection (voided, or paid by the operator).
    closed: int = 0

    def __add__(self, other: CollectionReport) -> CollectionReport:
        return CollectionReport(
            *(getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__)
        )


@dataclass(frozen=True)
class CollectionView:
    """A collection and its attempts, as the operator's door shows them."""

    collection: Collection
    attempts: tuple[CollectionAttempt, ...]


@dataclass(frozen=True)
class PaymentWarning:
    """The warning a past-due account's usage answer carries (D29)."""

    #: ``past_due`` (retries scheduled, access kept) or ``fallback`` (on the fallback plan).
    status: str
    invoice_number: str
    amount_due: Decimal
    currency: str
    attempts: int
    next_attempt_at: datetime | None
    #: The plan paying the invoice brings back (after a fallback).
    restores_plan: str | None
    message: str


class Collections:
    def __init__(
        self,
        ctx: ServiceContext,
        collector: InvoiceCollector | None,
        can_charge: Callable[[str], bool] | None = None,
        mirrors: InvoiceMirrors | None = None,
    ) -> None:
        self.ctx = ctx
        self.collector = collector
        #: Invoices a checkout paid whose mirror the provider does not have yet: each pass asks
        #: again, so a mirror Stripe failed to make is never lost.
        self.mirrors = mirrors
        #: Whether the provider can charge the account off-session (a payment method on file).
        self.can_charge = can_charge or (lambda _account_id: True)
        self._background: tuple[threading.Thread, threading.Event] | None = None

    # ------------------------------------------------------------------ reading

    def of_account(self, account_id: str) -> list[CollectionView]:
        """The account's collections, oldest first, each with its attempts."""
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            found = tx.collections.of_account(account_id)
            attempts = tx.collections.attempts([c.invoice_number for c in found])
        return [
            CollectionView(c, tuple(a for a in attempts if a.invoice_number == c.invoice_number))
            for c in found
        ]

    def view(self, number: str) -> CollectionView:
        with self.ctx.store.transaction() as tx:
            found = tx.collections.get(number)
            if found is None:
                raise NotFoundError(f"invoice {number!r} has no collection", number=number)
            return CollectionView(found, tuple(tx.collections.attempts([number])))

    # ------------------------------------------------------------------ runners

    def run(self, *, worker: str | None = None) -> CollectionReport:
        """One pass: open collections for new invoices, close those settled elsewhere, and make
        every attempt due now. Safe beside other runners on the same database."""
        if self.collector is None:
            return CollectionReport()
        name = worker or runner_name()
        if self.mirrors is not None:
            self.mirrors.send_pending()
        with self.ctx.store.transaction() as tx:
            opened = tx.collections.enqueue(self.ctx.now())
        report = CollectionReport(opened=opened, closed=self._close_settled())
        seen: set[str] = set()
        while True:
            with self.ctx.store.transaction() as tx:
                numbers = [n for n in tx.collections.due(self.ctx.now(), BATCH) if n not in seen]
            if not numbers:
                return report
            for number in numbers:
                seen.add(number)
                report += self._attempt(number, name, due_only=True)

    def collect(self, number: str) -> CollectionView:
        """The operator's retry: attempt the invoice now, whatever the schedule says (also
        after the last attempt failed). 404 for an unknown invoice; 409 when nothing is owed,
        the account cannot be charged off-session, or another attempt is in flight; 503
        without a provider."""
        if self.collector is None:
            raise PaymentsNotConfiguredError(
                "no payment provider is configured, so no invoice can be collected"
            )
        with self.ctx.store.transaction() as tx:
            invoice = tx.invoices.by_number(number)
            if invoice is None:
                raise NotFoundError(f"no invoice {number!r}", number=number)
            if invoice.status not in COLLECTABLE or invoice.total <= 0:
                raise ConflictError(
                    f"invoice {number} is {invoice.status} with {invoice.total} due: "
                    "nothing to collect",
                    number=number,
                    status=str(invoice.status),
                )
            if any(
                d.source == "invoice" and d.reference == number and d.status == "lost"
                for d in tx.movements.disputes_of(invoice.account_id)
            ):
                # The provider's record of the invoice says paid (the charge it disputed), so
                # it would answer paid again without taking anything.
                raise ConflictError(
                    f"invoice {number}'s payment was disputed and lost: it is not charged to "
                    "the disputed card again; mark it paid once it is paid another way",
                    number=number,
                )
            found = tx.collections.open_for(invoice, self.ctx.now())
            if found.status not in (*DUNNING, CollectionStatus.DUE):
                raise ConflictError(
                    f"the collection of invoice {number} is {found.status}", number=number
                )
        if not self._chargeable_now(invoice):
            raise NotChargeableError(
                f"account {invoice.account_id} has no way to pay invoice {number} off-session: "
                "its plan takes no payments or no payment method is on file",
                account_id=invoice.account_id,
            )
        done = self._attempt(number, "operator", due_only=False)
        if done.attempted == 0:
            raise ConflictError(
                f"an attempt to collect invoice {number} is in flight; try again shortly",
                number=number,
            )
        return self.view(number)

    def start_background(self, *, idle_wait: float = 10.0) -> None:
        """Run passes on a thread of this process until :meth:`close` (``meterstack serve``);
        several servers may each run one."""
        if self._background is not None or self.collector is None:
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_until,
            args=(stop,),
            kwargs={"idle_wait": idle_wait},
            name="meterstack-collections",
            daemon=True,
        )
        thread.start()
        self._background = (thread, stop)

    def run_until(self, stop: threading.Event, *, idle_wait: float = 10.0) -> None:
        """Pass after pass until ``stop`` is set, pausing ``idle_wait`` s between them."""
        name = runner_name()
        while not stop.is_set():
            try:
                self.run(worker=name)
            except MeterstackError as error:  # the database went away: try again later
                log.warning("collection pass failed: %s", error.message)
            stop.wait(idle_wait)

    def close(self) -> None:
        """Stop the background runner, if one runs (it finishes the attempt in flight)."""
        if self._background is None:
            return
        thread, stop = self._background
        self._background = None
        stop.set()
        thread.join(timeout=30)

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, number: str, worker: str, *, due_only: bool) -> CollectionReport:
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            leased = tx.collections.lease(number, worker, now, now + LEASE, due_only=due_only)
            if leased is None:
                return CollectionReport()  # another runner has it, or it is not due
            invoice = tx.invoices.by_number(number)
            assert invoice is not None
            if invoice.status not in COLLECTABLE:
                self._close_in(tx, leased, invoice)
                tx.collections.release(number, worker)
                return CollectionReport(closed=1)
        if not self._chargeable_now(invoice):
            with self.ctx.store.transaction() as tx:
                now = self.ctx.now()
                if tx.collections.holds_lease(number, worker, now):
                    later = replace(leased, next_attempt_at=now + RECHECK, updated_at=now)
                    tx.collections.update(later)
                    tx.collections.release(number, worker)
            return CollectionReport(skipped=1)
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            if not tx.collections.holds_lease(number, worker, now):
                return CollectionReport()
            attempt = self._next_attempt(tx, leased, worker, now)
        assert self.collector is not None
        try:
            collected = self.collector.collect_invoice(invoice, attempt)
        except MeterstackError as error:
            log.warning("collecting invoice %s (attempt %d): %s", number, attempt, error.message)
            collected = Collected(False, attempt_key(number, attempt), PENDING)
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            if not tx.collections.holds_lease(number, worker, now):
                # The lease lapsed: the runner that has it now asks again under the same key.
                return CollectionReport(attempted=1, pending=1)
            if not collected.paid and collected.reason == PENDING:
                current = tx.collections.get(number)
                assert current is not None
                later = replace(current, next_attempt_at=now + PROVIDER_RETRY, updated_at=now)
                tx.collections.update(later)
                tx.collections.release(number, worker)
                return CollectionReport(attempted=1, pending=1)
            outcome = AttemptOutcome(number, attempt, collected.paid, collected.reason)
            self._settle(tx, outcome, worker)
            tx.collections.release(number, worker)
        if collected.paid:
            return CollectionReport(attempted=1, paid=1)
        return CollectionReport(attempted=1, failed=1)

    def _next_attempt(self, tx: UnitOfWork, leased: Collection, worker: str, now: datetime) -> int:
        """The attempt to make under the lease: the last one again when it was never answered
        (same key, so nothing is charged twice), else a new one, recorded as pending."""
        number = leased.invoice_number
        previous = tx.collections.attempt(number, leased.attempts) if leased.attempts else None
        if previous is not None and previous.status is AttemptStatus.PENDING:
            return previous.number
        attempt = leased.attempts + 1
        made = CollectionAttempt(
            invoice_number=number,
            number=attempt,
            key=attempt_key(number, attempt),
            status=AttemptStatus.PENDING,
            reason=None,
            started_at=now,
            settled_at=None,
            worker=worker,
        )
        if not tx.collections.insert_attempt(made):
            raise ConflictError(f"attempt {attempt} of invoice {number} was made already")
        tx.collections.update(replace(leased, attempts=attempt, updated_at=now))
        return attempt

    def _chargeable_now(self, invoice: Invoice) -> bool:
        """Whether the invoice's plan takes payments and the provider can charge the account."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, invoice.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
        plan = catalog.plans_by_id.get(invoice.plan) or catalog.plan(state.plan_id)
        return plan.payments and self.can_charge(invoice.account_id)

    def _close_settled(self) -> int:
        """Close open collections whose invoice was paid or voided by other means."""
        closed = 0
        while True:
            with self.ctx.store.transaction() as tx:
                numbers = tx.collections.settled_elsewhere(BATCH)
                for number in numbers:
                    found = tx.collections.get(number, lock=True)
                    invoice = tx.invoices.by_number(number)
                    assert found is not None
                    assert invoice is not None
                    self._close_in(tx, found, invoice)
            closed += len(numbers)
            if len(numbers) < BATCH:
                return closed

    # ------------------------------------------------------------------ outcomes

    def moved_in(self, tx: UnitOfWork, invoice: Invoice) -> None:
        """An operator moved the invoice (``Invoices.move``): paid or voided, its collection
        ends, and so does its dunning (the plan comes back after a fallback)."""
        if invoice.status not in (InvoiceStatus.PAID, InvoiceStatus.VOID):
            return
        assert invoice.number is not None
        found = tx.collections.get(invoice.number, lock=True)
        if found is not None and found.status not in (
            CollectionStatus.PAID,
            CollectionStatus.CLOSED,
        ):
            self._close_in(tx, found, invoice)

    def dispute_lost_in(self, tx: UnitOfWork, invoice: Invoice, reason: str) -> bool:
        """A lost dispute took a paid invoice's payment back: the invoice is unpaid again
        (``uncollectible``) and the account goes where D29's last failed attempt takes it, the
        fallback plan until the invoice is paid, which restores the plan for the rest of its
        period (:meth:`moved_in`). No attempt is scheduled: the card's holder disputed the
        charge, and charging it again on its own would invite another dispute. Whether it
        changed anything (an invoice not paid any more, a void one, changes nothing)."""
        now = self.ctx.now()
        assert invoice.number is not None
        if invoice.status is not InvoiceStatus.PAID or not tx.invoices.set_status(
            invoice.number, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE, now
        ):
            return False
        found = tx.collections.open_for(invoice, now)
        plan, interval = self._fall_back(tx, invoice.account_id, now)
        tx.collections.update(
            replace(
                found,
                status=CollectionStatus.FALLBACK,
                next_attempt_at=None,
                first_failed_at=found.first_failed_at or now,
                last_reason=reason,
                fallback_at=now,
                restore_plan=plan,
                restore_interval=interval,
                updated_at=now,
                settled_at=None,
            )
        )
        announce_subscription(tx, invoice.account_id, "unpaid_fallback", now)
        return True

    def settle_in(self, tx: UnitOfWork, outcome: AttemptOutcome) -> bool:
        """A provider's ``invoice.paid`` / ``invoice.payment_failed`` event, in the transaction
        that records the event (``Payments.apply``); 404 for an unknown invoice. Whether it
        changed anything: an attempt already recorded (the collection's own answer, reported
        again by the provider's event) changes nothing."""
        invoice = tx.invoices.by_number(outcome.invoice_number)
        if invoice is None:
            raise NotFoundError(
                f"no invoice {outcome.invoice_number!r}", number=outcome.invoice_number
            )
        if invoice.status in COLLECTABLE:
            tx.collections.open_for(invoice, self.ctx.now())
        elif tx.collections.get(outcome.invoice_number) is None:
            return False  # paid at issue, or voided: nothing is being collected
        return self._settle(tx, outcome, EVENT_WORKER)

    def _settle(self, tx: UnitOfWork, outcome: AttemptOutcome, worker: str) -> bool:
        now = self.ctx.now()
        number, attempt = outcome.invoice_number, outcome.attempt
        status = AttemptStatus.PAID if outcome.paid else AttemptStatus.FAILED
        found = tx.collections.get(number, lock=True)
        invoice = tx.invoices.by_number(number)
        assert found is not None
        assert invoice is not None
        recorded = tx.collections.settle_attempt(number, attempt, status, outcome.reason, now)
        if not recorded:
            known = tx.collections.attempt(number, attempt)
            if known is not None:
                if known.status is not status:
                    log.warning(
                        "invoice %s attempt %d was recorded %s; %s reported later, ignored",
                        number,
                        attempt,
                        known.status,
                        status,
                    )
                return False  # reported before: nothing changes
            reported = CollectionAttempt(
                invoice_number=number,
                number=attempt,
                key=attempt_key(number, attempt),
                status=status,
                reason=outcome.reason,
                started_at=now,
                settled_at=now,
                worker=worker,
            )
            tx.collections.insert_attempt(reported)
        if outcome.paid:
            self._paid(tx, replace(found, attempts=max(found.attempts, attempt)), invoice, now)
            return True
        if found.status in (CollectionStatus.PAID, CollectionStatus.CLOSED):
            return True  # the attempt is recorded; a late failure changes nothing more
        if attempt < found.attempts:
            return True  # an earlier attempt's failure, recorded after a later attempt
        reason = outcome.reason or "payment_failed"
        if found.status is CollectionStatus.FALLBACK:
            # An operator's retry after the last attempt failed too: the fallback stays.
            tx.collections.update(
                replace(found, attempts=attempt, last_reason=reason, updated_at=now)
            )
            record_payment_failure(tx, invoice, attempt, reason, None, now)
            return True
        self._failed(tx, found, invoice, attempt, reason, now)
        return True

    def _failed(
        self,
        tx: UnitOfWork,
        found: Collection,
        invoice: Invoice,
        attempt: int,
        reason: str,
        now: datetime,
    ) -> None:
        first = found.first_failed_at or now
        next_at = retry_at(first, attempt)
        failed = replace(
            found,
            status=CollectionStatus.PAST_DUE if next_at is not None else CollectionStatus.FALLBACK,
            attempts=max(found.attempts, attempt),
            next_attempt_at=next_at,
            first_failed_at=first,
            last_reason=reason,
            updated_at=now,
        )
        if next_at is None:
            plan, interval = self._fall_back(tx, found.account_id, now)
            failed = replace(failed, fallback_at=now, restore_plan=plan, restore_interval=interval)
        tx.collections.update(failed)
        record_payment_failure(tx, invoice, attempt, reason, next_at, now)
        if next_at is None:
            announce_subscription(tx, found.account_id, "unpaid_fallback", now)
        elif found.status is CollectionStatus.DUE:
            announce_subscription(tx, found.account_id, "past_due", now)

    def _fall_back(
        self, tx: UnitOfWork, account_id: str, now: datetime
    ) -> tuple[str | None, str | None]:
        """Move the account to its catalog's fallback plan (D29, D13); the plan and interval
        paying brings back. An account on the fallback plan already stays; it keeps the plan
        an earlier fallback will restore."""
        account = tx.accounts.get(account_id)
        assert account is not None
        catalog = self.ctx.catalog(tx, account.catalog_hash)
        fallback = catalog.policies.fallback_plan
        if account.plan_id == fallback:
            earlier = [
                c
                for c in tx.collections.open_of_account(account_id)
                if c.status is CollectionStatus.FALLBACK and c.restore_plan is not None
            ]
            if not earlier:
                return None, None
            return earlier[0].restore_plan, earlier[0].restore_interval
        # The interval is kept: a yearly plan restored later continues its paid year.
        tx.subscriptions.change_plan(
            account_id, fallback, account.billing_interval, account.catalog_hash, now
        )
        # A downgrade or cancellation waiting for the period's end is moot on the fallback plan.
        tx.subscriptions.set_pending(account_id, None)
        self.ctx.changed(tx, account_id)
        reconcile_read_only(tx, catalog, self.ctx.state(tx, account_id))
        return account.plan_id, account.billing_interval

    def _paid(self, tx: UnitOfWork, found: Collection, invoice: Invoice, now: datetime) -> None:
        assert invoice.number is not None
        if invoice.status in COLLECTABLE and tx.invoices.set_status(
            invoice.number, invoice.status, InvoiceStatus.PAID, now
        ):
            announce_invoice_status(tx, invoice, InvoiceStatus.PAID, now)
        if found.status in (CollectionStatus.PAID, CollectionStatus.CLOSED):
            return
        tx.collections.update(
            replace(
                found,
                status=CollectionStatus.PAID,
                next_attempt_at=None,
                updated_at=now,
                settled_at=now,
            )
        )
        self._after_settled(tx, found, now)

    def _close_in(self, tx: UnitOfWork, found: Collection, invoice: Invoice) -> None:
        """The invoice was voided or paid without collection: stop collecting it."""
        now = self.ctx.now()
        status = (
            CollectionStatus.PAID
            if invoice.status is InvoiceStatus.PAID
            else CollectionStatus.CLOSED
        )
        tx.collections.update(
            replace(found, status=status, next_attempt_at=None, updated_at=now, settled_at=now)
        )
        self._after_settled(tx, found, now)

    def _after_settled(self, tx: UnitOfWork, found: Collection, now: datetime) -> None:
        """Dunning of ``found`` ended: restore the plan after a fallback (when no other invoice
        keeps the account there), and announce that the subscription recovered."""
        if found.status not in DUNNING:
            return
        still = [c for c in tx.collections.open_of_account(found.account_id) if c.status in DUNNING]
        if found.status is CollectionStatus.FALLBACK and not any(
            c.status is CollectionStatus.FALLBACK for c in still
        ):
            self._restore(tx, found, now)
        announce_subscription(tx, found.account_id, "payment_recovered", now)
        if not still:
            payment_recovered_in(tx, found.account_id, now)  # D25: nothing is unpaid any more

    def _restore(self, tx: UnitOfWork, found: Collection, now: datetime) -> None:
        """Bring back the plan the fallback replaced, for the rest of its period: the invoice
        that was paid is its fee. Not when the customer chose another plan meanwhile."""
        if found.restore_plan is None or found.restore_interval is None:
            return
        account = tx.accounts.get(found.account_id)
        assert account is not None
        catalog = self.ctx.catalog(tx, account.catalog_hash)
        if account.plan_id != catalog.policies.fallback_plan:
            return
        if found.restore_plan not in catalog.plans_by_id:
            return
        tx.subscriptions.change_plan(
            found.account_id,
            found.restore_plan,
            found.restore_interval,
            account.catalog_hash,
            now,
        )
        self.ctx.changed(tx, found.account_id)
        reconcile_read_only(tx, catalog, self.ctx.state(tx, found.account_id))


def record_payment_failure(
    tx: UnitOfWork,
    invoice: Invoice,
    attempt: int,
    reason: str,
    next_attempt_at: datetime | None,
    at: datetime,
) -> None:
    """The one place a failed collection attempt is recorded as such (D29), in the
    transaction that recorded the attempt: it announces ``invoice.payment_failed``. What else
    reacts to a payment failure (the account's ``payment_failed`` alerts, D25) is called
    from here."""
    announce_payment_failed(tx, invoice, attempt, reason, next_attempt_at, at)
    payment_failed_in(tx, invoice.account_id, at, reference=invoice.number)


def payment_warning(tx: UnitOfWork, catalog: Catalog, account_id: str) -> PaymentWarning | None:
    """The warning of an account in dunning (D29): its oldest invoice past due; None when
    none is."""
    owed = [c for c in tx.collections.open_of_account(account_id) if c.status in DUNNING]
    if not owed:
        return None
    first = owed[0]
    amount = f"{format_money(first.amount, first.currency)} {first.currency}"
    restores = None
    if first.status is CollectionStatus.FALLBACK:
        restores = first.restore_plan
        fallback = catalog.plans_by_id.get(catalog.policies.fallback_plan)
        back = catalog.plans_by_id.get(restores or "")
        message = (
            f"Invoice {first.invoice_number} ({amount}) is unpaid after {first.attempts} "
            f"attempts, so the account moved to the "
            f"{fallback.name if fallback else catalog.policies.fallback_plan} plan: what "
            "exceeds its limits is read-only. Paying the invoice "
            + (f"restores {back.name} for the rest of its period." if back else "ends this.")
        )
        status = "fallback"
    else:
        when = day_name(first.next_attempt_at) if first.next_attempt_at else "soon"
        message = (
            f"The payment of invoice {first.invoice_number} ({amount}) failed"
            + (f" ({first.last_reason})" if first.last_reason else "")
            + f". Your plan stays active; it will be tried again on {when}. Update the "
            "payment method in the billing portal to keep the plan."
        )
        status = "past_due"
    return PaymentWarning(
        status=status,
        invoice_number=first.invoice_number,
        amount_due=first.amount,
        currency=first.currency,
        attempts=first.attempts,
        next_attempt_at=first.next_attempt_at,
        restores_plan=restores,
        message=message,
    )


def runner_name() -> str:
    """A runner's name: host, process and a random suffix, unique among runners."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:120]
