"""Checkouts on the embedded provider and payment events applied once (B8, B10, B11, A6)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import ConflictError, InvalidInputError, NotAllowedForTierError
from meterstack.records.invoicing import InvoiceStatus
from meterstack.records.payments import Checkout, PaymentEvent
from meterstack.services.payments.local import LocalProvider

EngineFactory = Callable[..., Engine]


def _local(open_engine: EngineFactory, catalog: str) -> Engine:
    """An engine with the local provider, returning to ``https://app.example`` allowed."""
    return open_engine(
        catalog, provider=LocalProvider(), return_url_origins=["https://app.example"]
    )


def _secret(checkout: Checkout) -> str:
    """The pay secret, which only the checkout's URL carries."""
    return parse_qs(urlsplit(checkout.url).query)["secret"][0]


def test_b8_an_upgrade_happens_only_once_its_checkout_is_paid(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = _local(open_engine, "agentstack")
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    account = engine.create_account(plan="starter")
    clock.set(datetime(2026, 4, 11, tzinfo=UTC))

    checkout = engine.checkout(
        account.id,
        plan="basic",
        success_url="https://app.example/ok",
        cancel_url="https://app.example/no",
    )
    before = engine.subscription(account.id).plan
    outcome = engine.pay_checkout(checkout.id, _secret(checkout))

    assert urlsplit(checkout.url).path.endswith(f"/billing/checkout/{checkout.id}")
    assert before == "starter"
    assert outcome.applied
    assert outcome.plan_change is not None
    assert engine.subscription(account.id).plan == "basic"
    invoice = outcome.plan_change.invoice
    assert invoice is not None
    assert (invoice.total, invoice.status) == (Decimal("26.67"), InvoiceStatus.PAID)


def test_b11_a_payment_event_delivered_twice_changes_nothing_the_second_time(
    open_engine: EngineFactory,
) -> None:
    engine = _local(open_engine, "agentstack")
    account = engine.create_account(plan="starter")
    checkout = engine.checkout(account.id, pack="api_calls_small")
    event = PaymentEvent("evt_provider_123", "checkout.completed", {"checkout_id": checkout.id})

    first = engine.apply_payment_event(event)
    invoices = engine.invoices(account.id)
    second = engine.apply_payment_event(event)

    assert (first.applied, second.applied) == (True, False)
    assert first.purchase is not None
    assert first.purchase.new_limit == 300_000
    assert engine.invoices(account.id) == invoices
    assert engine.usage(account.id)["api_calls"].limit == 300_000


def test_b8_downgrades_need_no_checkout_and_bad_checkouts_are_refused(
    open_engine: EngineFactory,
) -> None:
    engine = _local(open_engine, "agentstack")
    account = engine.create_account(plan="pro")
    anonymous = engine.create_account(plan="anonymous")

    # 409: well formed, refused by the account's state (was 422, the status of a malformed one).
    with pytest.raises(ConflictError, match="need no payment"):
        engine.checkout(account.id, plan="starter")
    # D30, A8: was 402 upgrade_required; payments are disabled on ANONYMOUS, which is 403 (D4).
    with pytest.raises(NotAllowedForTierError):
        engine.checkout(anonymous.id, pack="storage_5gb")
    with pytest.raises(InvalidInputError, match="unknown plan 'gold'"):
        engine.checkout(account.id, plan="gold")


def test_b10_the_portal_url_names_the_account(open_engine: EngineFactory) -> None:
    engine = _local(open_engine, "aerostack")
    account = engine.create_account(plan="starter")

    assert f"/billing/portal/{account.id}?token=" in engine.portal_url(account.id)


def test_a6_a_purchase_on_a_hosted_provider_is_a_checkout_first(
    open_engine: EngineFactory, hosted_provider: Any
) -> None:
    engine = open_engine("agentstack", provider=hosted_provider)
    account = engine.create_account(plan="starter")

    pending = engine.purchase_pack(account.id, "logic_engine_small")
    assert isinstance(pending, Checkout)
    unpaid_limit = engine.usage(account.id)["logic_engine_calls"].limit
    # A hosted provider reports the payment through its webhook, as an event.
    engine.apply_payment_event(
        PaymentEvent("evt_hosted_1", "checkout.completed", {"checkout_id": pending.id})
    )

    assert pending.url == f"https://pay.example/{pending.id}"
    assert unpaid_limit == 50_000
    assert engine.usage(account.id)["logic_engine_calls"].limit == 60_000


def test_c7_a_pending_downgrade_shows_in_usage(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="professional")
    engine.change_plan(account.id, "hobbyist")

    usage = engine.usage(account.id)

    assert (usage.plan, usage.pending_plan) == ("professional", "hobbyist")
    assert usage.pending_at == usage.period.end
