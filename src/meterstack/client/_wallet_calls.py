"""What each wallet call of the SDK sends and how its answer is read (B2, D20–D24).

A customer's calls are under ``/api/billing/wallet``; the operator's under ``/v1``. Amounts go
as decimal strings (D15). Like :mod:`meterstack.client._calls`, each request is described once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from meterstack.client._calls import Call
from meterstack.client.wallet_models import (
    AutoReload,
    DepositLink,
    WalletBalance,
    WalletBalanceChange,
    WalletCharge,
    WalletPage,
)

CUSTOMER = "/api/billing/wallet"


def _id(value: str) -> str:
    return quote(value, safe="")


def _amount(value: Decimal | str | None) -> str | None:
    if isinstance(value, float):
        raise TypeError("money must be a Decimal or a decimal string, never a float")
    return None if value is None else str(value)


def _compact(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


# --------------------------------------------------------------------------- customer


def wallet() -> Call[WalletBalance]:
    return Call("GET", CUSTOMER, WalletBalance.from_json, repeatable=True)


def transactions(before: str | None, limit: int | None) -> Call[WalletPage]:
    query = urlencode(_compact(before=before, limit=limit))
    path = f"{CUSTOMER}/transactions" + (f"?{query}" if query else "")
    return Call("GET", path, WalletPage.from_json, repeatable=True)


def deposit(
    amount: Decimal | str, success_url: str | None, cancel_url: str | None
) -> Call[DepositLink]:
    body = _compact(amount=_amount(amount), success_url=success_url, cancel_url=cancel_url)
    return Call("POST", f"{CUSTOMER}/deposit", DepositLink.from_json, body)


def set_auto_reload(
    threshold: Decimal | str | None, amount: Decimal | str | None, target: Decimal | str | None
) -> Call[AutoReload]:
    body = {"threshold": _amount(threshold), "amount": _amount(amount), "target": _amount(target)}
    return Call("PUT", f"{CUSTOMER}/auto-reload", AutoReload.from_json, body, repeatable=True)


# --------------------------------------------------------------------------- operator


def charge(
    account_id: str,
    operation: str,
    quantity: int,
    *,
    byok: bool,
    item_id: str | None,
    max_price: Decimal | str | None,
    project_id: str | None,
    idempotency_key: str | None,
) -> Call[WalletCharge]:
    body = _compact(
        operation=operation,
        quantity=quantity,
        byok=byok or None,
        item_id=item_id,
        max_price=_amount(max_price),
        project_id=project_id,
        # A retry must never charge twice: every charge carries a key (D7).
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )
    path = f"/v1/accounts/{_id(account_id)}/wallet/charge"
    return Call("POST", path, WalletCharge.from_json, body, repeatable=True)


def account_wallet(account_id: str) -> Call[WalletBalance]:
    path = f"/v1/accounts/{_id(account_id)}/wallet"
    return Call("GET", path, WalletBalance.from_json, repeatable=True)


def adjust(account_id: str, amount: Decimal | str, reason: str) -> Call[WalletBalanceChange]:
    body = {"amount": _amount(amount), "reason": reason}
    path = f"/v1/accounts/{_id(account_id)}/wallet/adjust"
    return Call("POST", path, WalletBalanceChange.from_json, body)


def refund(entry_id: str) -> Call[WalletBalanceChange]:
    path = f"/v1/wallet/charges/{_id(entry_id)}/refund"
    return Call("POST", path, WalletBalanceChange.from_json, repeatable=True)
