"""Alerts and the budget guard from the SDK (D25, D26): ``client.alerts``, sync and async alike.

::

    customer.alerts.create("usage_percent", meter="sessions", threshold="80")
    customer.alerts.set_budget("50.00", mode="hard")
    operator.alerts.list(account_id="acct_…")

Without ``account_id`` a call is the customer's own; with it, the operator's for that account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from meterstack.client import _alert_calls as calls
from meterstack.client._alert_calls import Number
from meterstack.client._calls import Call
from meterstack.client.alert_models import Alert, Budget


class Alerts:
    """The alert calls of :class:`~meterstack.client.Client`."""

    def __init__(self, send: Callable[[Call[Any]], Any]) -> None:
        self._send = send

    def list(self, *, account_id: str | None = None) -> list[Alert]:
        """The catalog's default thresholds and the account's own alerts, with their state."""
        result: list[Alert] = self._send(calls.alerts(account_id))
        return result

    def get(self, alert_id: str, *, account_id: str | None = None) -> Alert:
        result: Alert = self._send(calls.alert(account_id, alert_id))
        return result

    def create(
        self,
        kind: str,
        *,
        meter: str | None = None,
        threshold: Number | None = None,
        account_id: str | None = None,
    ) -> Alert:
        """A new alert (409 ``too_many_alerts`` past 50): fires once per crossing."""
        result: Alert = self._send(calls.create(account_id, kind, meter, threshold))
        return result

    def delete(self, alert_id: str, *, account_id: str | None = None) -> bool:
        result: bool = self._send(calls.delete(account_id, alert_id))
        return result

    def budget(self, *, account_id: str | None = None) -> Budget:
        result: Budget = self._send(calls.budget(account_id))
        return result

    def set_budget(
        self, amount: Number | None, *, mode: str = "hard", account_id: str | None = None
    ) -> Budget:
        """A maximum monthly cost; ``hard`` refuses overage and wallet charges past it (402
        ``budget_exceeded``), ``soft`` warns at 75/90/100 %; None removes it."""
        result: Budget = self._send(calls.set_budget(account_id, amount, mode))
        return result


class AsyncAlerts:
    """The alert calls of :class:`~meterstack.client.AsyncClient`, as coroutines."""

    def __init__(self, send: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        self._send = send

    async def list(self, *, account_id: str | None = None) -> list[Alert]:
        result: list[Alert] = await self._send(calls.alerts(account_id))
        return result

    async def get(self, alert_id: str, *, account_id: str | None = None) -> Alert:
        result: Alert = await self._send(calls.alert(account_id, alert_id))
        return result

    async def create(
        self,
        kind: str,
        *,
        meter: str | None = None,
        threshold: Number | None = None,
        account_id: str | None = None,
    ) -> Alert:
        result: Alert = await self._send(calls.create(account_id, kind, meter, threshold))
        return result

    async def delete(self, alert_id: str, *, account_id: str | None = None) -> bool:
        result: bool = await self._send(calls.delete(account_id, alert_id))
        return result

    async def budget(self, *, account_id: str | None = None) -> Budget:
        result: Budget = await self._send(calls.budget(account_id))
        return result

    async def set_budget(
        self, amount: Number | None, *, mode: str = "hard", account_id: str | None = None
    ) -> Budget:
        result: Budget = await self._send(calls.set_budget(account_id, amount, mode))
        return result
