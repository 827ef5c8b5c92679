"""The operator console's engine calls: one function per page or lever, nothing else calls it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from meterstack.answers import AccountListing, CloseFailure
from meterstack.bounds import whole_number
from meterstack.catalog.render import comparison_rows, format_limit
from meterstack.catalog.schema import Catalog
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError
from meterstack.records.audit import Actor, AuditEntry
from meterstack.records.invoicing import Invoice
from meterstack.records.wallet import WalletView
from meterstack.records.webhooks import Attempt, Delivery, DeliveryStatus, WebhookEvent
from meterstack.server.dashboard.pages import decimal_field
from meterstack.server.dashboard.rendering import unit_price
from meterstack.server.dashboard.usage_view import (
    ResourceCount,
    UsageBar,
    resource_counts,
    usage_bars,
)
from meterstack.services.accounts import Account
from meterstack.services.directory import Page
from meterstack.services.subscriptions import Subscription
from meterstack.services.usage import UsageReport

ACCOUNTS_PER_PAGE = 50
INVOICES_PER_PAGE = 50
RECENT_INVOICES = 10
#: Audit entries shown on an account's page, a page at a time.
AUDIT_PER_PAGE = 20


def accounts(
    engine: Engine, *, query: str, plan: str, status: str, page: int
) -> Page[AccountListing]:
    return engine.directory.accounts(
        query=query or None,
        plan=plan or None,
        status=status or None,
        page=page,
        size=ACCOUNTS_PER_PAGE,
    )


@dataclass(frozen=True)
class AccountPicture:
    catalog: Catalog
    account: Account
    subscription: Subscription
    report: UsageReport
    bars: list[UsageBar]
    resources: list[ResourceCount]
    invoices: Page[Invoice]
    wallet: WalletView


def account(engine: Engine, account_id: str) -> AccountPicture:
    catalog = engine.catalog
    report = engine.usage(account_id)
    objects = engine.resources(account_id) if catalog.resources else []
    return AccountPicture(
        catalog=catalog,
        account=engine.account(account_id),
        subscription=engine.subscription(account_id),
        report=report,
        bars=usage_bars(catalog, report),
        resources=resource_counts(catalog, report, objects),
        invoices=engine.directory.invoices(account_id, size=RECENT_INVOICES),
        wallet=engine.wallet(account_id),
    )


def _limit(text: str) -> int | None:
    """A whole number, or ``unlimited`` (None)."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if cleaned.lower() == "unlimited":
        return None
    return whole_number(cleaned, "limit")


def _grace(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInputError(f"grace must be a percentage such as 10, got {text!r}") from None


def set_limit(
    engine: Engine, account_id: str, item: str, limit: str, grace: str, *, actor: Actor
) -> str:
    value = _limit(limit)
    engine.set_limit(account_id, item, value, grace=_grace(grace), actor=actor)
    unit = engine.catalog.items[item].unit if item in engine.catalog.items else "unit"
    return f"{item} limit set to {format_limit(value, unit)} for {account_id}."


def clear_limit(engine: Engine, account_id: str, item: str, *, actor: Actor) -> str:
    engine.clear_limit(account_id, item, actor=actor)
    return f"{item} is back to the plan's limit."


def change_plan(
    engine: Engine, account_id: str, plan: str, interval: str | None, *, actor: Actor
) -> str:
    change = engine.change_plan(account_id, plan, interval, actor=actor)
    if change.immediate:
        return f"Moved to {change.subscription.plan} now."
    return f"Moves to {change.subscription.pending_plan} at the end of the period."


def grant_pack(engine: Engine, account_id: str, pack: str, *, actor: Actor) -> str:
    engine.grant_pack(account_id, pack, actor=actor)
    return f"Pack {pack} granted (no charge)."


def set_overage(
    engine: Engine, account_id: str, enabled: bool, meter: str | None, *, actor: Actor
) -> str:
    engine.set_overage(account_id, enabled, meter=meter, actor=actor)
    return f"Overage {'on' if enabled else 'off'} for {meter or 'every meter'}."


#: The longest reason an adjustment may carry (it is the ledger entry's memo).
REASON_CHARS = 500


def adjust_wallet(
    engine: Engine, account_id: str, amount: str, reason: str, *, actor: Actor
) -> str:
    """An operator's correction of the wallet, either sign, with its reason (D20): never
    below zero (the engine refuses it, 402, and nothing changes)."""
    if not reason:
        raise InvalidInputError("an adjustment needs a reason", field="reason")
    if len(reason) > REASON_CHARS:
        raise InvalidInputError(f"a reason holds at most {REASON_CHARS} characters", field="reason")
    value = decimal_field(amount, "amount")
    balance = engine.adjust_wallet(account_id, value, reason, actor=actor)
    currency = engine.catalog.currency
    return (
        f"Wallet adjusted by {unit_price(value, currency)}: the balance of {account_id} is "
        f"{unit_price(balance, currency)}."
    )


def mint_link(engine: Engine, account_id: str, *, actor: Actor) -> str:
    """A sign-in link's token, to hand to the customer."""
    return engine.access.mint_link(account_id, actor=actor).token


@dataclass(frozen=True)
class CatalogPlans:
    catalog: Catalog
    rows: list[tuple[str, list[str | None]]]


def plans(engine: Engine) -> CatalogPlans:
    return CatalogPlans(engine.catalog, comparison_rows(engine.catalog))


def invoices(engine: Engine, *, status: str, page: int) -> Page[Invoice]:
    return engine.directory.invoices(status=status or None, page=page, size=INVOICES_PER_PAGE)


def invoice(engine: Engine, number: str) -> Invoice:
    return engine.invoice(number)


# --------------------------------------------------------------------------- audit log


@dataclass(frozen=True)
class AuditChange:
    """One field an audited change moved: its value before and after, as compact JSON."""

    field: str
    before: str
    after: str


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    #: None for an operator-wide change (an endpoint of every account's events).
    account_id: str | None
    kind: str
    actor: str
    reason: str | None
    changes: list[AuditChange]


@dataclass(frozen=True)
class AuditTrail:
    rows: list[AuditRow]
    #: The cursor of the next (older) page; None at the oldest.
    older: str | None


def audit_trail(engine: Engine, account_id: str, before: str) -> AuditTrail:
    """The account's audit log for its page, newest first, ``AUDIT_PER_PAGE`` at a time."""
    page = engine.audit(account_id=account_id, before=before or None, limit=AUDIT_PER_PAGE)
    return AuditTrail([_audit_row(entry) for entry in page.entries], page.next_before)


#: The kinds of the webhook endpoints' changes, shown with the deliveries.
ENDPOINT_CHANGES = "webhook.*"


def endpoint_changes(engine: Engine, before: str) -> AuditTrail:
    """Every account's webhook endpoint changes and the operator's own, newest first."""
    page = engine.audit(kind=ENDPOINT_CHANGES, before=before or None, limit=AUDIT_PER_PAGE)
    return AuditTrail([_audit_row(entry) for entry in page.entries], page.next_before)


def _audit_row(entry: AuditEntry) -> AuditRow:
    actor = entry.actor.kind if entry.actor.id is None else f"{entry.actor.kind} {entry.actor.id}"
    return AuditRow(entry.at, entry.account_id, entry.kind, actor, entry.reason, _changes(entry))


def _changes(entry: AuditEntry) -> list[AuditChange]:
    """The fields whose values differ between before and after (all of them for a creation)."""
    before, after = entry.before or {}, entry.after or {}
    changes = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new or not before:
            changes.append(AuditChange(name, _compact(old), _compact(new)))
    return changes


def _compact(value: object) -> str:
    return "–" if value is None else json.dumps(value, sort_keys=True, separators=(", ", ": "))


def close_failures(engine: Engine) -> list[CloseFailure]:
    """The accounts the period closes could not rate, until their period closes."""
    return engine.close_failures()


# --------------------------------------------------------------------------- webhooks

DELIVERIES_SHOWN = 100


@dataclass(frozen=True)
class DeliveriesPage:
    deliveries: list[Delivery]
    status: str
    statuses: tuple[str, ...]
    limit: int


def deliveries(engine: Engine, *, status: str) -> DeliveriesPage:
    if status and status not in set(DeliveryStatus):
        raise InvalidInputError(
            f"status must be one of {', '.join(DeliveryStatus)}, got {status!r}", field="status"
        )
    found = engine.webhooks.deliveries(status=status or None, limit=DELIVERIES_SHOWN)
    return DeliveriesPage(found, status, tuple(DeliveryStatus), DELIVERIES_SHOWN)


@dataclass(frozen=True)
class DeliveryPage:
    delivery: Delivery
    attempts: list[Attempt]
    event: WebhookEvent
    endpoint_url: str

    @property
    def replayable(self) -> bool:
        return self.delivery.status != DeliveryStatus.PENDING


def delivery(engine: Engine, delivery_id: str) -> DeliveryPage:
    found = engine.webhooks.delivery(delivery_id)
    return DeliveryPage(
        delivery=found,
        attempts=engine.webhooks.attempts(delivery_id),
        event=engine.webhooks.event(found.event_id),
        endpoint_url=engine.webhooks.endpoints.get(found.endpoint_id).url,
    )


def replay(engine: Engine, delivery_id: str) -> str:
    replayed = engine.webhooks.replay(delivery_id)
    return f"Delivery {replayed.id} of {replayed.event_type} is queued to be sent again now."
