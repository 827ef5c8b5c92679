"""Money back and out over HTTP and the SDK: deposit refunds, credit notes, a suspended wallet
(B11, D24)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from meterstack import Engine
from meterstack.client import Client, WalletSuspendedError
from meterstack.records.payments import PaymentEvent
from meterstack.services.payments.local import LocalProvider

OPERATOR = {"Authorization": "Bearer operator-secret"}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d24_an_operator_refunds_a_deposit_and_a_suspended_wallet_refuses_charges(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("aerostack")
    engine: Engine = service.app.state.engine
    provider = service.provider
    assert isinstance(provider, LocalProvider)
    account = engine.create_account(plan="pro")
    checkout = engine.deposit(account.id, Decimal("20.00"))
    engine.pay_checkout(checkout.id, provider.checkout_secret(checkout.id))
    entry = engine.wallet_transactions(account.id).entries[0].id
    engine.charge(account.id, "agent_execution", 500)  # $5.00 spent

    too_much = service.post(f"/v1/wallet/deposits/{entry}/refund", json={}, headers=OPERATOR)
    assert too_much.status_code == 402
    assert too_much.json()["error"]["code"] == "insufficient_balance"
    refunded = service.post(
        f"/v1/wallet/deposits/{entry}/refund", json={"amount": "5.00"}, headers=OPERATOR
    )
    assert refunded.status_code == 200, refunded.text
    body = refunded.json()
    assert (body["balance"], body["refund"]["amount"], body["refund"]["status"]) == (
        "10.000000",
        "5.000000",
        "refunded",
    )
    assert list(provider.refunds) == [body["refund"]["id"]]
    again = service.post(
        f"/v1/wallet/deposits/{entry}/refund", json={"amount": 5}, headers=OPERATOR
    )
    assert again.status_code == 422  # an amount is a decimal string (D15)

    engine.apply_payment_event(
        PaymentEvent(
            "evt_lost",
            "dispute.lost",
            {"payment": checkout.id, "amount": "20.00", "dispute_id": "du_1"},
        )
    )
    charged = service.post(
        f"/v1/accounts/{account.id}/wallet/charge",
        json={"operation": "bot_message"},
        headers=OPERATOR,
    )
    assert charged.status_code == 402
    assert charged.json()["error"]["code"] == "wallet_suspended"
    with Client(str(service.base_url), "operator-secret") as operator:
        with pytest.raises(WalletSuspendedError):
            operator.wallet.charge(account.id, "bot_message")
        seen = operator.wallet.of_account(account.id)
    assert (seen.balance, seen.owed) == (Decimal(0), Decimal("10.00"))


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_b11_an_operator_credits_and_voids_a_paid_invoice_over_http(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("agentstack")
    engine: Engine = service.app.state.engine
    provider = service.provider
    assert isinstance(provider, LocalProvider)
    account = engine.create_account(plan="starter")
    invoice = engine.buy_pack(account.id, engine.pack_for(account.id, "api_calls", "small")).invoice
    assert invoice is not None
    assert invoice.number is not None
    number = invoice.number

    credited = service.post(
        f"/v1/invoices/{number}/credit-notes",
        json={"amount": "0.01", "reason": "goodwill"},
        headers=OPERATOR,
    )
    assert credited.status_code == 201, credited.text
    assert (credited.json()["amount"], credited.json()["source"]) == ("0.010000", "invoice")
    voided = service.post(f"/v1/invoices/{number}/void", headers=OPERATOR)
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void"
    listed = service.get(f"/v1/invoices/{number}/credit-notes", headers=OPERATOR).json()
    amounts = [Decimal(r["amount"]) for r in listed["refunds"]]
    assert sum(amounts) == invoice.total
    assert sum(r.amount for r in provider.refunds.values()) == invoice.total
    link = service.post(
        f"/v1/marketplace/creators/{account.id}/onboarding-link",
        json={"refresh_url": f"{service.base_url}/a", "return_url": f"{service.base_url}/b"},
        headers=OPERATOR,
    )
    assert (link.status_code, link.json()["error"]["code"]) == (409, "onboarding_not_needed")
