"""Features by tier (A8, C3): on/off or ordered levels, and how a refusal answers (D4).

A levelled feature is granted when the plan's level is at least the level asked for; asked with no
level, any level but ``none`` (the conventional name of an absent level) grants it. A refusal is
402 ``upgrade_required`` naming the cheapest higher tier that has the feature, unless the catalog
declares the feature's refusal 403 ``not_allowed_for_tier`` (which names that tier too) or no tier
above has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meterstack.catalog.schema import Catalog, Feature
from meterstack.rules.admission import ACCOUNT_SCOPE
from meterstack.rules.decisions import Decision, DecisionCode
from meterstack.rules.terms import AccountState

#: The level name meaning the feature is absent (``webhooks: none``).
NO_LEVEL = "none"


@dataclass(frozen=True)
class FeatureVerdict:
    allowed: bool
    #: ``ok``, ``upgrade_required`` or ``not_allowed_for_tier``.
    code: str
    http_status: int
    #: The plan's level (``True``/``False`` for an on/off feature).
    plan_value: bool | str
    #: The cheapest higher tier that grants it (None when none does), for a 403 refusal too.
    upgrade_to: str | None
    message: str


def grants(feature: Feature, value: bool | str | None, level: str | None) -> bool:
    """Whether a plan's ``value`` of ``feature`` grants ``level`` (None: the feature at all)."""
    if value is None or value is False:
        return False
    if feature.levels is None:
        return value is True
    if not isinstance(value, str):
        return False
    if level is None:
        return value != NO_LEVEL
    return feature.levels.index(value) >= feature.levels.index(level)


def decide_feature(
    catalog: Catalog,
    plan_id: str,
    feature_id: str,
    level: str | None = None,
    override: bool | str | None = None,
) -> FeatureVerdict:
    """The verdict for ``feature_id`` (at ``level``) on ``plan_id``; arguments must be valid.

    ``override`` is an operator's value for this one account (D14), replacing the plan's.
    """
    feature = catalog.features[feature_id]
    plan = catalog.plan(plan_id)
    value = plan.features.get(feature_id, False) if override is None else override
    wanted = feature_id if level is None else f"{feature_id} at level {level}"
    if grants(feature, value, level):
        return FeatureVerdict(True, "ok", 200, value, None, f"{wanted}: granted on {plan.name}")
    rank = catalog.tier_rank(plan_id)
    upgrade_to = next(
        (
            higher.id
            for higher in catalog.plans[rank + 1 :]
            if grants(feature, higher.features.get(feature_id, False), level)
        ),
        None,
    )
    if feature.refusal == "not_allowed_for_tier" or upgrade_to is None:
        # Still named when a higher tier has it (C3: Hobbyist has managed models).
        elsewhere = "" if upgrade_to is None else f"; {catalog.plan(upgrade_to).name} has it"
        return FeatureVerdict(
            False,
            "not_allowed_for_tier",
            403,
            value,
            upgrade_to,
            f"{wanted} is not allowed on the {plan.name} plan{elsewhere}",
        )
    target = catalog.plan(upgrade_to).name
    return FeatureVerdict(
        False,
        "upgrade_required",
        402,
        value,
        upgrade_to,
        f"{wanted} needs the {target} plan or higher; the account is on {plan.name}",
    )


def feature_decision(
    catalog: Catalog, state: AccountState, feature_id: str, level: str | None, now: datetime
) -> Decision:
    """Whether the account's tier (with an operator's value, D14) grants ``feature_id``, as the
    decision every door answers with; arguments must be valid."""
    override = state.features.get(feature_id)
    verdict = decide_feature(catalog, state.plan_id, feature_id, level, override)
    return Decision.unmetered(
        allowed=verdict.allowed,
        code=DecisionCode(verdict.code),
        http_status=verdict.http_status,
        subject=feature_id,
        as_of=now,
        scope=ACCOUNT_SCOPE,
        message=verdict.message,
        extra={
            "feature": feature_id,
            "level": level,
            "plan": state.plan_id,
            "plan_level": verdict.plan_value,
            "upgrade_to": verdict.upgrade_to,
        },
    )


def required_refusal(
    catalog: Catalog,
    state: AccountState,
    required: Sequence[str],
    meter: str,
    quantity: int,
    now: datetime,
) -> Decision | None:
    """The refusal of a metered request that needs the features ``required`` (C3), or None
    when the tier grants them all: the first one lacking refuses it with its own 402/403, the
    decision naming the meter, the quantity and every feature the request required."""
    for feature_id in required:
        decision = feature_decision(catalog, state, feature_id, None, now)
        if not decision.allowed:
            extra = {**decision.extra, "requires": list(required)}
            return decision.but(meter=meter, quantity=quantity, extra=extra)
    return None
