"""The invoice collector port and its local implementation (D10, D29)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meterstack.errors import IdempotencyKeyReusedError, InvalidInputError
from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.records.payments import (
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    AttemptOutcome,
    InvoiceCollector,
    PaymentEvent,
    attempt_key,
    attempt_outcome_of,
)
from meterstack.services.payments.local import LocalProvider

_AT = datetime(2026, 5, 1, tzinfo=UTC)


def _invoice(number: str | None = "INV-000007", total: str = "49.00") -> Invoice:
    line = InvoiceLine(1, "subscription", "Pro", None, Decimal(1), Decimal(total), Decimal(total))
    return Invoice(
        id="inv_1",
        number=number,
        account_id="acct_1",
        status=InvoiceStatus.FINALIZED,
        currency="USD",
        period_key="2026-05",
        period_start=_AT,
        period_end=datetime(2026, 6, 1, tzinfo=UTC),
        created_at=_AT,
        lines=(line,),
        total=Decimal(total),
    )


def test_d29_an_attempts_key_is_the_invoice_number_and_the_attempt_number() -> None:
    assert attempt_key("INV-000007", 1) == "INV-000007:attempt-1"
    assert attempt_key("INV-000007", 2) != attempt_key("INV-000007", 1)
    assert attempt_key("INV-000007", 1) != attempt_key("INV-000071", 1)
    with pytest.raises(ValueError, match="from 1"):
        attempt_key("INV-000007", 0)


def test_d29_the_local_provider_collects_an_invoice_through_its_decline_switch() -> None:
    provider = LocalProvider()
    assert isinstance(provider, InvoiceCollector)
    provider.decline_collections = True

    first = provider.collect_invoice(_invoice(), 1)
    provider.decline_collections = False
    again = provider.collect_invoice(_invoice(), 1)
    second = provider.collect_invoice(_invoice(), 2)

    assert (first.paid, first.key) == (False, "INV-000007:attempt-1")
    assert first.reason is not None
    assert first.reason.startswith("card_declined")
    # The same attempt asked again answers as the first time: no second charge.
    assert again == first
    assert (second.paid, second.key) == (True, "INV-000007:attempt-2")
    assert set(provider.collections) == {"INV-000007:attempt-1", "INV-000007:attempt-2"}


def test_d29_an_attempts_key_is_never_used_for_another_charge() -> None:
    provider = LocalProvider()
    provider.collect_invoice(_invoice(total="49.00"), 1)

    with pytest.raises(IdempotencyKeyReusedError):
        provider.collect_invoice(_invoice(total="50.00"), 1)
    with pytest.raises(ValueError, match="finalized"):
        provider.collect_invoice(_invoice(number=None), 1)
    assert len(provider.collections) == 1


def test_d29_invoice_payment_events_carry_the_number_the_attempt_and_the_reason() -> None:
    failed = PaymentEvent(
        "evt_1",
        INVOICE_PAYMENT_FAILED,
        {"invoice_number": "INV-000007", "attempt": 2, "reason": "card_declined"},
    )
    paid = PaymentEvent(
        "evt_2", INVOICE_PAID, {"invoice_number": "INV-000007", "attempt": 3, "reason": None}
    )

    assert attempt_outcome_of(failed) == AttemptOutcome("INV-000007", 2, False, "card_declined")
    assert attempt_outcome_of(paid) == AttemptOutcome("INV-000007", 3, True, None)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"invoice_number": "", "attempt": 1},
        {"invoice_number": "INV-1", "attempt": 0},
        {"invoice_number": "INV-1", "attempt": True},
        {"invoice_number": "INV-1", "attempt": "1"},
        {"invoice_number": "INV-1", "attempt": 1, "reason": 5},
        {"invoice_number": 7, "attempt": 1},
    ],
)
def test_d29_an_invoice_event_of_the_wrong_shape_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        attempt_outcome_of(PaymentEvent("evt_x", INVOICE_PAYMENT_FAILED, data))
