"""Disputes reported as meterstack's own payment events (a provider other than Stripe), on the
local provider and both backends: an invoice's dispute named by its number, a reload's by its
id, malformed events refused with nothing recorded (B11, D21, D29)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from meterstack import Engine
from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import InvoiceStatus
from meterstack.records.payments import PaymentEvent
from meterstack.services.payments.local import LocalProvider

EngineFactory = Callable[..., Engine]
PUBLIC = "https://app.aerostack.example"


@pytest.fixture
def engine(open_engine: EngineFactory) -> Engine:
    return open_engine("aerostack", provider=LocalProvider(PUBLIC, secret="dispute-tests"))


def _event(kind: str, dispute: str, **data: str) -> PaymentEvent:
    return PaymentEvent(f"evt_{dispute}_{kind}", kind, {"dispute_id": dispute, **data})


def test_d29_an_invoice_dispute_named_by_its_number_is_opened_then_lost_once(
    engine: Engine,
) -> None:
    account = engine.create_account(plan="pro")
    [invoice] = [i for i in engine.invoices(account.id) if i.total > 0]
    assert invoice.number is not None
    engine.pay_invoice(invoice.number)
    named = {"payment": "pay_elsewhere", "invoice_number": invoice.number, "amount": "49.00"}

    opened = engine.apply_payment_event(_event("dispute.opened", "du_1", **named))
    assert opened.applied
    assert opened.payment_dispute is not None
    assert opened.payment_dispute.status == "open"
    assert not engine.apply_payment_event(_event("dispute.opened", "du_1", **named)).applied
    lost = engine.apply_payment_event(_event("dispute.lost", "du_1", **named))
    assert lost.applied
    assert not engine.apply_payment_event(
        PaymentEvent("evt_other", "dispute.won", {"dispute_id": "du_1", **named})
    ).applied  # decided already: a later decision changes nothing

    assert engine.invoice(invoice.number).status is InvoiceStatus.UNCOLLECTIBLE
    assert engine.subscription(account.id).plan == "free"
    assert [(d.status, d.amount) for d in engine.disputes(account.id)] == [
        ("lost", Decimal("49.00"))
    ]


def test_b11_a_dispute_of_an_unknown_payment_or_a_bad_one_changes_nothing(
    engine: Engine,
) -> None:
    account = engine.create_account(plan="pro")
    [invoice] = [i for i in engine.invoices(account.id) if i.total > 0]
    assert invoice.number is not None
    unknown = engine.apply_payment_event(
        _event("dispute.lost", "du_x", payment="pay_unknown", amount="5.00")
    )
    assert not unknown.applied
    with pytest.raises(InvalidInputError, match="above the payment"):
        engine.apply_payment_event(
            _event(
                "dispute.opened",
                "du_big",
                payment="p",
                invoice_number=invoice.number,
                amount="1000.00",
            )
        )
    with pytest.raises(InvalidInputError, match=r"data\.payment and data\.dispute_id"):
        engine.apply_payment_event(PaymentEvent("evt_bad", "dispute.won", {"amount": "1"}))
    assert engine.disputes(account.id) == []
    assert engine.webhooks.events(account_id=account.id, event_type="dispute.opened") == []
