"""What the store hands back: typed rows, never positional tuples.

Every port of ``store.ports`` returns these values, whatever the backend; the services read
fields by name, so a column added or moved changes one adapter and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meterstack.records.webhooks import Attempt, DeliveryStatus, WebhookEvent
from meterstack.rules.admission import Totals
from meterstack.rules.terms import LimitOverride


@dataclass(frozen=True, slots=True)
class StoredCatalog:
    """A catalog version as stored: its content hash and YAML text."""

    content_hash: str
    content: str


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    catalog_hash: str
    plan_id: str
    billing_interval: str
    status: str
    period_anchor: datetime
    created_at: datetime
    version: int
    anonymous: bool
    email: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class AccountOnCatalog:
    """An account and the catalog version it is on (grandfathering)."""

    id: str
    catalog_hash: str
    plan_id: str


@dataclass(frozen=True, slots=True)
class Counter:
    """One counter row: an item's totals in one scope and period."""

    item: str
    scope: str
    period: str
    totals: Totals[int]


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """The decision stored under an idempotency key (D7), as its JSON text."""

    request_hash: str
    decision: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PrunedWindow:
    """One window of the history prune: buckets deleted, and the key the next window starts
    after (None once the end is reached)."""

    deleted: int
    last: tuple[object, ...] | None


@dataclass(frozen=True, slots=True)
class PurgedWindow:
    """One window of the idempotency purge: keys deleted, and where the next window starts
    (None once the end is reached)."""

    deleted: int
    last: tuple[str, str] | None


@dataclass(frozen=True, slots=True)
class ReservationRow:
    id: str
    account_id: str
    item: str
    period: str
    project_id: str | None
    quantity: int
    status: str
    created_at: datetime
    expires_at: datetime
    committed_quantity: int | None


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """A counted object: a project, an end user, an API key's slot, any catalog resource."""

    id: str
    account_id: str
    kind: str
    project_id: str | None
    end_user_id: str | None
    name: str | None
    active: bool
    read_only: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: str
    account_id: str
    project_id: str | None
    kind: str
    lookup: str
    secret_hash: str
    name: str | None
    #: The modules the key may use (A8); None = every module.
    modules: tuple[str, ...] | None
    #: Units per period per meter (A8); None = no quota.
    quotas: dict[str, int] | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlanSpell:
    """One plan an account had, from ``started_at`` until the next spell."""

    started_at: datetime
    plan_id: str
    billing_interval: str
    catalog_hash: str


@dataclass(frozen=True, slots=True)
class PendingChange:
    #: ``downgrade`` or ``cancel``.
    kind: str
    plan_id: str
    billing_interval: str
    effective_at: datetime
    requested_at: datetime


@dataclass(frozen=True, slots=True)
class AccountToClose:
    id: str
    catalog_hash: str
    plan_id: str
    billing_interval: str
    period_anchor: datetime
    created_at: datetime
    #: End of the last period already closed (invoiced, or closed without an invoice, B12);
    #: None when none was.
    closed_through: datetime | None


@dataclass(frozen=True, slots=True)
class CloseFailure:
    """An account a period close could not rate: the period it stopped at, and why."""

    account_id: str
    period_key: str
    failed_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    """A period closed without an invoice (a quiet month of a yearly plan, B12)."""

    account_id: str
    period_key: str
    period_end: datetime


@dataclass(frozen=True, slots=True)
class BillingTerms:
    """What rating needs of an account beyond its plan: packs, overrides, switches."""

    packs: tuple[str, ...] = ()
    #: item -> the operator's limit and grace (D14), account-wide
    overrides: dict[str, LimitOverride] | None = None
    #: item or ``ALL_ITEMS`` -> overage on, account-wide
    switches: dict[str, bool] | None = None
    #: (target, JSON) operator prices (D14), sorted by target
    prices: tuple[tuple[str, str], ...] = ()
    #: (pack id, when) of the packs bought (not granted by an operator)
    purchases: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedPaymentEvent:
    """A provider's payment event as applied (B11)."""

    id: str
    type: str
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to create: one event to one endpoint (D28)."""

    id: str
    event: WebhookEvent
    endpoint_id: str


@dataclass(frozen=True, slots=True)
class DeliveryLease:
    """A delivery claimed by a worker: the attempt number it holds, and the replay offset."""

    delivery_id: str
    attempt: int
    replayed_after: int


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What an attempt settled: the delivery's status, and when to try next if pending."""

    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A browser session of the dashboard, keyed by the SHA-256 of its cookie."""

    id_hash: str
    #: ``customer`` or ``operator``.
    kind: str
    account_id: str | None
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    #: How many of the account's user keys were revoked when it began (a later one ends it).
    revoked_keys: int
    operator_fingerprint: str | None
    flash: str | None


@dataclass(frozen=True, slots=True)
class Registered:
    """What a password sign-in needs of an account: its id and password hash."""

    account_id: str
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class AccountListing:
    """An account as the operator's console lists it."""

    id: str
    plan_id: str
    billing_interval: str
    email: str | None
    name: str | None
    anonymous: bool
    created_at: datetime
    #: ``downgrade`` or ``cancel`` when a period-end change waits; None otherwise.
    pending_kind: str | None
    pending_plan: str | None
