"""Features by tier through the engine: A8, A12, C3 and D4's 402/403 split."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from meterstack import Decision, DecisionCode, Engine, UsageEvent
from meterstack.errors import InvalidInputError, RefusedError

EngineFactory = Callable[..., Engine]


@pytest.mark.parametrize(
    ("plan", "allowed"),
    [("free", False), ("hobbyist", True), ("starter", True), ("professional", True)],
)
def test_c3_managed_models_per_tier_and_403_on_free(
    open_engine: EngineFactory, plan: str, allowed: bool
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan=plan)

    decision = engine.require_feature(account.id, "managed_models")

    assert decision.allowed is allowed
    if not allowed:
        assert (decision.code, decision.http_status) == (DecisionCode.NOT_ALLOWED_FOR_TIER, 403)


def test_a12_a_feature_of_a_higher_tier_is_402_upgrade_required(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="basic")

    audit = engine.require_feature(account.id, "audit_logs")
    white_label = engine.require_feature(account.id, "white_label")

    assert (audit.code, audit.http_status, audit.extra["upgrade_to"]) == (
        DecisionCode.UPGRADE_REQUIRED,
        402,
        "pro",
    )
    assert white_label.extra["upgrade_to"] == "premium"


def test_a8_levels_compare_in_order(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    free, starter, pro = (engine.create_account(plan=p) for p in ("free", "starter", "pro"))

    assert not engine.require_feature(free.id, "webhooks").allowed  # webhooks: none
    assert engine.require_feature(starter.id, "webhooks", "basic").allowed
    refused = engine.require_feature(starter.id, "webhooks", "advanced")
    assert (refused.http_status, refused.extra["upgrade_to"]) == (402, "pro")
    assert engine.require_feature(pro.id, "webhooks", "advanced").allowed
    assert engine.require_feature(pro.id, "analytics", "custom").allowed


def test_d4_payments_on_anonymous_are_not_allowed_for_the_tier(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="anonymous")

    decision = engine.require_feature(account.id, "payments")

    assert (decision.code, decision.http_status) == (DecisionCode.NOT_ALLOWED_FOR_TIER, 403)


def test_unknown_feature_or_level_is_a_precise_error(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")

    with pytest.raises(InvalidInputError, match="unknown feature 'sso'"):
        engine.require_feature(account.id, "sso")
    with pytest.raises(InvalidInputError, match="'webhooks' has no level 'gold'"):
        engine.require_feature(account.id, "webhooks", "gold")
    with pytest.raises(InvalidInputError, match="on/off"):
        engine.require_feature(account.id, "audit_logs", "basic")


AGENTSTACK_TIERS = ("anonymous", "free", "starter", "basic", "pro", "premium", "enterprise")
# A8 as the seed states it, the status each tier gets when asking for the feature (D4).
A8_MATRIX: dict[str, tuple[int, ...]] = {
    "audit_logs": (402, 402, 402, 402, 200, 200, 200),
    "custom_domain": (402, 402, 402, 402, 200, 200, 200),
    "admin_functions": (402, 402, 402, 402, 200, 200, 200),
    "white_label": (402, 402, 402, 402, 402, 200, 200),
    "system_admin": (402, 402, 402, 402, 402, 200, 200),
    "payments": (403, 200, 200, 200, 200, 200, 200),
    "service_caps": (402, 402, 200, 200, 200, 200, 200),
    "webhooks": (402, 402, 200, 200, 200, 200, 200),
}
FLOWSTACK_TIERS = ("free", "hobbyist", "starter", "professional", "enterprise")
C3_MATRIX = {"managed_models": (403, 200, 200, 200, 200)}


@pytest.mark.parametrize(
    ("catalog", "feature", "tier", "status"),
    [
        ("agentstack", feature, tier, status)
        for feature, row in A8_MATRIX.items()
        for tier, status in zip(AGENTSTACK_TIERS, row, strict=True)
    ]
    + [
        ("flowstack", feature, tier, status)
        for feature, row in C3_MATRIX.items()
        for tier, status in zip(FLOWSTACK_TIERS, row, strict=True)
    ],
)
def test_a12_c3_d4_feature_matrix(
    open_engine: EngineFactory, catalog: str, feature: str, tier: str, status: int
) -> None:
    engine = open_engine(catalog)
    account = engine.create_account(plan=tier)

    decision = engine.require_feature(account.id, feature)

    expected_code = {200: "ok", 402: "upgrade_required", 403: "not_allowed_for_tier"}[status]
    assert (decision.http_status, decision.code, decision.allowed) == (
        status,
        expected_code,
        status == 200,
    )


def test_d14_operator_overrides_of_features_resources_and_gauges(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="basic")
    engine.set_feature(account.id, "white_label", True)
    engine.set_feature(account.id, "webhooks", "advanced")
    engine.set_limit(account.id, "triggers", 1)
    engine.set_limit(account.id, "project_storage", 10, grace=20)

    white_label = engine.require_feature(account.id, "white_label")
    webhooks = engine.require_feature(account.id, "webhooks", "advanced")
    engine.create_resource(account.id, "triggers")
    with pytest.raises(RefusedError):
        engine.create_resource(account.id, "triggers")
    storage = engine.set_gauge(account.id, "project_storage", 12)
    engine.set_feature(account.id, "white_label", None)

    assert white_label.allowed
    assert webhooks.allowed
    assert (storage.allowed, storage.code, storage.hard_limit) == (True, DecisionCode.GRACE, 12)
    assert engine.require_feature(account.id, "white_label").http_status == 402
    with pytest.raises(InvalidInputError, match="on/off"):
        engine.set_feature(account.id, "audit_logs", "advanced")
    with pytest.raises(InvalidInputError, match="no level 'gold'"):
        engine.set_feature(account.id, "webhooks", "gold")


MANAGED = ["managed_models"]


def _refused_for_managed_models(decision: object, quantity: int = 1) -> None:
    assert isinstance(decision, Decision)
    assert (decision.allowed, decision.code, decision.http_status) == (
        False,
        DecisionCode.NOT_ALLOWED_FOR_TIER,
        403,
    )
    assert (decision.meter, decision.quantity) == ("sessions", quantity)
    assert decision.extra["feature"] == "managed_models"
    assert decision.extra["requires"] == MANAGED
    assert decision.extra["upgrade_to"] == "hobbyist"


def test_c3_consume_check_and_reserve_refuse_a_feature_the_tier_lacks_counting_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    free = engine.create_account(plan="free").id
    hobbyist = engine.create_account(plan="hobbyist").id

    consumed = engine.consume(free, "sessions", requires=MANAGED, idempotency_key="k")
    checked = engine.check(free, "sessions", requires=MANAGED)
    held = engine.reserve(free, "sessions", requires=MANAGED)
    managed = engine.consume(hobbyist, "sessions", requires=MANAGED)

    _refused_for_managed_models(consumed)
    _refused_for_managed_models(checked)
    _refused_for_managed_models(held.decision)
    assert (held.id, held.status) == (None, "refused")
    assert (managed.allowed, managed.used) == (True, 1)
    sessions = engine.usage(free)["sessions"]
    assert (sessions.used, sessions.held) == (0, 0)
    # The refused request stored nothing under its key: granted later, it counts anew.
    engine.set_feature(free, "managed_models", True)
    again = engine.consume(free, "sessions", requires=MANAGED, idempotency_key="k")
    assert (again.allowed, again.replayed, again.used) == (True, False, 1)
    with pytest.raises(InvalidInputError, match="unknown feature 'teleport'"):
        engine.consume(free, "sessions", requires=["teleport"])
    with pytest.raises(InvalidInputError, match="list of feature names"):
        engine.consume(free, "sessions", requires="managed_models")


def test_c3_a_batch_honours_what_each_event_requires_as_a_lone_consume_would(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    free = engine.create_account(plan="free").id
    hobbyist = engine.create_account(plan="hobbyist").id
    events: list[UsageEvent | dict[str, object]] = [
        {"account_id": free, "meter": "sessions", "requires": MANAGED, "idempotency_key": "k"},
        {"account_id": free, "meter": "sessions"},
        UsageEvent(free, "sessions", 2, requires=MANAGED),
        {"account_id": hobbyist, "meter": "sessions", "requires": MANAGED},
        {"account_id": hobbyist, "meter": "sessions", "requires": ["teleport"]},
        {"account_id": hobbyist, "meter": "sessions", "requires": "managed_models"},
        {"account_id": free, "meter": "sessions", "requires": MANAGED, "idempotency_key": "k"},
    ]

    results = engine.consume_many(events)

    _refused_for_managed_models(results[0])
    assert isinstance(results[1], Decision)
    assert (results[1].allowed, results[1].used) == (True, 1)
    _refused_for_managed_models(results[2], quantity=2)
    assert isinstance(results[3], Decision)
    assert (results[3].allowed, results[3].used) == (True, 1)
    assert isinstance(results[4], InvalidInputError)
    assert "unknown feature 'teleport'" in results[4].message
    assert isinstance(results[5], InvalidInputError)
    _refused_for_managed_models(results[6])  # refused again, not a replay: nothing was stored
    assert (engine.usage(free)["sessions"].used, engine.usage(hobbyist)["sessions"].used) == (1, 1)


def test_c3_group_commit_honours_requires_for_every_caller(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    free = engine.create_account(plan="free").id

    def consume(n: int) -> Decision:
        requires = MANAGED if n % 2 else []
        return engine.consume(free, "sessions", requires=requires, idempotency_key=f"g{n}")

    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(consume, range(16)))

    for n, decision in enumerate(decisions):
        if n % 2:
            _refused_for_managed_models(decision)
        else:
            assert decision.allowed, decision
    assert engine.usage(free)["sessions"].used == 8
