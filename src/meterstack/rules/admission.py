"""Admission of a request: the bound each scope may reach, and the decision from the totals.

``plan_request`` computes, for every scope a request touches, the highest total (used + held) the
scope may reach and where overage starts; the store admits by conditional increments against those
bounds; ``classify`` names the outcome from the totals the store returns. There is no
read-decide-write: the store's conditional increment is the only place admission happens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.terms import (
    ACCOUNT_WIDE,
    AccountState,
    ItemTerms,
    item_terms,
    overage_enabled,
)

ACCOUNT_SCOPE = "account"


def project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def key_scope(key_id: str) -> str:
    return f"key:{key_id}"


@dataclass(frozen=True)
class ScopeBound:
    """What one scope's counter may reach for this request."""

    scope: str
    #: The highest used + held the scope may reach; None = no bound.
    bound: int | None
    #: Committed units past this total are overage (D2); None = no overage in this scope.
    overage_from: int | None
    #: The terms the bound comes from, for naming the outcome; None for a scope without a limit.
    terms: ItemTerms | None


@dataclass(frozen=True)
class AdmissionPlan:
    item: str
    quantity: int
    period_key: str
    #: Scopes in lock order; the account scope first.
    scopes: tuple[ScopeBound, ...]
    overage_on: bool
    #: When the period ends (``RateLimit-Reset``); None when unknown.
    period_end: datetime | None = None

    @property
    def primary(self) -> ScopeBound:
        return self.scopes[0]


@dataclass(frozen=True)
class Totals:
    """A scope's counter: committed units, open holds, and overage recorded (all units)."""

    used: int = 0
    held: int = 0
    overage: int = 0


def plan_request(
    catalog: Catalog,
    state: AccountState,
    item: str,
    quantity: int,
    *,
    period_key: str,
    project_id: str | None = None,
    key_quota: tuple[str, int] | None = None,
    period_end: datetime | None = None,
) -> AdmissionPlan:
    """The scopes a request touches, in lock order: account, project, then the API key's own
    quota (A8) when ``key_quota`` = (key id, units per period) is given."""
    terms = item_terms(catalog, state, item)
    overage_on = overage_enabled(catalog, state, item, project_id) and terms.limit is not None
    if overage_on:
        # Grace units stay free; overage starts past the hard limit (docs/decisions.md).
        account = ScopeBound(ACCOUNT_SCOPE, None, terms.hard_limit, terms)
    else:
        account = ScopeBound(ACCOUNT_SCOPE, terms.hard_limit, None, terms)
    scopes = [account]
    if project_id:
        if (project_id, item) in state.overrides:
            project_terms = item_terms(catalog, state, item, project_id)
            # A project's own limit is a cap set by the operator: no overage past it.
            scopes.append(
                ScopeBound(project_scope(project_id), project_terms.hard_limit, None, project_terms)
            )
        else:
            scopes.append(ScopeBound(project_scope(project_id), None, None, None))
    if key_quota is not None:
        key_id, quota = key_quota
        # A key's quota is a cap of its own: no grace, no packs, no overage past it.
        key_terms = replace(terms, included=quota, pack_units=0, grace_percent=Decimal(0))
        scopes.append(ScopeBound(key_scope(key_id), quota, None, key_terms))
    return AdmissionPlan(
        item=item,
        quantity=quantity,
        period_key=period_key,
        scopes=tuple(scopes),
        overage_on=overage_on,
        period_end=period_end,
    )


def admits(bound: ScopeBound, totals: Totals, quantity: int) -> bool:
    """Whether ``quantity`` more fits under the bound (the store's condition, for ``check``)."""
    return bound.bound is None or totals.used + totals.held + quantity <= bound.bound


def overage_delta(bound: ScopeBound, used_after: int, quantity: int) -> int:
    """Units of this consumption past where overage starts (the store's expression)."""
    if bound.overage_from is None:
        return 0
    return max(0, min(quantity, used_after - bound.overage_from))


def classify_admitted(
    plan: AdmissionPlan,
    after: Totals,
    overage_units: int,
    now: datetime,
    near_limit_percent: Decimal,
    *,
    hold: bool = False,
    quantity: int | None = None,
) -> Decision:
    """The decision for an admitted request; ``quantity`` names one event of a batch."""
    terms = plan.primary.terms
    assert terms is not None
    limit = terms.limit
    counted = after.used + after.held
    warnings: list[str] = []
    code = DecisionCode.OK
    if overage_units > 0:
        code = DecisionCode.OVERAGE
        warnings.append(
            f"{overage_units} {plan.item} beyond the limit of {limit} billed as overage"
        )
    elif limit is not None and counted > limit:
        code = DecisionCode.GRACE
        warnings.append(
            f"{plan.item}: {counted} used is past the limit of {limit}, within the grace zone "
            f"up to {terms.hard_limit}"
        )
    elif limit is not None and counted * 100 >= limit * near_limit_percent:
        code = DecisionCode.NEAR_LIMIT
        warnings.append(f"{plan.item}: {counted} of {limit} used")
    return Decision(
        allowed=True,
        code=code,
        http_status=200,
        meter=plan.item,
        quantity=plan.quantity if quantity is None else quantity,
        used=after.used,
        held=after.held,
        limit=limit,
        hard_limit=terms.hard_limit,
        remaining=None if limit is None else max(0, limit - counted),
        overage_units=overage_units,
        warnings=tuple(warnings),
        as_of=now,
        period=plan.period_key,
        scope=plan.primary.scope,
        message="hold placed" if hold else "admitted",
        period_end=plan.period_end,
    )


def classify_refused(
    plan: AdmissionPlan,
    refused: ScopeBound,
    current: Totals,
    account_totals: Totals,
    now: datetime,
) -> Decision:
    """The decision for a request refused at ``refused``'s bound; nothing was counted."""
    terms = refused.terms
    assert terms is not None
    assert refused.bound is not None
    if terms.grace_percent > 0:
        code, status = DecisionCode.HARD_LIMIT_EXCEEDED, 403
        reason = f"hard limit {refused.bound} ({terms.limit} + {terms.grace_percent}% grace)"
    else:
        code, status = DecisionCode.LIMIT_EXCEEDED, terms.refusal_status
        reason = f"limit {refused.bound}"
    where = "" if refused.scope == ACCOUNT_SCOPE else f" of {refused.scope}"
    counted = current.used + current.held
    message = f"{plan.item}{where}: {counted} used, {plan.quantity} more would pass the {reason}"
    primary_terms = plan.primary.terms
    assert primary_terms is not None
    limit = terms.limit
    return Decision(
        allowed=False,
        code=code,
        http_status=status,
        meter=plan.item,
        quantity=plan.quantity,
        used=current.used,
        held=current.held,
        limit=limit,
        hard_limit=refused.bound,
        remaining=None if limit is None else max(0, limit - counted),
        overage_units=0,
        warnings=(),
        as_of=now,
        period=plan.period_key,
        scope=refused.scope,
        message=message,
        period_end=plan.period_end,
    )


__all__ = [
    "ACCOUNT_SCOPE",
    "ACCOUNT_WIDE",
    "AdmissionPlan",
    "ScopeBound",
    "Totals",
    "admits",
    "classify_admitted",
    "classify_refused",
    "key_scope",
    "overage_delta",
    "plan_request",
    "project_scope",
]
