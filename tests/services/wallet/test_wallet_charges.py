"""Charging operations from the wallet (B2, B3, D17, D20, D22, D23), on both backends."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from wallet_support import PUBLIC, EngineFactory, StoreOf, deposit, ledger_rows, ledger_sum

from meterstack import Engine, ManualClock
from meterstack.catalog.loader import LoadedCatalog, builtin_text, load_catalog, parse_catalog
from meterstack.errors import IdempotencyKeyReusedError, InvalidInputError, MeterstackError
from meterstack.records.wallet import Charge
from meterstack.rules.wallet import BALANCE_ITEM
from meterstack.services.payments.local import LocalProvider
from recording import RecordingStore


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(PUBLIC, secret="wallet-tests")


@pytest.fixture
def engine(open_engine: EngineFactory, provider: LocalProvider) -> Engine:
    return open_engine("aerostack", provider=provider)


def test_b2_b3_d20_d23_the_aerostack_scenario_spends_exactly_to_zero(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    creator = engine.create_account(plan="starter")
    tool = engine.create_item(creator.id, "Weather tool", Decimal("0.05"))
    assert deposit(engine, provider, account.id, "10.00") == Decimal("10.00")

    bot = engine.charge(account.id, "bot_message", 1000)
    assert (bot.allowed, bot.code, bot.http_status, bot.price) == (True, "ok", 200, Decimal("2"))
    assert bot.unit_price == Decimal("0.002")
    agents = engine.charge(account.id, "agent_execution", 100)
    assert agents.price == Decimal("1.00")
    call = engine.charge(account.id, "marketplace_tool_call", item_id=tool.id)
    assert call.price == Decimal("0.05")
    byok = engine.charge(account.id, "agent_execution", byok=True)
    assert (byok.allowed, byok.price) == (True, Decimal(0))
    assert byok.balance == Decimal("6.95")
    assert engine.wallet(account.id).balance == Decimal("6.950000")
    assert ledger_sum(store_of(engine), account.id) == Decimal("6.95")

    # The creator is credited $0.04 and the platform $0.01, in the call's transaction (D23).
    assert ledger_sum(store_of(engine), creator.id, "earnings") == Decimal("0.04")
    assert ledger_sum(store_of(engine), "platform", "platform") == Decimal("0.01")
    # The BYOK run is recorded with its quantity and a zero amount (D22).
    newest = engine.wallet_transactions(account.id, limit=1).entries[0]
    assert (newest.kind, newest.amount, newest.quantity, newest.byok) == (
        "charge",
        Decimal(0),
        1,
        True,
    )

    # 695 agent executions spend it to exactly zero.
    last = engine.charge(account.id, "agent_execution", 695)
    assert last.allowed
    assert last.balance == Decimal("0.000000")
    rows = ledger_rows(store_of(engine), account.id)

    refused = engine.charge(account.id, "bot_message")
    assert (refused.allowed, refused.code, refused.http_status) == (
        False,
        "insufficient_balance",
        402,
    )
    assert refused.details()["balance"] == "0.000000"
    assert refused.details()["price"] == "0.002000"
    assert ledger_rows(store_of(engine), account.id) == rows
    assert engine.wallet(account.id).balance == Decimal(0)
    assert ledger_sum(store_of(engine), account.id) == Decimal(0)


def _items(store: RecordingStore, action: Callable[[], object]) -> list[set[str]]:
    """The counters each apply call ``action`` made steps on, one set per call."""
    before = len(store.calls)
    action()
    return [{step.item for step in admission.steps} for admission, _ in store.calls[before:]]


def test_d22_byok_runs_do_not_count_ai_tokens_and_cost_nothing(
    store_of: StoreOf, engine: Engine, provider: LocalProvider, store_url: str, clock: ManualClock
) -> None:
    """The Aerostack catalog's assumption: a BYOK run's tokens are on the customer's own key,
    so no wallet money and no ai_tokens of the plan are used. The caller reports a managed
    run's tokens itself (consume), and those count; a BYOK run's are never reported, and its
    charge makes no step on ai_tokens (on the counters port itself, not only in the totals)."""
    store = RecordingStore(store_url)
    recorded = Engine.on(store, catalog=load_catalog("aerostack"), clock=clock)
    try:
        account = engine.create_account(plan="pro")
        charges: list[Charge] = []

        def run(byok: bool) -> None:
            charges.append(recorded.charge(account.id, "bot_message", 50, byok=byok))

        assert _items(store, lambda: run(byok=True)) == [{BALANCE_ITEM}]
        charge = charges[0]
        assert (charge.allowed, charge.price, charge.balance, charge.usage) == (
            True,
            Decimal(0),
            Decimal(0),
            None,
        )
        assert engine.usage(account.id).items["ai_tokens"].used == 0
        assert ledger_rows(store_of(engine), account.id) == 1
        # The same operation on the platform's key costs its price, refused on an empty
        # wallet; it too counts no tokens: the tokens are the caller's to report.
        assert _items(store, lambda: run(byok=False)) == [{BALANCE_ITEM}]
        assert charges[1].code == "insufficient_balance"
        # A managed run's tokens, reported through consume, do count against ai_tokens.
        reported = _items(store, lambda: recorded.consume(account.id, "ai_tokens", 1_200))
        assert reported == [{"ai_tokens"}]
        assert engine.usage(account.id).items["ai_tokens"].used == 1_200
    finally:
        recorded.close()


def _token_catalog(byok_counts_meter: bool) -> LoadedCatalog:
    """Aerostack, with bot messages also counting ai_tokens (one per message)."""
    text = builtin_text("aerostack").replace("version: 1", "version: 91", 1)
    marker = '      price: "0.002"  # assumption\n      byok_free: true\n'
    assert marker in text
    switch = "true" if byok_counts_meter else "false"
    text = text.replace(
        marker, marker + f"      meter: ai_tokens\n      byok_counts_meter: {switch}\n", 1
    )
    return parse_catalog(text, "aerostack-tokens")


@pytest.mark.parametrize("byok_counts_meter", [False, True])
def test_d22_an_operation_counting_ai_tokens_counts_a_byok_run_only_if_the_catalog_says(
    store_url: str, clock: ManualClock, byok_counts_meter: bool
) -> None:
    """Where a catalog's operation does count a meter, a run on the platform's key counts it
    in the charge's one admission; a BYOK run counts it only when ``byok_counts_meter``."""
    store = RecordingStore(store_url)
    engine = Engine.on(store, catalog=_token_catalog(byok_counts_meter), clock=clock)
    try:
        account = engine.create_account(plan="pro").id
        engine.adjust_wallet(account, Decimal("1.00"), "test funds")

        platform = _items(store, lambda: engine.charge(account, "bot_message", 100))
        assert platform == [{"ai_tokens", BALANCE_ITEM}]
        assert engine.usage(account).items["ai_tokens"].used == 100
        assert engine.wallet(account).balance == Decimal("0.80")

        byok = _items(store, lambda: engine.charge(account, "bot_message", 40, byok=True))
        assert byok == [{"ai_tokens", BALANCE_ITEM} if byok_counts_meter else {BALANCE_ITEM}]
        used = 140 if byok_counts_meter else 100
        assert engine.usage(account).items["ai_tokens"].used == used
        assert engine.wallet(account).balance == Decimal("0.80")  # BYOK runs are free
    finally:
        engine.close()


def test_d20_a_refused_charge_leaves_the_key_free_and_a_retry_after_funding_is_decided(
    engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    assert not engine.charge(account.id, "agent_execution", idempotency_key="run-1").allowed
    deposit(engine, provider, account.id, "5.00")
    first = engine.charge(account.id, "agent_execution", idempotency_key="run-1")
    again = engine.charge(account.id, "agent_execution", idempotency_key="run-1")
    assert first.allowed
    assert not first.replayed
    assert again.replayed
    assert again.entry_id == first.entry_id
    assert engine.wallet(account.id).balance == Decimal("4.99")
    with pytest.raises(IdempotencyKeyReusedError):
        engine.charge(account.id, "agent_execution", 2, idempotency_key="run-1")
    # A consume's key is not a charge's: the same key with another request is refused (D7).
    engine.consume(account.id, "api_requests", 1, idempotency_key="req-1")
    with pytest.raises(IdempotencyKeyReusedError):
        engine.charge(account.id, "agent_execution", idempotency_key="req-1")


def test_d7_a_retry_is_replayed_even_once_the_balance_is_spent(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "5.00")
    first = engine.charge(account.id, "agent_execution", 500, idempotency_key="all")
    assert first.allowed
    assert first.balance == 0
    retry = engine.charge(account.id, "agent_execution", 500, idempotency_key="all")
    assert retry.replayed
    assert retry.allowed
    assert ledger_rows(store_of(engine), account.id) == 2


def test_d14_an_operators_price_and_max_price_409(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "5.00")
    engine.set_wallet_price(account.id, "agent_execution", Decimal("0.004"))
    assert engine.charge(account.id, "agent_execution", 10).price == Decimal("0.04")
    rows = ledger_rows(store_of(engine), account.id)
    refused = engine.charge(account.id, "agent_execution", 10, max_price=Decimal("0.039999"))
    assert (refused.allowed, refused.code, refused.http_status) == (False, "price_changed", 409)
    assert refused.price == Decimal("0.04")
    assert ledger_rows(store_of(engine), account.id) == rows
    assert engine.charge(account.id, "agent_execution", 10, max_price=Decimal("0.04")).allowed
    engine.set_wallet_price(account.id, "agent_execution", None)
    assert engine.charge(account.id, "agent_execution").price == Decimal("0.01")


def test_d23_a_creator_price_change_meets_the_callers_max_price(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    tool = engine.create_item(creator.id, "Search", Decimal("0.05"))
    deposit(engine, provider, account.id, "5.00")
    engine.set_item_price(tool.id, Decimal("0.08"), creator_id=creator.id)
    refused = engine.charge(
        account.id, "marketplace_tool_call", item_id=tool.id, max_price=Decimal("0.05")
    )
    assert refused.code == "price_changed"
    assert ledger_sum(store_of(engine), creator.id, "earnings") == 0
    with pytest.raises(MeterstackError) as own:
        engine.charge(creator.id, "marketplace_tool_call", item_id=tool.id)
    assert (own.value.code, own.value.http_status) == ("own_item", 403)
    with pytest.raises(InvalidInputError):
        engine.create_item(creator.id, "Too dear", Decimal("10.01"))


def test_d20_bad_charges_are_422_and_change_nothing(store_of: StoreOf, engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    for operation, quantity, options in (
        ("teleport", 1, {}),
        ("bot_message", 0, {}),
        ("bot_message", True, {}),
        ("bot_message", 1, {"max_price": Decimal("0.0000001")}),
        ("marketplace_tool_call", 1, {}),
        ("bot_message", 1, {"item_id": "item_x"}),
    ):
        with pytest.raises(InvalidInputError):
            engine.charge(account.id, operation, quantity, **options)
    assert ledger_rows(store_of(engine), account.id) == 0


def _metered_catalog() -> LoadedCatalog:
    """Aerostack, with agent runs also counting gateway requests (BYOK runs exempt)."""
    text = builtin_text("aerostack").replace("version: 1", "version: 90", 1)
    marker = '      price: "0.01"  # assumption\n      byok_free: true\n'
    assert marker in text
    text = text.replace(
        marker, marker + "      meter: gateway_requests\n      byok_counts_meter: false\n", 1
    )
    return parse_catalog(text, "aerostack-metered")


def test_b2_d20_an_operation_counting_a_meter_admits_both_or_neither(
    store_of: StoreOf, open_engine: EngineFactory, provider: LocalProvider
) -> None:
    """The meter's refusal refuses the charge too; an empty wallet refuses the meter's units."""
    engine = open_engine(_metered_catalog(), provider=provider)
    account = engine.create_account(plan="free")  # gateway requests: 10,000 + 10 % grace
    engine.adjust_wallet(account.id, Decimal("200"), "test funds")

    # No money: neither the charge nor the meter's units.
    poor = engine.create_account(plan="free")
    refused = engine.charge(poor.id, "agent_execution", 5)
    assert refused.code == "insufficient_balance"
    assert engine.usage(poor.id).items["gateway_requests"].used == 0

    admitted = engine.charge(account.id, "agent_execution", 11_000)
    assert admitted.allowed
    assert admitted.usage is not None
    assert (admitted.usage.used, admitted.usage.code) == (11_000, "grace")
    over = engine.charge(account.id, "agent_execution", 1)
    assert (over.allowed, over.code, over.http_status) == (False, "hard_limit_exceeded", 403)
    assert over.usage is not None
    assert over.usage.used == 11_000
    assert engine.wallet(account.id).balance == Decimal("90.00")
    assert ledger_sum(store_of(engine), account.id) == Decimal("90.00")
    # D22: a BYOK run is exempt from the meter here, and free.
    byok = engine.charge(account.id, "agent_execution", 3, byok=True)
    assert byok.allowed
    assert byok.usage is None
    assert engine.usage(account.id).items["gateway_requests"].used == 11_000
