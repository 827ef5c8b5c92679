"""Typed answers of the newer endpoints: the OpenAPI document states what each one returns.

Money and percentages are decimal strings and ``null`` limits mean unlimited (D15).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from meterstack.catalog.schema import Catalog, Concurrency, Plan, PlanPrice, Resource, Unlimited
from meterstack.money import format_money
from meterstack.rules.decisions import Decision
from meterstack.server.insight_views import InsightsOut
from meterstack.services.collections.service import PaymentWarning
from meterstack.services.features import AccountEntitlements
from meterstack.services.usage import UsageReport


class DecisionOut(BaseModel):
    """A decision (the body of an allowed answer; a refusal is the error shape with it in
    ``details``)."""

    allowed: bool
    code: str
    http_status: int
    #: The meter, or the feature / module / object decided on.
    meter: str
    quantity: int
    used: int
    held: int
    limit: int | None
    hard_limit: int | None
    remaining: int | None
    overage_units: int
    warnings: list[str]
    as_of: str
    period: str
    scope: str
    message: str
    replayed: bool
    reservation_id: str | None
    period_end: str | None
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls.model_validate(decision.to_dict())


class FeatureOut(BaseModel):
    name: str
    #: true/false, or the level granted.
    value: bool | str
    granted: bool
    levels: list[str] | None
    #: An operator set this account's value (D14).
    overridden: bool


class LimitOut(BaseModel):
    kind: str
    unit: str
    #: null = unlimited.
    limit: int | None
    hard_limit: int | None
    grace_percent: str
    pack_units: int
    overridden: bool


class EntitlementsOut(BaseModel):
    account_id: str
    plan: str
    plan_name: str
    catalog: str
    catalog_version: int
    features: dict[str, FeatureOut]
    limits: dict[str, LimitOut]
    #: null = unlimited.
    analytics_retention_days: int | None
    analytics_exports: int | None
    support: str | None
    uptime_sla_percent: str | None
    payments: bool

    @classmethod
    def of(cls, granted: AccountEntitlements) -> EntitlementsOut:
        return cls(
            account_id=granted.account_id,
            plan=granted.plan,
            plan_name=granted.plan_name,
            catalog=granted.catalog,
            catalog_version=granted.catalog_version,
            features={
                feature_id: FeatureOut(
                    name=grant.name,
                    value=grant.value,
                    granted=grant.granted,
                    levels=None if grant.levels is None else list(grant.levels),
                    overridden=grant.overridden,
                )
                for feature_id, grant in granted.features.items()
            },
            limits={
                item: LimitOut(
                    kind=limit.kind,
                    unit=limit.unit,
                    limit=limit.limit,
                    hard_limit=limit.hard_limit,
                    grace_percent=str(limit.grace_percent),
                    pack_units=limit.pack_units,
                    overridden=limit.overridden,
                )
                for item, limit in granted.limits.items()
            },
            analytics_retention_days=granted.analytics_retention_days,
            analytics_exports=granted.analytics_exports,
            support=granted.support,
            uptime_sla_percent=None
            if granted.uptime_sla_percent is None
            else str(granted.uptime_sla_percent),
            payments=granted.payments,
        )


class PriceOut(BaseModel):
    monthly: str
    #: null when the catalog offers no yearly price.
    yearly: str | None


class PlanOut(BaseModel):
    """One plan of the public price list (B5)."""

    tier: str
    name: str
    description: str
    #: null for a plan priced by contract ("Custom").
    price: PriceOut | None
    #: Item -> limit; null = unlimited (D15). Sizes are in bytes.
    limits: dict[str, int | None]
    grace_percent: str
    #: Feature -> true/false or the level.
    features: dict[str, bool | str]
    highlights: list[str]
    support: str | None
    uptime_sla_percent: str | None
    #: null = unlimited, or not published.
    analytics_retention_days: int | None
    analytics_exports: int | None
    #: Whether the plan may buy packs and turn overage on.
    payments: bool
    #: Whether customers may check it out themselves (D30).
    self_serve: bool

    @classmethod
    def of(cls, catalog: Catalog, plan: Plan) -> PlanOut:
        price = None
        if isinstance(plan.price, PlanPrice):
            yearly = catalog.yearly_price(plan)
            price = PriceOut(
                monthly=str(plan.price.monthly),
                yearly=None if yearly is None else str(yearly.quantize(plan.price.monthly)),
            )
        return cls(
            tier=plan.id,
            name=plan.name,
            description=plan.description,
            price=price,
            limits={item: _count(value) for item, value in plan.limits.items()},
            grace_percent=str(plan.grace_percent),
            features=dict(plan.features),
            highlights=list(plan.highlights),
            support=plan.support,
            uptime_sla_percent=None
            if plan.uptime_sla_percent is None
            else str(plan.uptime_sla_percent),
            analytics_retention_days=_count(plan.analytics_retention_days),
            analytics_exports=_count(plan.analytics_exports),
            payments=plan.payments,
            self_serve=plan.self_serve,
        )


class PlansOut(BaseModel):
    """B5: the public price list, every plan with prices, limits and features."""

    currency: str
    plans: list[PlanOut]

    @classmethod
    def of(cls, catalog: Catalog) -> PlansOut:
        return cls(
            currency=catalog.currency,
            plans=[PlanOut.of(catalog, plan) for plan in catalog.plans],
        )


def _count(value: int | Unlimited | None) -> int | None:
    """A limit as JSON: null when unlimited (D15) or not published."""
    return value if isinstance(value, int) else None


class CheckoutOut(BaseModel):
    """A hosted checkout to pay first; nothing changes until it is paid."""

    url: str
    checkout_id: str


class PackPurchaseOut(BaseModel):
    """A pack bought and granted at once (A4, A6, D11)."""

    success: bool
    pack: str
    amount: str
    invoice_number: str | None
    #: The item's limit with the pack; null = unlimited.
    new_limit: int | None


class OverageOut(BaseModel):
    success: bool
    enabled: bool
    #: null: every meter.
    meter: str | None
    #: null: the whole account.
    project_id: str | None


class InvoiceLineOut(BaseModel):
    kind: str
    description: str
    item: str | None
    quantity: str
    unit_price: str
    amount: str
    #: How the amount came about (used, included, blocks, rounding…).
    derivation: dict[str, Any]


class InvoiceSummaryOut(BaseModel):
    number: str | None
    status: str
    plan: str
    currency: str
    period: str
    period_start: str
    period_end: str
    created_at: str
    total: str


class WalletSpendOut(BaseModel):
    """One operation the wallet paid for in the period, refunds netted (D20)."""

    operation: str
    quantity: int
    #: Six decimal places, as the ledger keeps it (D17).
    amount: str


class InvoiceOut(InvoiceSummaryOut):
    lines: list[InvoiceLineOut]
    #: The period statement's wallet section (period closes only): paid from the wallet as it
    #: happened, so not lines, and not in ``total``.
    wallet_spend: list[WalletSpendOut]


class InvoicesOut(BaseModel):
    invoices: list[InvoiceSummaryOut]


class PlanChangeOut(BaseModel):
    """A downgrade waiting for the end of the paid interval (C7, D30)."""

    success: bool
    plan: str
    pending_plan: str | None
    billing_interval: str
    effective_at: str | None


class SubscriptionOut(BaseModel):
    success: bool
    plan: str
    status: str
    pending_plan: str | None


class ApiKeyOut(BaseModel):
    """A user API key as listed: never its text."""

    id: str
    prefix: str
    kind: str
    name: str | None
    created_at: str


class IssuedKeyOut(ApiKeyOut):
    """A new key: ``key`` is shown this once and cannot be shown again."""

    key: str


class ApiKeysOut(BaseModel):
    keys: list[ApiKeyOut]


class BillingOut(BaseModel):
    """B4: the subscription, with the seed's field names."""

    plan_tier: str
    status: str
    billing_interval: str
    #: null until a provider sets them (D15).
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    current_period_start: str
    current_period_end: str
    cancel_at_period_end: bool
    pending_plan: str | None
    account_credit: str


class MeterUsageOut(BaseModel):
    used: int
    #: null = unlimited (D15).
    limit: int | None
    #: Units in open holds (requests in flight); they count in ``remaining`` (C4).
    held: int
    remaining: int | None
    hard_limit: int | None
    is_near_limit: bool
    #: The overage switch as admission reads it (A5, D3).
    overage_enabled: bool
    #: Whether a next unit would be admitted: inside a grace zone, or past the limit with
    #: overage on (C4).
    can_make_requests: bool


class ResourceCountOut(BaseModel):
    limit: int | None
    #: The current count (D15), open holds and leases included.
    used: int


class PaymentWarningOut(BaseModel):
    """An invoice in dunning (D29): the subscription is past due (access kept) or, after the
    last attempt failed, on the fallback plan until the invoice is paid."""

    #: ``past_due`` (retries scheduled) or ``fallback``.
    status: str
    invoice_number: str
    amount_due: str
    currency: str
    attempts: int
    #: When the invoice is tried again; null after the last attempt.
    next_attempt_at: str | None
    #: The plan paying the invoice brings back (after a fallback); else null.
    restores_plan: str | None
    message: str

    @classmethod
    def of(cls, warning: PaymentWarning | None) -> PaymentWarningOut | None:
        if warning is None:
            return None
        return cls(
            status=warning.status,
            invoice_number=warning.invoice_number,
            amount_due=format_money(warning.amount_due, warning.currency),
            currency=warning.currency,
            attempts=warning.attempts,
            next_attempt_at=None
            if warning.next_attempt_at is None
            else warning.next_attempt_at.isoformat(),
            restores_plan=warning.restores_plan,
            message=warning.message,
        )


class CustomerUsageOut(BaseModel):
    """B6: the tier, the period, usage per meter and gauge, resource counts."""

    tier: str
    period: str
    period_start: str
    period_end: str
    usage: dict[str, MeterUsageOut]
    resource_counts: dict[str, ResourceCountOut]
    pending_plan: str | None
    #: C8, D27: today's usage, trend, projection, estimated cost and advice.
    insights: InsightsOut | None
    #: The prepaid wallet's balance where the catalog has a wallet (B2); else null.
    wallet_balance: str | None = None
    #: An unpaid invoice in dunning (D29); null when every invoice is paid or being paid.
    payment_warning: PaymentWarningOut | None = None

    @classmethod
    def of(
        cls, catalog: Catalog, report: UsageReport, wallet_balance: Decimal | None = None
    ) -> CustomerUsageOut:
        usage: dict[str, MeterUsageOut] = {}
        counts: dict[str, ResourceCountOut] = {}
        for item, figures in report.items.items():
            if isinstance(catalog.items[item], Resource | Concurrency):
                counts[item] = ResourceCountOut(
                    limit=figures.limit, used=figures.used + figures.held
                )
            else:
                usage[item] = MeterUsageOut(
                    used=figures.used,
                    limit=figures.limit,
                    held=figures.held,
                    remaining=figures.remaining,
                    hard_limit=figures.hard_limit,
                    is_near_limit=figures.is_near_limit,
                    overage_enabled=figures.overage_enabled,
                    can_make_requests=figures.can_make_requests,
                )
        return cls(
            tier=report.plan,
            period=report.period.key,
            period_start=report.period.start.isoformat(),
            period_end=report.period.end.isoformat(),
            usage=usage,
            resource_counts=counts,
            pending_plan=report.pending_plan,
            insights=InsightsOut.of(report.insights, catalog.currency),
            wallet_balance=None if wallet_balance is None else str(wallet_balance),
            payment_warning=PaymentWarningOut.of(report.payment_warning),
        )


class CancelOut(BaseModel):
    success: bool
    message: str
    effective_at: str
    plan_after: str


class PortalOut(BaseModel):
    url: str


class AnonymousOut(BaseModel):
    """D19: the ``anon_ask_`` key, shown this once."""

    user_api_key: str
    account_id: str
    tier: str


class ConvertedOut(BaseModel):
    account_id: str
    tier: str
    user_api_key: str
