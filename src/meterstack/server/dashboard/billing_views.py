"""The customer pages' engine calls: one function per page or form, nothing else calls the engine.

Each page function gathers what its template shows; each action function makes one change and
returns the notice the next page shows. They hold no rule of their own: what may be bought,
switched or created is decided by the engine, whose refusal the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from meterstack.catalog.render import comparison_rows, format_charge, format_limit
from meterstack.catalog.schema import UNLIMITED, Catalog, Meter, Plan, PlanPrice, Unlimited
from meterstack.engine import Engine
from meterstack.errors import NotFoundError
from meterstack.records.audit import Actor
from meterstack.records.invoicing import Invoice
from meterstack.records.wallet import WalletView
from meterstack.rules.terms import PROJECT_KIND
from meterstack.server.dashboard.usage_view import (
    ResourceCount,
    UsageBar,
    resource_counts,
    usage_bars,
)
from meterstack.services.accounts import Account
from meterstack.services.directory import Page
from meterstack.services.invoicing.purchases import PackPurchase
from meterstack.services.keys import MODULES, ApiKey, IssuedKey
from meterstack.services.resources import ResourceObject
from meterstack.services.subscriptions import Subscription
from meterstack.services.usage import UsageReport

INVOICES_PER_PAGE = 20


@dataclass(frozen=True)
class Overview:
    account: Account
    subscription: Subscription
    plan: Plan
    report: UsageReport
    bars: list[UsageBar]
    resources: list[ResourceCount]
    #: The wallet, when the catalog has one (B2).
    wallet: WalletView | None


def overview(engine: Engine, account_id: str) -> Overview:
    subscription = engine.subscription(account_id)
    report = engine.usage(account_id)
    catalog = engine.catalog
    objects = engine.resources(account_id) if catalog.resources else []
    return Overview(
        account=engine.account(account_id),
        subscription=subscription,
        plan=catalog.plan(subscription.plan),
        report=report,
        bars=usage_bars(catalog, report),
        resources=resource_counts(catalog, report, objects),
        wallet=engine.wallet(account_id) if catalog.wallet is not None else None,
    )


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class LimitChange:
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class PlanOffer:
    plan: Plan
    current: bool
    #: ``upgrade`` (through checkout), ``downgrade`` (at period end) or None (not self-serve).
    move: str | None
    #: What the account would lose moving there (limits that go down).
    losses: list[LimitChange]


@dataclass(frozen=True)
class PlansPage:
    catalog: Catalog
    subscription: Subscription
    rows: list[tuple[str, list[str | None]]]
    offers: list[PlanOffer]
    #: What the waiting downgrade or cancellation takes away, when one waits.
    pending_losses: list[LimitChange]


def _limit_order(value: int | Unlimited) -> tuple[bool, int]:
    """Limits in order, unlimited above every number."""
    return (True, 0) if value is UNLIMITED else (False, int(value))


def limit_losses(catalog: Catalog, before: Plan, after: Plan) -> list[LimitChange]:
    """The limits that are lower on ``after`` than on ``before``, as people read them."""
    losses = []
    for item_id, item in catalog.items.items():
        old, new = before.limits.get(item_id), after.limits.get(item_id)
        if old is None or new is None or _limit_order(new) >= _limit_order(old):
            continue
        losses.append(
            LimitChange(item.name, format_limit(old, item.unit), format_limit(new, item.unit))
        )
    return losses


def _move(catalog: Catalog, current: Plan, plan: Plan) -> str | None:
    """Which button a plan gets. Only an offer: the engine decides whether the move is allowed."""
    if plan.id == current.id or not plan.self_serve or not isinstance(plan.price, PlanPrice):
        return None
    return "upgrade" if catalog.tier_rank(plan.id) > catalog.tier_rank(current.id) else "downgrade"


def plans(engine: Engine, account_id: str) -> PlansPage:
    catalog = engine.catalog
    subscription = engine.subscription(account_id)
    current = catalog.plan(subscription.plan)
    pending = subscription.pending
    return PlansPage(
        catalog=catalog,
        subscription=subscription,
        rows=comparison_rows(catalog),
        offers=[
            PlanOffer(
                plan,
                plan.id == current.id,
                _move(catalog, current, plan),
                limit_losses(catalog, current, plan),
            )
            for plan in catalog.plans
        ],
        pending_losses=[]
        if pending is None
        else limit_losses(catalog, current, catalog.plan(pending.plan_id)),
    )


def start_checkout(
    engine: Engine, account_id: str, plan: str, interval: str, return_to: str
) -> str:
    """The hosted checkout of an upgrade; its URL, to send the browser to (B8)."""
    made = engine.checkout(
        account_id,
        plan=plan,
        interval=interval,
        success_url=f"{return_to}?checkout=paid",
        cancel_url=return_to,
    )
    return made.url


def downgrade(
    engine: Engine, account_id: str, plan: str, interval: str | None, *, actor: Actor
) -> str:
    change = engine.downgrade(account_id, plan, interval, actor=actor)
    pending = change.subscription.pending
    if pending is None:
        return f"You are now on {engine.catalog.plan(change.subscription.plan).name}."
    when = pending.effective_at.date().isoformat()
    return f"Your plan moves to {engine.catalog.plan(pending.plan_id).name} on {when}."


def cancel(engine: Engine, account_id: str, *, actor: Actor) -> str:
    subscription = engine.cancel(account_id, actor=actor)
    assert subscription.pending is not None
    when = subscription.pending.effective_at.date().isoformat()
    fallback = engine.catalog.plan(subscription.pending.plan_id).name
    return (
        f"Your subscription is cancelled: it stays active until {when}, then moves to {fallback}."
    )


def resume(engine: Engine, account_id: str, *, actor: Actor) -> str:
    subscription = engine.resume(account_id, actor=actor)
    return f"Your {engine.catalog.plan(subscription.plan).name} plan continues."


# --------------------------------------------------------------------------- overage and packs


@dataclass(frozen=True)
class OverageSwitch:
    item: str
    meter: Meter
    enabled: bool
    #: The plan's overage price, as people read it (``$1.00 / 1,000 calls, min $0.01``).
    price: str


@dataclass(frozen=True)
class OveragePage:
    catalog: Catalog
    plan: Plan
    report: UsageReport
    #: The meters whose plan offers overage, with the project's or the account's switch.
    meters: list[OverageSwitch]
    projects: list[ResourceObject]
    project: ResourceObject | None
    bars: list[UsageBar]


def overage(engine: Engine, account_id: str, project_id: str | None) -> OveragePage:
    catalog = engine.catalog
    account_report = engine.usage(account_id)
    report = (
        account_report if project_id is None else engine.usage(account_id, project_id=project_id)
    )
    plan = catalog.plan(account_report.plan)
    projects = (
        engine.resources(account_id, PROJECT_KIND) if PROJECT_KIND in catalog.resources else []
    )
    meters = [
        OverageSwitch(
            item,
            meter,
            report[item].overage_enabled,
            format_charge(plan.overage[item].charge, meter.unit, catalog.currency),
        )
        for item, meter in catalog.meters.items()
        if item in plan.overage and item in report.items
    ]
    return OveragePage(
        catalog=catalog,
        plan=plan,
        report=report,
        meters=meters,
        projects=projects,
        project=next((p for p in projects if p.id == project_id), None),
        bars=usage_bars(catalog, account_report),
    )


def switch_overage(
    engine: Engine,
    account_id: str,
    enabled: bool,
    meter: str | None,
    project_id: str | None,
    *,
    actor: Actor,
) -> str:
    engine.switch_overage(account_id, enabled, meter=meter, project_id=project_id, actor=actor)
    what = engine.catalog.meters[meter].name if meter else "every meter"
    where = f" for project {project_id}" if project_id else ""
    return f"Overage {'on' if enabled else 'off'} for {what}{where}."


def buy_pack(
    engine: Engine, account_id: str, pack_id: str, *, actor: Actor
) -> tuple[str | None, str]:
    """(a checkout URL to pay at first, or None when bought at once; the notice)."""
    result = engine.purchase_pack(account_id, pack_id, actor=actor)
    if not isinstance(result, PackPurchase):
        return result.url, ""
    pack = engine.catalog.packs[pack_id]
    item = engine.catalog.items[pack.item]
    limit = format_limit(result.new_limit, item.unit)
    return (
        None,
        f"{pack.name} bought: {item.name} limit is now {limit} (invoice {result.invoice.number}).",
    )


# --------------------------------------------------------------------------- invoices


def invoices(engine: Engine, account_id: str, page: int) -> Page[Invoice]:
    return engine.directory.invoices(account_id, page=page, size=INVOICES_PER_PAGE)


def invoice(engine: Engine, account_id: str, number: str) -> Invoice:
    """One of the account's invoices; another account's answers 404, as an unknown one does."""
    found = engine.invoice(number)
    if found.account_id != account_id:
        raise NotFoundError(f"no invoice {number!r}", number=number)
    return found


# --------------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class KeysPage:
    catalog: Catalog
    keys: list[ApiKey]
    projects: list[ResourceObject]
    modules: tuple[str, ...]
    report: UsageReport


def keys(engine: Engine, account_id: str) -> KeysPage:
    catalog = engine.catalog
    projects = (
        engine.resources(account_id, PROJECT_KIND) if PROJECT_KIND in catalog.resources else []
    )
    return KeysPage(
        catalog=catalog,
        keys=engine.api_keys(account_id),
        projects=projects,
        modules=MODULES,
        report=engine.usage(account_id),
    )


def create_key(
    engine: Engine,
    account_id: str,
    *,
    name: str | None,
    project_id: str | None,
    modules: list[str] | None,
    quotas: dict[str, int] | None,
    actor: Actor,
) -> IssuedKey:
    return engine.create_api_key(
        account_id, project_id=project_id, name=name, modules=modules, quotas=quotas, actor=actor
    )


def revoke_key(engine: Engine, account_id: str, key_id: str, *, actor: Actor) -> str:
    engine.revoke_api_key(key_id, account_id=account_id, actor=actor)
    return f"Key {key_id} is revoked: it no longer works anywhere."
