"""What each alert and budget call of the SDK sends and how its answer is read (D25, D26).

Without an account the calls are the customer's own (``/api/billing``); with one, the
operator's (``/v1/accounts/{id}``). Thresholds and amounts go as decimal strings (D15).
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

from meterstack.client._calls import Call
from meterstack.client.alert_models import Alert, Budget, deleted

Number = Decimal | int | str


def _base(account_id: str | None) -> str:
    return "/api/billing" if account_id is None else f"/v1/accounts/{quote(account_id, safe='')}"


def _text(value: Number | None) -> str | None:
    if isinstance(value, float):
        raise TypeError("a threshold or an amount is a Decimal or a decimal string, never a float")
    return None if value is None else str(value)


def alerts(account_id: str | None) -> Call[list[Alert]]:
    return Call("GET", f"{_base(account_id)}/alerts", Alert.many, repeatable=True)


def alert(account_id: str | None, alert_id: str) -> Call[Alert]:
    path = f"{_base(account_id)}/alerts/{quote(alert_id, safe='')}"
    return Call("GET", path, Alert.from_json, repeatable=True)


def create(
    account_id: str | None, kind: str, meter: str | None, threshold: Number | None
) -> Call[Alert]:
    body: dict[str, object] = {"kind": kind}
    if meter is not None:
        body["meter"] = meter
    if threshold is not None:
        body["threshold"] = _text(threshold)
    return Call("POST", f"{_base(account_id)}/alerts", Alert.from_json, body)


def delete(account_id: str | None, alert_id: str) -> Call[bool]:
    path = f"{_base(account_id)}/alerts/{quote(alert_id, safe='')}"
    return Call("DELETE", path, deleted, repeatable=True)


def budget(account_id: str | None) -> Call[Budget]:
    return Call("GET", f"{_base(account_id)}/budget", Budget.from_json, repeatable=True)


def set_budget(account_id: str | None, amount: Number | None, mode: str) -> Call[Budget]:
    body = {"amount": _text(amount), "mode": mode}
    return Call("PUT", f"{_base(account_id)}/budget", Budget.from_json, body, repeatable=True)
