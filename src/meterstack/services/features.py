"""Features and entitlements on every door (A8, A10, A12, C3, D4, D14).

One decision per question: does the account's tier grant a feature (at a level), and may it
process a payment (A10: the tier's payments, then the key's service caps). A refusal is a
:class:`Decision` with the feature's code: 402 ``upgrade_required`` naming the plan that has it,
or 403 ``not_allowed_for_tier`` as the catalog declares (``rules.features``). The features a
metered request requires (``consume(..., requires=[...])``: FlowStack's managed-model session on
Free, C3) are decided by metering in the transaction that would count it, with the same rule
(``rules.features.required_refusal``). :meth:`Features.entitlements` lists what the account's
plan grants, with the operator's overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Unlimited
from meterstack.errors import InvalidInputError
from meterstack.rules.admission import ACCOUNT_SCOPE
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.features import feature_decision, grants
from meterstack.rules.terms import ACCOUNT_WIDE, AccountState, item_terms, plan_of
from meterstack.services.context import ServiceContext
from meterstack.services.keys import Keys
from meterstack.services.validation import validate_feature

#: The feature (and key module) a payment needs (A8, A10).
PAYMENTS = "payments"


@dataclass(frozen=True)
class FeatureGrant:
    """One feature as the account has it."""

    feature: str
    name: str
    #: On/off (True/False), or the level granted for a levelled feature.
    value: bool | str
    granted: bool
    #: The levels, lowest first; None for an on/off feature.
    levels: tuple[str, ...] | None
    #: True when an operator set this account's value (D14).
    overridden: bool


@dataclass(frozen=True)
class ItemLimit:
    """One item's limit as the account has it: plan or override, plus packs (A2, A6, D14)."""

    item: str
    kind: str
    unit: str
    #: None = unlimited (D15).
    limit: int | None
    hard_limit: int | None
    grace_percent: Decimal
    pack_units: int
    overridden: bool


@dataclass(frozen=True)
class AccountEntitlements:
    """Everything the account's plan grants (A2, A8, D16), with the operator's overrides."""

    account_id: str
    plan: str
    plan_name: str
    catalog: str
    catalog_version: int
    features: Mapping[str, FeatureGrant]
    limits: Mapping[str, ItemLimit]
    #: None = unlimited.
    analytics_retention_days: int | None
    analytics_exports: int | None
    support: str | None
    uptime_sla_percent: Decimal | None
    #: Whether the plan may buy packs and plans and turn overage on (A8, D3).
    payments: bool


class Features:
    def __init__(self, ctx: ServiceContext, keys: Keys) -> None:
        self.ctx = ctx
        self.keys = keys

    def require_feature(self, account_id: str, feature: str, level: str | None = None) -> Decision:
        """Whether the account's tier grants ``feature`` (at ``level``): A8, A12, C3, D4."""
        state, catalog = self._terms(account_id)
        declared = validate_feature(catalog, feature)
        if level is not None and level not in (declared.levels or ()):
            levels = ", ".join(declared.levels) if declared.levels else "none: it is on/off"
            raise InvalidInputError(
                f"{feature!r} has no level {level!r}; its levels: {levels}", feature=feature
            )
        return self._decide(catalog, state, feature, level)

    def check_payment(self, account_id: str, *, api_key_id: str | None = None) -> Decision:
        """A10: may the account process a payment now (with this key)?

        The tier first (the catalog's ``payments`` feature, or else the plan's ``payments``),
        then, with ``api_key_id``, the key's service caps (403 ``module_not_allowed``).
        """
        state, catalog = self._terms(account_id)
        if PAYMENTS in catalog.features:
            decision = self._decide(catalog, state, PAYMENTS, None)
        else:
            plan = plan_of(catalog, state)
            decision = Decision.unmetered(
                allowed=plan.payments,
                code=DecisionCode.OK if plan.payments else DecisionCode.NOT_ALLOWED_FOR_TIER,
                http_status=200 if plan.payments else 403,
                subject=PAYMENTS,
                as_of=self.ctx.now(),
                scope=ACCOUNT_SCOPE,
                message=f"payments: {'allowed' if plan.payments else 'disabled'} on {plan.name}",
                extra={"feature": PAYMENTS, "plan": plan.id},
            )
        if not decision.allowed or api_key_id is None:
            return decision
        return self.keys.require_module(api_key_id, PAYMENTS, account_id=account_id)

    def entitlements(self, account_id: str) -> AccountEntitlements:
        """Every feature and level, limit, retention, export, support level and SLA (A2, A8)."""
        state, catalog = self._terms(account_id)
        plan = plan_of(catalog, state)
        features = {}
        for feature_id, feature in catalog.features.items():
            override = state.features.get(feature_id)
            value = plan.features.get(feature_id, False) if override is None else override
            features[feature_id] = FeatureGrant(
                feature=feature_id,
                name=feature.name,
                value=value,
                granted=grants(feature, value, None),
                levels=None if feature.levels is None else tuple(feature.levels),
                overridden=override is not None,
            )
        limits = {}
        for item, declared in catalog.items.items():
            terms = item_terms(catalog, state, item)
            limits[item] = ItemLimit(
                item=item,
                kind=declared.kind,
                unit=declared.unit,
                limit=terms.limit,
                hard_limit=terms.hard_limit,
                grace_percent=terms.grace_percent,
                pack_units=terms.pack_units,
                overridden=(ACCOUNT_WIDE, item) in state.overrides,
            )
        return AccountEntitlements(
            account_id=account_id,
            plan=plan.id,
            plan_name=plan.name,
            catalog=catalog.catalog,
            catalog_version=catalog.version,
            features=features,
            limits=limits,
            analytics_retention_days=_count(plan.analytics_retention_days),
            analytics_exports=_count(plan.analytics_exports),
            support=plan.support,
            uptime_sla_percent=plan.uptime_sla_percent,
            payments=plan.payments,
        )

    def _terms(self, account_id: str) -> tuple[AccountState, Catalog]:
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            return state, self.ctx.catalog(tx, state.catalog_hash)

    def _decide(
        self, catalog: Catalog, state: AccountState, feature: str, level: str | None
    ) -> Decision:
        return feature_decision(catalog, state, feature, level, self.ctx.now())


def _count(value: int | Unlimited | None) -> int | None:
    """A plan's count, None when unlimited or not published."""
    return value if isinstance(value, int) else None
