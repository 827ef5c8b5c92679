"""The store's ports: what the services may ask of persistence, whatever the backend.

A service opens a unit of work with :meth:`Store.transaction` and reaches each domain's port as
an attribute of it (``tx.counters.apply(...)``, ``tx.reservations.get(...)``); everything it
does inside the block lands all or none. The SQL store (SQLite, PostgreSQL) implements every port
by composition (``store.sql``); another backend implements the same Protocols and the services
do not change. Rows come back as the typed values of ``store.rows``.

Admission has one call, :meth:`Counters.apply`: a request's steps (``rules.admission.Step``) are
applied all or none, together with the idempotency records of its answers (D7), and the answer
says which of four things happened (:class:`Applied`, :class:`Refused`, :class:`Stale`,
:class:`Taken`). No other call writes a counter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from meterstack.records.alerts import AlertState
from meterstack.records.audit import AuditEntry
from meterstack.records.collections import (
    AttemptStatus,
    Collection,
    CollectionAttempt,
)
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.records.payments import (
    Checkout,
    CheckoutRequest,
    CustomerDetails,
    InvoiceMirror,
    MoneyRefund,
    PaymentDispute,
    PaymentEvent,
    RefundStatus,
)
from meterstack.records.wallet import (
    Book,
    CreatorAccount,
    EntryKind,
    LedgerEntry,
    MarketplaceItem,
    Payout,
    Reload,
    ReloadStatus,
    WalletSettings,
)
from meterstack.records.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointSecret,
    Owner,
    WebhookEvent,
)
from meterstack.rules.admission import Step, Totals
from meterstack.rules.alerts import Alert
from meterstack.rules.budget import Budget
from meterstack.rules.history import Granularity, UsageBucket, UsageMark
from meterstack.rules.terms import AccountState, LimitOverride
from meterstack.store.rows import (
    AccountListing,
    AccountOnCatalog,
    AccountRow,
    AccountToClose,
    ApiKeyRow,
    AttemptOutcome,
    BillingTerms,
    ClosedPeriod,
    CloseFailure,
    Counter,
    DeliveryLease,
    NewDelivery,
    PendingChange,
    PlanSpell,
    PrunedWindow,
    PurgedWindow,
    RecordedPaymentEvent,
    Registered,
    ReservationRow,
    ResourceRow,
    SessionRow,
    StoredCatalog,
    StoredDecision,
)


class Recordable(Protocol):
    """An answer that can be stored under an idempotency key: a ``Decision``."""

    def encode(self) -> str: ...


R = TypeVar("R", bound=Recordable)


class KeyRecord(NamedTuple):
    """The idempotency record of one answer (D7): its key and the request's fingerprint."""

    key: str
    request_hash: str


class Admission(NamedTuple, Generic[R]):
    """What one call of :meth:`Counters.apply` does: steps, and the answers they lead to.

    The values of one call are named tuples: every request makes them, and a tuple is made in
    a fifth of the time of a frozen dataclass.
    """

    account_id: str
    #: In lock order (the account's scope first), each on a counter of its own; all of them
    #: apply, or none.
    steps: tuple[Step[Any], ...]
    #: The account version the steps were planned on, when the plan came from a cache: if the
    #: account's version is another one, nothing applies and the answer is :class:`Stale`.
    version: int | None = None
    #: The answers, named from the totals the steps reached (pure; called inside the call).
    answer: Callable[[tuple[Totals[Any], ...]], Sequence[R]] | None = None
    #: Per answer, its idempotency record, or None for an answer without a key.
    records: tuple[KeyRecord | None, ...] = ()
    #: When the records are made (their age counts toward the retention, D7).
    at: datetime | None = None
    #: The admitted consumptions, for the usage history (D27): added to their hour's and day's
    #: buckets (and a percentage meter's transactions recorded) in the same call, at ``at``,
    #: only when every step applied and every record was stored.
    usage: tuple[UsageMark, ...] = ()

    @staticmethod
    def plain(account_id: str, steps: tuple[Step[Any], ...]) -> Admission[Recordable]:
        """Steps alone: the outcome is the totals they reach (a release, a count, a level)."""
        return Admission(account_id, steps)


class Applied(NamedTuple, Generic[R]):
    """Every step applied: the totals each counter reached, and the answers (recorded). A
    priced charges step that added nothing was not written, and its totals read as zero."""

    totals: tuple[Totals[Any], ...]
    answers: tuple[R, ...] = ()


class Refused(NamedTuple):
    """The step at ``position`` would pass its bound: nothing applied; ``totals`` are its
    counter's as they stand."""

    position: int
    totals: Totals[Any]


class Stale(NamedTuple):
    """The account's version is not the one the steps were planned on: nothing applied."""

    version: int | None


class Taken(NamedTuple):
    """Another request stored some of the keys first: nothing applied. ``stored`` holds their
    records (a key missing from it was stored and is gone again, e.g. purged)."""

    keys: frozenset[str]
    stored: Mapping[str, StoredDecision]


Outcome = Applied[R] | Refused | Stale | Taken


class Counters(Protocol):
    """One row per (account, item, scope, period): used, held and overage (A11, D2)."""

    def apply(self, admission: Admission[R]) -> Applied[R] | Refused | Stale | Taken:
        """Apply the admission's steps all or none, with its answers' records."""
        ...

    def totals(self, account_id: str, item: str, scope: str, period: str) -> Totals[int]: ...

    def of_account(self, account_id: str, periods: Sequence[str]) -> list[Counter]:
        """Every counter of an account in the given periods."""
        ...

    def of_accounts(
        self, account_ids: Sequence[str], periods: Sequence[str]
    ) -> dict[tuple[str, str, str], Totals[int]]:
        """(account, item, period) -> the account-wide totals, for many accounts at once."""
        ...


class UsageHistory(Protocol):
    """Hourly and daily buckets of admitted usage (D27); written by :meth:`Counters.apply`."""

    def buckets(
        self,
        account_id: str,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        meter: str | None = None,
    ) -> list[UsageBucket]:
        """The buckets starting in [start, end), per project, in time order."""
        ...

    def totals(
        self,
        account_id: str,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        meter: str | None = None,
    ) -> list[UsageBucket]:
        """The account's aggregate of the buckets starting in [start, end): every project
        summed, per meter and bucket, in time order then by meter (the database sums)."""
        ...

    def transactions(self, account_id: str, meter: str, period: str) -> list[Decimal]:
        """A percentage meter's transaction amounts of a period, in the order admitted."""
        ...

    def prune(self, before: datetime, after: tuple[Any, ...] | None, window: int) -> PrunedWindow:
        """Delete buckets that start before ``before``, one window of rows."""
        ...


class Idempotency(Protocol):
    """Stored decisions by (account, key), D7; they are written by :meth:`Counters.apply`."""

    def get(self, account_id: str, key: str) -> StoredDecision | None: ...

    def get_many(self, account_id: str, keys: Sequence[str]) -> dict[str, StoredDecision]: ...

    def delete(self, account_id: str, key: str) -> None: ...

    def purge(
        self, before: datetime, after: tuple[str, str] | None, window: int
    ) -> PurgedWindow: ...


class Reservations(Protocol):
    """Holds and leases (D6, C6)."""

    def insert(self, row: ReservationRow) -> None: ...

    def get(self, reservation_id: str, *, lock: bool = False) -> ReservationRow | None: ...

    def close(
        self, reservation_id: str, status: str, committed_quantity: int | None = None
    ) -> bool:
        """Move an open hold to ``status``; False if it was no longer open."""
        ...

    def expire(self, account_id: str, now: datetime) -> list[ReservationRow]:
        """Close every lapsed open hold of an account and return them."""
        ...

    def extend(self, reservation_id: str, expires_at: datetime) -> None: ...


class Accounts(Protocol):
    """Catalog versions, accounts and their terms: overrides, switches, packs (D14)."""

    def stored_catalog(self, name: str, version: int) -> StoredCatalog | None: ...

    def catalog_content(self, content_hash: str) -> str | None: ...

    def insert_catalog(
        self, content_hash: str, name: str, version: int, content: str, now: datetime
    ) -> None: ...

    def insert(self, row: AccountRow) -> None:
        """Raises ``EmailTakenError`` when a concurrent creation took the email first."""
        ...

    def get(self, account_id: str) -> AccountRow | None: ...

    def version(self, account_id: str) -> int | None: ...

    def bump_version(self, account_id: str) -> int: ...

    def state(self, account_id: str) -> AccountState | None: ...

    def on_other_catalogs(self, content_hash: str) -> list[AccountOnCatalog]: ...

    def email_taken(self, email: str) -> bool: ...

    def register(
        self, account_id: str, *, plan_id: str, email: str, name: str, password_hash: str
    ) -> bool: ...

    def set_override(
        self, account_id: str, project_id: str, item: str, override: LimitOverride
    ) -> None: ...

    def clear_override(self, account_id: str, project_id: str, item: str) -> None: ...

    def set_feature_override(
        self, account_id: str, feature: str, value: bool | str | None
    ) -> None: ...

    def set_price_override(self, account_id: str, target: str, value: str | None) -> None: ...

    def set_switch(self, account_id: str, project_id: str, item: str, enabled: bool) -> None: ...

    def insert_pack(
        self, grant_id: str, account_id: str, pack_id: str, now: datetime, source: str
    ) -> None: ...


class Subscriptions(Protocol):
    """The plan history and the pending period-end changes (C7)."""

    def record_plan(
        self,
        account_id: str,
        plan_id: str,
        billing_interval: str,
        catalog_hash: str,
        at: datetime,
    ) -> None: ...

    def change_plan(
        self,
        account_id: str,
        plan_id: str,
        billing_interval: str,
        catalog_hash: str,
        at: datetime,
    ) -> None: ...

    def history(self, account_ids: Sequence[str]) -> dict[str, list[PlanSpell]]: ...

    def pending(self, account_id: str) -> PendingChange | None: ...

    def set_pending(self, account_id: str, change: PendingChange | None) -> None: ...

    def due_changes(self, now: datetime) -> list[str]: ...


class Resources(Protocol):
    """Counted objects (D13); their counts are counters, written by :meth:`Counters.apply`."""

    def insert(self, row: ResourceRow) -> None: ...

    def get(self, resource_id: str) -> ResourceRow | None: ...

    def delete(self, resource_id: str) -> bool: ...

    def of_account(self, account_id: str, kind: str | None = None) -> list[ResourceRow]:
        """The account's objects (of one kind), oldest first."""
        ...

    def set_active(self, resource_id: str, active: bool) -> None: ...

    def set_read_only(self, resource_id: str, read_only: bool) -> None: ...


class Keys(Protocol):
    """API keys (A7, A8): their rows, never their text."""

    def insert(self, row: ApiKeyRow) -> None: ...

    def get(self, key_id: str) -> ApiKeyRow | None: ...

    def by_lookup(self, lookup: str) -> ApiKeyRow | None: ...

    def of_account(self, account_id: str, *, revoked: bool) -> list[ApiKeyRow]: ...

    def revoke(self, key_id: str, now: datetime) -> bool: ...

    def of_project(self, project_id: str) -> list[str]: ...


class Invoices(Protocol):
    """Invoices, their lines and numbering, account credit, and what period close reads (D10)."""

    def to_close(self, after: str, limit: int) -> list[AccountToClose]: ...

    def billing_terms(self, account_ids: Sequence[str]) -> dict[str, BillingTerms]: ...

    def insert(self, invoices: Sequence[Invoice], sequence: str, kind: str) -> set[str]: ...

    def take_numbers(self, sequence: str, count: int) -> int: ...

    def record_closes(self, closes: Sequence[ClosedPeriod], now: datetime) -> None:
        """Remember periods closed without an invoice, once each (B12)."""
        ...

    def record_close_failures(self, failures: Sequence[CloseFailure]) -> None:
        """Remember the accounts a close could not rate (the latest failure of each)."""
        ...

    def clear_close_failures(self, account_ids: Sequence[str]) -> None:
        """Forget the failures of accounts whose period closed since."""
        ...

    def close_failures(self) -> list[CloseFailure]:
        """The accounts the last closes could not rate, by account id."""
        ...

    def closed_through(self, account_id: str) -> datetime | None:
        """The end of the account's last closed period, invoiced or not; None if none was."""
        ...

    def credit_balances(
        self, account_ids: Sequence[str], *, lock: bool = False
    ) -> dict[str, Decimal]:
        """The account credit of the accounts with any (D10); ``lock`` takes their row locks
        first, so two transactions cannot spend the same credit."""
        ...

    def finalize(self, numbered: Sequence[tuple[str, str]], now: datetime) -> None: ...

    def set_status(
        self, number: str, old: InvoiceStatus, new: InvoiceStatus, now: datetime
    ) -> bool: ...

    def of_account(self, account_id: str) -> list[Invoice]: ...

    def by_number(self, number: str) -> Invoice | None: ...


class Payments(Protocol):
    """Checkout sessions and the provider's payment events (B8, B11)."""

    def insert_checkout(
        self,
        checkout_id: str,
        request: CheckoutRequest,
        url: str,
        now: datetime,
        *,
        provider_url: str | None = None,
    ) -> Checkout:
        """A new open checkout; ``provider_url``, the provider's own page, is kept and answered
        instead of ``url``."""
        ...

    def checkout(self, checkout_id: str, url: str) -> Checkout | None:
        """The checkout, with its kept provider URL or else ``url``."""
        ...

    def close_checkout(self, checkout_id: str, status: str) -> bool: ...

    def record_event(self, event: PaymentEvent, now: datetime) -> bool: ...

    def customer_id(self, account_id: str, provider: str) -> str | None: ...

    def remember_customer(
        self, account_id: str, provider: str, customer_id: str, now: datetime
    ) -> str: ...

    def events(self) -> list[RecordedPaymentEvent]: ...

    def customer_details(self, account_id: str, provider: str) -> CustomerDetails | None: ...

    def set_customer_details(
        self, account_id: str, provider: str, details: CustomerDetails
    ) -> None: ...

    def set_invoice_payment(
        self, number: str, account_id: str, payment: str, checkout_id: str, now: datetime
    ) -> None: ...

    def invoice_payment(self, number: str) -> str | None: ...

    def invoice_of_payment(self, payment: str) -> str | None: ...

    def insert_mirror(self, number: str, account_id: str, now: datetime) -> None: ...

    def claim_mirror(self, number: str, now: datetime, until: datetime) -> int | None: ...

    def settle_mirror(self, number: str, now: datetime) -> None: ...

    def release_mirror(self, number: str, failure: str) -> None: ...

    def mirrors(self, *, pending: bool = False) -> list[InvoiceMirror]: ...

    def mirror(self, number: str) -> InvoiceMirror | None: ...


class Outbox(Protocol):
    """Webhook events, their deliveries to endpoints and every attempt (D28). Workers
    coordinate through it: a claim leases deliveries, and an outcome is recorded only while
    the lease is still the worker's."""

    def insert_events(self, events: Sequence[WebhookEvent]) -> None: ...

    def to_fan_out(self, limit: int) -> list[WebhookEvent]:
        """The oldest events whose deliveries are not created yet."""
        ...

    def insert_deliveries(self, deliveries: Sequence[NewDelivery], now: datetime) -> None: ...

    def mark_fanned_out(self, event_ids: Sequence[str]) -> None: ...

    def claim(self, worker: str, now: datetime, until: datetime, limit: int) -> list[DeliveryLease]:
        """Lease up to ``limit`` due deliveries to ``worker`` until ``until``."""
        ...

    def record(self, outcomes: Sequence[AttemptOutcome], now: datetime) -> None: ...

    def release(self, leases: Sequence[DeliveryLease], worker: str) -> None: ...

    def replay(self, delivery_id: str, now: datetime) -> bool:
        """Queue a settled delivery again at once; False if it is pending."""
        ...

    def event(self, event_id: str) -> WebhookEvent | None: ...

    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, WebhookEvent]: ...

    def events(
        self, *, account_id: str | None, event_type: str | None, limit: int
    ) -> list[WebhookEvent]: ...

    def delivery(self, delivery_id: str) -> Delivery | None: ...

    def deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        event_id: str | None = None,
        status: DeliveryStatus | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[Delivery]: ...

    def attempts(self, delivery_id: str) -> list[Attempt]: ...


class WebhookEndpoints(Protocol):
    """Webhook endpoints and their signing secrets (D28)."""

    def insert(self, endpoint: Endpoint) -> None: ...

    def update(self, endpoint: Endpoint) -> None: ...

    def get(self, endpoint_id: str) -> Endpoint | None: ...

    def find(
        self, *, account_id: str | None = None, owner: Owner | None = None
    ) -> list[Endpoint]: ...

    def receiving(self, account_ids: Sequence[str]) -> list[Endpoint]:
        """The enabled endpoints that may receive events of these accounts."""
        ...

    def count_locked(self, account_id: str, owner: Owner) -> int:
        """How many endpoints of ``owner`` the account has, counted so that two registrations
        at once cannot both pass a limit."""
        ...

    def delete(self, endpoint_id: str) -> None: ...

    def insert_secret(
        self, endpoint_id: str, secret: str, now: datetime, *, overlap_until: datetime
    ) -> EndpointSecret: ...

    def secrets_of(self, endpoint_ids: Sequence[str]) -> dict[str, list[EndpointSecret]]: ...


class WebAccess(Protocol):
    """The dashboard's sign-in links, browser sessions and sign-in attempts."""

    def insert_link(
        self, token_hash: str, account_id: str, now: datetime, expires_at: datetime
    ) -> None: ...

    def use_link(self, token_hash: str, now: datetime) -> str | None:
        """Mark a live link used and return its account, in one conditional write."""
        ...

    def insert_session(self, row: SessionRow) -> None: ...

    def live_session(self, id_hash: str, now: datetime) -> SessionRow | None: ...

    def end_session(self, id_hash: str, now: datetime) -> None: ...

    def set_flash(self, id_hash: str, flash: str | None) -> None: ...

    def revoked_key_count(self, account_id: str, kinds: Sequence[str]) -> int: ...

    def registered_account(self, email: str) -> Registered | None: ...

    def admit_attempt(
        self, subject: str, now: datetime, window_start_after: datetime, most: int
    ) -> bool:
        """Count one sign-in attempt if its window has room, checked in the same write."""
        ...

    def window_of(self, subject: str) -> datetime | None: ...

    def forget_attempts(self, subject: str) -> None: ...


class Directory(Protocol):
    """Accounts and invoices read a page at a time, for the consoles."""

    def account_page(
        self,
        *,
        query: str | None,
        plan: str | None,
        pending_kind: str | None,
        settled: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[AccountListing], int]: ...

    def invoice_page(
        self, *, account_id: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[Invoice], int]: ...


class Wallets(Protocol):
    """The wallet's ledger, auto-reload settings, reloads and deposits (D20–D24). The balance
    is a counter, moved by :meth:`Counters.apply`; these are the entries that say why."""

    def insert_entry(self, entry: LedgerEntry) -> bool:
        """Write one entry; False when an entry of its kind and reference exists (once)."""
        ...

    def entries(
        self, account_id: str, book: Book, *, before: int | None, limit: int
    ) -> list[tuple[int, LedgerEntry]]:
        """Newest first, each with its position in the ledger (``before`` pages on)."""
        ...

    def entry(self, entry_id: str) -> LedgerEntry | None: ...

    def by_reference(self, kind: EntryKind, reference: str) -> LedgerEntry | None: ...

    def total(self, account_id: str, book: Book) -> Decimal:
        """The sum of the account's entries of one book, computed by the database."""
        ...

    def refunded(self, entry_ids: Sequence[str]) -> set[str]: ...

    def spend_by_operation(
        self, account_id: str, start: datetime, end: datetime
    ) -> dict[str, tuple[int, Decimal]]:
        """Operation -> (quantity, amount) charged less refunded in [start, end)."""
        ...

    def settings(self, account_id: str) -> WalletSettings: ...

    def set_settings(self, account_id: str, settings: WalletSettings) -> None: ...

    def insert_reload(self, reload: Reload) -> bool: ...

    def settle_reload(
        self, reload_id: str, status: ReloadStatus, reason: str | None, now: datetime
    ) -> bool:
        """Settle a pending reload; False when it was settled before."""
        ...

    def reloads(self, account_id: str, *, pending: bool = False) -> list[Reload]: ...

    def insert_deposit(
        self, checkout_id: str, account_id: str, amount: Decimal, now: datetime
    ) -> None: ...

    def deposit(self, checkout_id: str) -> tuple[str, Decimal] | None: ...

    def insert_item(self, item: MarketplaceItem) -> None: ...

    def set_item_price(self, item_id: str, price: Decimal) -> bool: ...

    def item(self, item_id: str) -> MarketplaceItem | None: ...

    def items_of(self, creator_id: str) -> list[MarketplaceItem]: ...

    def creators_to_pay(self) -> list[str]: ...

    def lock_creator(self, creator_id: str) -> None:
        """Make concurrent payout runs of one creator wait for each other."""
        ...

    def take_for_payout(self, creator_id: str, payout_id: str) -> int:
        """Mark the creator's unpaid earnings entries as paid by ``payout_id`` (once)."""
        ...

    def insert_payout(self, payout: Payout) -> None: ...

    def pending_payouts(self) -> list[Payout]: ...

    def settle_payout(self, payout_id: str, now: datetime) -> bool: ...


class Movements(Protocol):
    """Money sent back and out through the provider: refunds recorded before the provider is
    asked, creators' provider accounts, claims on payouts and refunds (one run at a time asks
    the provider for each), and what a lost dispute left owed."""

    def insert_refund(self, refund: MoneyRefund) -> None: ...

    def refunds_of(self, source: str, reference: str) -> list[MoneyRefund]: ...

    def refund(self, refund_id: str) -> MoneyRefund | None: ...

    def pending_refunds(self) -> list[MoneyRefund]: ...

    def claim_refund(self, refund_id: str, now: datetime, until: datetime) -> int | None:
        """Count an attempt of a pending refund and hold it until ``until``: the attempt's
        number, or None when it is settled or held by another run."""
        ...

    def settle_refund(
        self, refund_id: str, status: RefundStatus, failure: str | None, now: datetime
    ) -> bool: ...

    def release_refund(self, refund_id: str, failure: str) -> None: ...

    def claim_payout(self, payout_id: str, now: datetime, until: datetime) -> int | None: ...

    def release_payout(self, payout_id: str) -> None: ...

    def creator_account(self, creator_id: str) -> CreatorAccount | None: ...

    def creator_by_provider(self, provider_account: str) -> CreatorAccount | None: ...

    def insert_creator_account(self, account: CreatorAccount) -> bool: ...

    def set_payouts_enabled(self, provider_account: str, enabled: bool, now: datetime) -> bool: ...

    def lock_invoice(self, invoice_id: str) -> None: ...

    def owed(self, account_id: str, *, lock: bool = False) -> Decimal: ...

    def add_owed(self, account_id: str, amount: Decimal) -> None: ...

    def set_deposit_payment(self, checkout_id: str, payment: str) -> None: ...

    def deposit_payment(self, checkout_id: str) -> str | None: ...

    def deposit_of_payment(self, payment: str) -> str | None: ...

    def paid_reload(self, reload_id: str) -> tuple[str, Decimal] | None: ...

    def insert_dispute(self, dispute: PaymentDispute) -> bool: ...

    def close_dispute(self, dispute_id: str, status: str, now: datetime) -> bool: ...

    def dispute(self, dispute_id: str) -> PaymentDispute | None: ...

    def disputes_of(self, account_id: str) -> list[PaymentDispute]: ...


class Collections(Protocol):
    """Invoice collections and their attempts (D10, D29). Runners coordinate through it: an
    attempt is made only under a lease one conditional write gives, and each attempt of an
    invoice is recorded once, under its own idempotency key."""

    def enqueue(self, now: datetime) -> int:
        """Open a collection, due now, for each finalized invoice with an amount due."""
        ...

    def open_for(self, invoice: Invoice, now: datetime) -> Collection: ...

    def get(self, number: str, *, lock: bool = False) -> Collection | None: ...

    def of_account(self, account_id: str) -> list[Collection]: ...

    def open_of_account(self, account_id: str) -> list[Collection]: ...

    def due(self, now: datetime, limit: int) -> list[str]: ...

    def lease(
        self, number: str, worker: str, now: datetime, until: datetime, *, due_only: bool = True
    ) -> Collection | None:
        """Lease the invoice's next attempt to ``worker``; None if another runner has it, or
        (with ``due_only``) it is not due."""
        ...

    def holds_lease(self, number: str, worker: str, now: datetime) -> bool: ...

    def release(self, number: str, worker: str) -> None: ...

    def update(self, collection: Collection) -> None: ...

    def insert_attempt(self, attempt: CollectionAttempt) -> bool: ...

    def settle_attempt(
        self, number: str, attempt: int, status: AttemptStatus, reason: str | None, now: datetime
    ) -> bool: ...

    def attempt(self, number: str, attempt: int) -> CollectionAttempt | None: ...

    def attempts(self, numbers: Sequence[str]) -> list[CollectionAttempt]: ...

    def settled_elsewhere(self, limit: int) -> list[str]: ...


class AuditLog(Protocol):
    """The audit log: append-only entries of billing changes, read newest first."""

    def append(self, entry: AuditEntry) -> None:
        """Write one entry, in the transaction of the change it records."""
        ...

    def entries(
        self,
        *,
        account_id: str | None,
        kind: str | None,
        before: int | None,
        limit: int,
        family: str | None = None,
    ) -> list[tuple[int, AuditEntry]]:
        """Newest first, each with its position (``before`` pages on to older ones); ``family``
        keeps the kinds that start with it (``webhook.``)."""
        ...


class Alerts(Protocol):
    """Alerts set on an account, each one's last firing, and the account's budget (D25, D26)."""

    def insert(self, account_id: str, alert: Alert, at: datetime) -> None: ...

    def of_account(self, account_id: str) -> list[Alert]:
        """The account's own alerts, oldest first."""
        ...

    def count(self, account_id: str) -> int: ...

    def delete(self, account_id: str, alert_id: str) -> bool:
        """Delete an alert and its state; False when the account has no such alert."""
        ...

    def trigger(
        self, account_id: str, alert: Alert, period: str, value: str | None, at: datetime
    ) -> bool:
        """Fire ``alert``: True when it was armed (never fired, or resolved since)."""
        ...

    def resolve(
        self,
        account_id: str,
        alert_ids: Sequence[str] | None,
        at: datetime,
        reason: str,
        *,
        before_period: str | None = None,
        of_period: str | None = None,
    ) -> list[AlertState]:
        """Resolve open states (those named, those of another period than
        ``before_period``, or those of ``of_period``); the states resolved, as they were."""
        ...

    def states(self, account_id: str, *, open_only: bool = False) -> list[AlertState]: ...

    def budget(self, account_id: str) -> Budget | None: ...

    def set_budget(self, account_id: str, budget: Budget | None, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One transaction and the ports that work inside it."""

    @property
    def counters(self) -> Counters: ...

    @property
    def idempotency(self) -> Idempotency: ...

    @property
    def history(self) -> UsageHistory: ...

    @property
    def reservations(self) -> Reservations: ...

    @property
    def accounts(self) -> Accounts: ...

    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def resources(self) -> Resources: ...

    @property
    def keys(self) -> Keys: ...

    @property
    def invoices(self) -> Invoices: ...

    @property
    def payments(self) -> Payments: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def webhooks(self) -> WebhookEndpoints: ...

    @property
    def access(self) -> WebAccess: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def wallet(self) -> Wallets: ...

    @property
    def movements(self) -> Movements: ...

    @property
    def collections(self) -> Collections: ...

    @property
    def audit(self) -> AuditLog: ...


class Store(Protocol):
    """A backend: ``with store.transaction() as tx`` commits when the block ends, rolls back
    when it raises. A database that cannot do the work raises ``StoreUnavailableError``."""

    @property
    def backend(self) -> str: ...

    def transaction(self) -> AbstractContextManager[UnitOfWork]: ...

    def close(self) -> None: ...


__all__ = [
    "Accounts",
    "Admission",
    "Applied",
    "AuditLog",
    "Collections",
    "Counters",
    "Directory",
    "Idempotency",
    "Invoices",
    "KeyRecord",
    "Keys",
    "Outbox",
    "Outcome",
    "Payments",
    "Recordable",
    "Refused",
    "Reservations",
    "Resources",
    "Stale",
    "Store",
    "Subscriptions",
    "Taken",
    "UnitOfWork",
    "UsageHistory",
    "Wallets",
    "WebAccess",
    "WebhookEndpoints",
]
