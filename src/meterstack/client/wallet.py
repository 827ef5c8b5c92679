"""The wallet from the SDK (B2, D20–D24): ``client.wallet``, sync and async alike.

::

    customer.wallet.deposit("10.00", success_url="https://app.example/billing")
    customer.wallet.balance().balance             # Decimal("10.000000")
    operator.wallet.charge(account_id, "bot_message", 1000)

A refused charge raises :class:`~meterstack.client.errors.InsufficientBalanceError` (402) or
:class:`~meterstack.client.errors.PriceChangedError` (409), ``details`` carrying the balance and
the price.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from meterstack.client import _wallet_calls as calls
from meterstack.client._calls import Call
from meterstack.client.wallet_models import (
    AutoReload,
    DepositLink,
    WalletBalance,
    WalletBalanceChange,
    WalletCharge,
    WalletPage,
)

Money = Decimal | str


class Wallet:
    """The wallet calls of :class:`~meterstack.client.Client`."""

    def __init__(self, send: Callable[[Call[Any]], Any]) -> None:
        self._send = send

    def balance(self) -> WalletBalance:
        """The customer's balance and auto-reload settings."""
        result: WalletBalance = self._send(calls.wallet())
        return result

    def transactions(self, *, before: str | None = None, limit: int | None = None) -> WalletPage:
        result: WalletPage = self._send(calls.transactions(before, limit))
        return result

    def deposit(
        self, amount: Money, *, success_url: str | None = None, cancel_url: str | None = None
    ) -> DepositLink:
        result: DepositLink = self._send(calls.deposit(amount, success_url, cancel_url))
        return result

    def set_auto_reload(
        self,
        threshold: Money | None,
        *,
        amount: Money | None = None,
        target: Money | None = None,
    ) -> AutoReload:
        result: AutoReload = self._send(calls.set_auto_reload(threshold, amount, target))
        return result

    def charge(
        self,
        account_id: str,
        operation: str,
        quantity: int = 1,
        *,
        byok: bool = False,
        item_id: str | None = None,
        max_price: Money | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WalletCharge:
        """Operator: charge an operation; without a key a fresh one is sent on every retry."""
        call = calls.charge(
            account_id,
            operation,
            quantity,
            byok=byok,
            item_id=item_id,
            max_price=max_price,
            project_id=project_id,
            idempotency_key=idempotency_key,
        )
        result: WalletCharge = self._send(call)
        return result

    def of_account(self, account_id: str) -> WalletBalance:
        """Operator: an account's wallet."""
        result: WalletBalance = self._send(calls.account_wallet(account_id))
        return result

    def adjust(self, account_id: str, amount: Money, reason: str) -> WalletBalanceChange:
        result: WalletBalanceChange = self._send(calls.adjust(account_id, amount, reason))
        return result

    def refund(self, entry_id: str) -> WalletBalanceChange:
        result: WalletBalanceChange = self._send(calls.refund(entry_id))
        return result


class AsyncWallet:
    """The wallet calls of :class:`~meterstack.client.AsyncClient`, as coroutines."""

    def __init__(self, send: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        self._send = send

    async def balance(self) -> WalletBalance:
        result: WalletBalance = await self._send(calls.wallet())
        return result

    async def transactions(
        self, *, before: str | None = None, limit: int | None = None
    ) -> WalletPage:
        result: WalletPage = await self._send(calls.transactions(before, limit))
        return result

    async def deposit(
        self, amount: Money, *, success_url: str | None = None, cancel_url: str | None = None
    ) -> DepositLink:
        result: DepositLink = await self._send(calls.deposit(amount, success_url, cancel_url))
        return result

    async def set_auto_reload(
        self,
        threshold: Money | None,
        *,
        amount: Money | None = None,
        target: Money | None = None,
    ) -> AutoReload:
        result: AutoReload = await self._send(calls.set_auto_reload(threshold, amount, target))
        return result

    async def charge(
        self,
        account_id: str,
        operation: str,
        quantity: int = 1,
        *,
        byok: bool = False,
        item_id: str | None = None,
        max_price: Money | None = None,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WalletCharge:
        call = calls.charge(
            account_id,
            operation,
            quantity,
            byok=byok,
            item_id=item_id,
            max_price=max_price,
            project_id=project_id,
            idempotency_key=idempotency_key,
        )
        result: WalletCharge = await self._send(call)
        return result

    async def of_account(self, account_id: str) -> WalletBalance:
        result: WalletBalance = await self._send(calls.account_wallet(account_id))
        return result

    async def adjust(self, account_id: str, amount: Money, reason: str) -> WalletBalanceChange:
        result: WalletBalanceChange = await self._send(calls.adjust(account_id, amount, reason))
        return result

    async def refund(self, entry_id: str) -> WalletBalanceChange:
        result: WalletBalanceChange = await self._send(calls.refund(entry_id))
        return result
