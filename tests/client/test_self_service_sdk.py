"""The customer's self-service through the SDK, sync and async, against a live service (A2, A4,
A5, B8, B9, C7, D30)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import anyio
import pytest

from meterstack.client import (
    AsyncClient,
    AuthenticationError,
    CheckoutLink,
    Client,
    ConflictError,
    PackBought,
    PlanNotSelfServeError,
    QuotaExceededError,
)

OPERATOR_KEY = "operator-secret"


def test_a2_a4_a5_c7_d30_the_sdk_covers_the_customers_self_service(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("agentstack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="pro")
    with Client(base, account.user_api_key, retries=0) as customer:
        switched = customer.switch_overage(True, meter="api_calls")
        storage = customer.buy_storage_pack("25gb")
        invoices = customer.invoices()
        first = customer.invoice(invoices[0].number or "")
        pdf = customer.invoice_pdf(invoices[0].number or "")
        downgrade = customer.downgrade("starter")
        resumed = customer.resume()
        with pytest.raises(ConflictError):
            customer.resume()
        with pytest.raises(PlanNotSelfServeError):
            customer.checkout("enterprise")
        checkout = customer.checkout("premium", success_url=f"{base}/done")
        cancelled = customer.cancel()
        keys = [customer.create_api_key(name=f"k{n}") for n in range(9)]
        with pytest.raises(QuotaExceededError):
            customer.create_api_key()  # PRO: 10 user API keys
        listed = customer.api_keys()
        customer.revoke_api_key(keys[0].id)
    with Client(base, keys[0].key, retries=0) as revoked, pytest.raises(AuthenticationError):
        revoked.billing()

    assert (switched.enabled, switched.meter) == (True, "api_calls")
    assert isinstance(storage, PackBought)
    assert (storage.pack, storage.amount) == ("storage_25gb", Decimal("2.00"))
    assert [invoice.total for invoice in invoices] == [Decimal("199.00"), Decimal("2.00")]
    assert [invoice.period_name for invoice in invoices] == ["January 2026", "January 2026"]
    assert first.lines[0].amount == Decimal("199.00")
    assert pdf.startswith(b"%PDF-")
    assert (downgrade.plan, downgrade.pending_plan) == ("pro", "starter")
    assert downgrade.effective_at is not None
    assert resumed.pending_plan is None
    assert isinstance(checkout, CheckoutLink)
    assert cancelled.message == "Subscription will be canceled at end of billing period"
    assert len(listed) == 10
    assert keys[1].key not in repr(listed)


def test_a2_the_async_sdk_manages_user_api_keys(live_service: Callable[..., Any]) -> None:
    service = live_service("agentstack")
    base = str(service.base_url)

    async def scenario() -> tuple[int, int]:
        async with AsyncClient(base, OPERATOR_KEY) as operator:
            account = await operator.create_account(plan="starter")
        async with AsyncClient(base, account.user_api_key, retries=0) as customer:
            made = await customer.create_api_key(name="deploy")
            before = len(await customer.api_keys())
            await customer.revoke_api_key(made.id)
            return before, len(await customer.api_keys())

    assert anyio.run(scenario) == (2, 1)
