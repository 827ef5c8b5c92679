"""The wallet through the SDK, sync and async, against a live service (B2, D20, D21, D24)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from meterstack.client import (
    AsyncClient,
    Client,
    InsufficientBalanceError,
    PriceChangedError,
)

OPERATOR_KEY = "operator-secret"


def _pay(service: Any, url: str) -> None:
    parts = urlsplit(url)
    secret = parse_qs(parts.query)["secret"][0]
    paid = service.post(f"{parts.path}/pay", params={"secret": secret}, follow_redirects=False)
    assert paid.status_code in (200, 303), paid.text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_b2_d24_the_sync_sdk_deposits_charges_and_reads_the_ledger(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("aerostack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="pro")
        with Client(base, account.user_api_key, retries=0) as customer:
            link = customer.wallet.deposit(Decimal("10.00"), success_url=f"{base}/done")
            _pay(service, link.url)
            reload = customer.wallet.set_auto_reload("2.00", amount="5.00")
            charged = operator.wallet.charge(account.id, "agent_execution", 100)
            again = operator.wallet.charge(
                account.id, "agent_execution", 100, idempotency_key=charged.entry_id
            )
            replay = operator.wallet.charge(
                account.id, "agent_execution", 100, idempotency_key=charged.entry_id
            )
            with pytest.raises(InsufficientBalanceError) as poor:
                operator.wallet.charge(account.id, "agent_execution", 10_000)
            with pytest.raises(PriceChangedError):
                operator.wallet.charge(account.id, "agent_execution", max_price="0.001")
            adjusted = operator.wallet.adjust(account.id, "0.50", "goodwill")
            balance = customer.wallet.balance()
            page = customer.wallet.transactions(limit=10)
            seen = operator.wallet.of_account(account.id)

    assert link.amount == Decimal("10.00")
    assert (reload.enabled, reload.threshold, reload.amount) == (
        True,
        Decimal("2.00"),
        Decimal("5.00"),
    )
    assert (charged.price, charged.balance) == (Decimal("1.00"), Decimal("9.00"))
    assert (again.replayed, replay.replayed, replay.entry_id) == (False, True, again.entry_id)
    assert poor.value.details["balance"] == "8.000000"
    assert poor.value.details["price"] == "100.000000"
    assert adjusted.balance == Decimal("8.50")
    assert balance.balance == seen.balance == Decimal("8.50")
    assert [entry.kind for entry in page.transactions] == [
        "adjustment",
        "charge",
        "charge",
        "deposit",
    ]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_b2_the_async_sdk_mirrors_the_sync_one(live_service: Callable[..., Any]) -> None:
    service = live_service("aerostack")
    base = str(service.base_url)

    async def scenario() -> tuple[Decimal, Decimal, int]:
        async with AsyncClient(base, OPERATOR_KEY) as operator:
            account = await operator.create_account(plan="pro")
            await operator.wallet.adjust(account.id, Decimal("1.00"), "test funds")
            charged = await operator.wallet.charge(account.id, "bot_message", 250)
            async with AsyncClient(base, account.user_api_key) as customer:
                balance = await customer.wallet.balance()
                page = await customer.wallet.transactions()
            return charged.price, balance.balance, len(page.transactions)

    assert anyio.run(scenario) == (Decimal("0.5"), Decimal("0.5"), 2)
