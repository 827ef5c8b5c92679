"""The operator console's engine calls: one function per page or lever, nothing else calls it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from meterstack.catalog.render import comparison_rows, format_limit
from meterstack.catalog.schema import Catalog
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError
from meterstack.server.dashboard.usage_view import (
    ResourceCount,
    UsageBar,
    resource_counts,
    usage_bars,
)
from meterstack.services.accounts import Account
from meterstack.services.directory import Page
from meterstack.services.invoicing.model import Invoice
from meterstack.services.subscriptions import Subscription
from meterstack.services.usage import UsageReport
from meterstack.store.rows import AccountListing

ACCOUNTS_PER_PAGE = 50
INVOICES_PER_PAGE = 50
RECENT_INVOICES = 10


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
    )


def _limit(text: str) -> int | None:
    """A whole number, or ``unlimited`` (None)."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if cleaned.lower() == "unlimited":
        return None
    if not cleaned.isdigit():
        raise InvalidInputError(f"limit must be a whole number or 'unlimited', got {text!r}")
    return int(cleaned)


def _grace(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInputError(f"grace must be a percentage such as 10, got {text!r}") from None


def set_limit(engine: Engine, account_id: str, item: str, limit: str, grace: str) -> str:
    value = _limit(limit)
    engine.set_limit(account_id, item, value, grace=_grace(grace))
    unit = engine.catalog.items[item].unit if item in engine.catalog.items else "unit"
    return f"{item} limit set to {format_limit(value, unit)} for {account_id}."


def clear_limit(engine: Engine, account_id: str, item: str) -> str:
    engine.clear_limit(account_id, item)
    return f"{item} is back to the plan's limit."


def change_plan(engine: Engine, account_id: str, plan: str, interval: str | None) -> str:
    change = engine.change_plan(account_id, plan, interval)
    if change.immediate:
        return f"Moved to {change.subscription.plan} now."
    return f"Moves to {change.subscription.pending_plan} at the end of the period."


def grant_pack(engine: Engine, account_id: str, pack: str) -> str:
    engine.grant_pack(account_id, pack)
    return f"Pack {pack} granted (no charge)."


def set_overage(engine: Engine, account_id: str, enabled: bool, meter: str | None) -> str:
    engine.set_overage(account_id, enabled, meter=meter)
    return f"Overage {'on' if enabled else 'off'} for {meter or 'every meter'}."


def mint_link(engine: Engine, account_id: str) -> str:
    """A sign-in link's token, to hand to the customer."""
    return engine.access.mint_link(account_id).token


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
