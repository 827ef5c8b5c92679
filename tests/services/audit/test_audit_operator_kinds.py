"""The operator's own setup in the audit log, through the engine (the Python door), on every
backend: webhook endpoints (an operator endpoint of every account keeps no account), marketplace
creators and items, payout runs and each payout they made or failed, and minted dashboard
links; never a secret or a token; a refused change or one that changes nothing writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic import command

from meterstack import Actor, Engine, ManualClock
from meterstack.errors import InvalidInputError, NotFoundError, PaymentsNotConfiguredError
from meterstack.records.audit import AuditEntry
from meterstack.records.payments import Collected, PayoutRequest
from meterstack.records.webhooks import WebhookPolicy
from meterstack.services.payments.local import LocalProvider
from meterstack.store.migrate import alembic_config
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
PUBLIC = "http://127.0.0.1:8000"
OPERATOR = Actor.operator("api")
START = datetime(2026, 1, 1, tzinfo=UTC)


def log(
    engine: Engine, *, account_id: str | None = None, kind: str | None = None
) -> list[AuditEntry]:
    return engine.audit(account_id=account_id, kind=kind, limit=200).entries


def kept(entries: list[AuditEntry]) -> str:
    """Everything the entries keep, as one text to search for what must not be there."""
    return json.dumps([[entry.before, entry.after, entry.reason] for entry in entries])


def test_webhook_endpoint_changes_are_recorded_and_an_operator_wide_one_has_no_account(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    endpoints = engine.webhooks.endpoints

    everywhere = endpoints.create("http://10.0.0.5/hooks", actor=OPERATOR)
    mine = endpoints.create(
        "http://10.0.0.6/hooks", account_id=account.id, event_types=["invoice.created"]
    )
    clock.advance(timedelta(minutes=5))
    endpoints.update(everywhere.endpoint.id, enabled=False, actor=OPERATOR)
    endpoints.update(everywhere.endpoint.id, enabled=False, actor=OPERATOR)  # no change
    rotated = endpoints.rotate_secret(
        everywhere.endpoint.id, overlap=timedelta(hours=2), actor=OPERATOR
    )
    endpoints.delete(mine.endpoint.id)
    with pytest.raises(InvalidInputError):
        endpoints.update(everywhere.endpoint.id, url="ftp://nowhere", actor=OPERATOR)
    with pytest.raises(NotFoundError):
        endpoints.delete("whe_nope", actor=OPERATOR)

    family = log(engine, kind="webhook.*")
    assert [(entry.kind, entry.account_id) for entry in family] == [
        ("webhook.endpoint_deleted", account.id),
        ("webhook.secret_rotated", None),
        ("webhook.endpoint_updated", None),
        ("webhook.endpoint_created", account.id),
        ("webhook.endpoint_created", None),
    ], "refused changes and the same value again write nothing"
    deleted, rotation, update, _, created = family
    assert created.actor == OPERATOR
    assert created.before is None
    assert created.after == {
        "endpoint_id": everywhere.endpoint.id,
        "owner": "operator",
        "url": "http://10.0.0.5/hooks",
        "event_types": [],
        "description": None,
        "enabled": True,
    }
    assert update.at == clock.now()
    assert (update.before or {})["enabled"] is True
    assert (update.after or {})["enabled"] is False
    assert rotation.after == {
        "endpoint_id": everywhere.endpoint.id,
        "url": "http://10.0.0.5/hooks",
        "previous_secret_until": (clock.now() + timedelta(hours=2)).isoformat(),
    }
    assert deleted.actor == Actor("python")
    assert (deleted.before or {})["event_types"] == ["invoice.created"]
    assert deleted.after is None

    everything = kept(family)
    assert everywhere.secret not in everything
    assert mine.secret not in everything
    assert rotated.secret not in everything
    assert [entry.kind for entry in log(engine, kind="webhook.secret_rotated")] == [
        "webhook.secret_rotated"
    ]
    assert [entry.kind for entry in log(engine, account_id=account.id)][:2] == [
        "webhook.endpoint_deleted",
        "webhook.endpoint_created",
    ], "an account's endpoint changes are in the account's log"


def test_a_customers_endpoint_changes_are_recorded_under_its_account(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack", webhooks=WebhookPolicy(allow_private_targets=True))
    account = engine.create_account(plan="starter")
    customer = Actor.customer("key_1")
    endpoints = engine.webhooks.endpoints
    made = endpoints.create(
        "http://127.0.0.1:9/hooks", customer=account.id, description="ours", actor=customer
    )
    endpoints.update(made.endpoint.id, customer=account.id, description="billing", actor=customer)

    entries = log(engine, account_id=account.id, kind="webhook.*")
    assert [(entry.kind, entry.actor) for entry in entries] == [
        ("webhook.endpoint_updated", customer),
        ("webhook.endpoint_created", customer),
    ]
    assert (entries[0].before or {})["description"] == "ours"
    assert (entries[0].after or {})["description"] == "billing"
    assert (entries[1].after or {})["owner"] == "customer"


def test_a_kind_family_filter_is_checked_and_matches_only_its_family(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.webhooks.endpoints.create("http://10.0.0.5/hooks")
    engine.set_limit(account.id, "api_calls", 5)

    assert {entry.kind for entry in log(engine, kind="webhook.*")} == {"webhook.endpoint_created"}
    assert {entry.kind for entry in log(engine, kind="limit.*")} == {"limit.set"}
    assert log(engine, kind="webhook.endpoint.*") == []
    assert log(engine, kind="web.*") == [], "a family is a whole first part, not any prefix"
    with pytest.raises(InvalidInputError):
        engine.audit(kind=".*")


def test_marketplace_items_published_and_repriced_keep_the_price_before_and_after(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    creator = engine.create_account(plan="pro")
    item = engine.create_item(creator.id, "Search", Decimal("0.25"), actor=OPERATOR)
    engine.set_item_price(item.id, Decimal("0.40"), actor=OPERATOR.because("launch over"))
    engine.set_item_price(item.id, Decimal("0.40"))  # the same price: no change
    with pytest.raises(InvalidInputError):
        engine.set_item_price(item.id, Decimal("10.01"))  # above the catalog's maximum
    with pytest.raises(NotFoundError):
        engine.set_item_price("item_nope", Decimal("1.00"))

    entries = log(engine, account_id=creator.id, kind="marketplace.*")
    assert [entry.kind for entry in entries] == [
        "marketplace.price_changed",
        "marketplace.item_published",
    ]
    changed, published = entries
    assert published.actor == OPERATOR
    assert published.after == {
        "item_id": item.id,
        "name": "Search",
        "operation": item.operation,
        "price": "0.250000",
    }
    assert changed.before == {"item_id": item.id, "price": "0.250000"}
    assert changed.after == {"item_id": item.id, "price": "0.400000"}
    assert changed.reason == "launch over"


class OnboardingProvider(LocalProvider):
    """A provider whose creators open an account with it first, as Stripe Connect's do."""

    def __init__(self) -> None:
        super().__init__(PUBLIC, secret="audit-tests")
        self.opened: list[str] = []

    def connect_creator(self, creator_id: str, email: str | None) -> str:
        del email
        self.opened.append(creator_id)
        return f"acct_provider_{len(self.opened)}"

    def onboarding_link(self, provider_account: str, refresh_url: str, return_url: str) -> str:
        del refresh_url, return_url
        return f"https://connect.example/{provider_account}"


def test_a_creator_is_registered_once_when_its_provider_account_opens(
    open_engine: EngineFactory,
) -> None:
    provider = OnboardingProvider()
    engine = open_engine("aerostack", provider=provider, return_url_origins=[PUBLIC])
    creator = engine.create_account(plan="pro")
    for _ in range(2):
        engine.onboarding_link(
            creator.id, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done", actor=OPERATOR
        )

    registered = log(engine, kind="marketplace.creator_registered")
    assert len(registered) == 1, "the second link opens no second account"
    assert (registered[0].account_id, registered[0].actor) == (creator.id, OPERATOR)
    assert registered[0].after == {"provider_account": "acct_provider_1", "payouts_enabled": False}


class DecliningOnce(LocalProvider):
    """Declines each payout's first attempt, as a provider does when a transfer bounces."""

    def __init__(self) -> None:
        super().__init__(PUBLIC, secret="audit-tests")
        self.declined: set[str] = set()

    def pay_out(self, request: PayoutRequest) -> Collected:
        if request.key not in self.declined:
            self.declined.add(request.key)
            return Collected(False, request.key, "the destination account is closed")
        return super().pay_out(request)


def _creator_earning(engine: Engine, buyer: str, price: str, calls: int) -> str:
    creator = engine.create_account(plan="pro")
    tool = engine.create_item(creator.id, "Tool", Decimal(price))
    for _ in range(calls):
        assert engine.charge(buyer, "marketplace_tool_call", item_id=tool.id).allowed
    return creator.id


def test_a_payout_run_records_who_started_it_and_each_payout_made_or_failed(
    open_engine: EngineFactory,
) -> None:
    provider = DecliningOnce()
    engine = open_engine("aerostack", provider=provider)
    buyer = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    creator = _creator_earning(engine, buyer.id, "5.00", 3)  # 12.00 earned
    below = _creator_earning(engine, buyer.id, "0.10", 2)  # under the minimum: not paid
    cli = Actor.operator("cli:ops")

    assert engine.run_payouts(actor=cli) == []  # declined: stays pending
    [paid] = engine.run_payouts(actor=OPERATOR)  # the next run pays it
    assert engine.run_payouts(actor=OPERATOR) == []  # nothing left to pay

    starts = log(engine, kind="payout.run_started")
    assert [(entry.account_id, entry.actor) for entry in starts] == [
        (None, OPERATOR),
        (None, OPERATOR),
        (None, cli),
    ], "every run's start is recorded, of no account"
    runs = [(entry.after or {})["run_id"] for entry in starts]
    assert len(set(runs)) == 3
    payouts = log(engine, account_id=creator, kind="payout.*")
    assert [(entry.kind, entry.actor) for entry in payouts] == [
        ("payout.paid", OPERATOR),
        ("payout.failed", cli),
    ], "a re-run that pays nothing records nothing per creator"
    made, failed = payouts
    assert failed.before == {"payout_id": paid.id, "amount": "12.00", "status": "pending"}
    assert failed.after == {
        "payout_id": paid.id,
        "amount": "12.00",
        "status": "pending",
        "run_id": runs[2],
        "attempt": 1,
        "failure": "the destination account is closed",
    }
    assert made.after == {
        "payout_id": paid.id,
        "amount": "12.00",
        "status": "paid",
        "run_id": runs[1],
        "attempt": 2,
    }
    assert log(engine, account_id=below, kind="payout.*") == []


def test_a_run_without_a_provider_is_refused_and_records_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    with pytest.raises(PaymentsNotConfiguredError):
        engine.run_payouts(actor=OPERATOR)
    assert log(engine, kind="payout.*") == []


def test_a_minted_dashboard_link_records_who_and_its_expiry_never_its_token(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    link = engine.access.mint_link(account.id, actor=OPERATOR.because("support call"))
    with pytest.raises(NotFoundError):
        engine.access.mint_link("acct_nobody", actor=OPERATOR)

    [minted] = log(engine, kind="dashboard.link_minted")
    assert (minted.account_id, minted.actor.kind, minted.actor.id) == (
        account.id,
        "operator",
        "api",
    )
    assert minted.reason == "support call"
    assert minted.at == clock.now()
    assert minted.before is None
    assert minted.after == {"expires_at": (clock.now() + timedelta(minutes=10)).isoformat()}
    assert link.token not in kept([minted])
    engine.access.redeem_link(link.token)  # the link still works once


def test_migration_0026_keeps_entries_of_no_account_and_refuses_to_downgrade_over_them(
    store_url: str,
) -> None:
    store = SqlStore(store_url)
    try:
        with store.transaction() as tx:
            tx.audit.append(
                AuditEntry("aud_1", None, "payout.run_started", OPERATOR, START, None, {"a": 1})
            )
        with store.transaction() as tx:
            [(_, kept_entry)] = tx.audit.entries(
                account_id=None, kind=None, family="payout.", before=None, limit=5
            )
        assert kept_entry.account_id is None
        config = alembic_config(store.engine)
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            with pytest.raises(RuntimeError, match="belong to no account"):
                command.downgrade(config, "0025")
        with store.transaction() as tx:
            assert len(tx.audit.entries(account_id=None, kind=None, before=None, limit=5)) == 1
    finally:
        store.close()
