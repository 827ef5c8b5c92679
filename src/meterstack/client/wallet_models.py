"""Typed results of the SDK's wallet calls (B2, D20–D24): money as Decimal, never float."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class AutoReload:
    enabled: bool
    threshold: Decimal | None
    amount: Decimal | None
    target: Decimal | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AutoReload:
        return cls(
            enabled=bool(data["enabled"]),
            threshold=_money(data.get("threshold")),
            amount=_money(data.get("amount")),
            target=_money(data.get("target")),
        )


@dataclass(frozen=True)
class WalletReload:
    id: str
    amount: Decimal
    status: str
    created_at: datetime
    settled_at: datetime | None
    reason: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletReload:
        return cls(
            id=data["id"],
            amount=Decimal(data["amount"]),
            status=data["status"],
            created_at=datetime.fromisoformat(data["created_at"]),
            settled_at=_time(data.get("settled_at")),
            reason=data.get("reason"),
        )


@dataclass(frozen=True)
class WalletBalance:
    account_id: str
    currency: str
    balance: Decimal
    auto_reload: AutoReload
    pending_reload: WalletReload | None
    #: What a lost dispute left owed: charges are refused until a deposit pays it.
    owed: Decimal = Decimal(0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletBalance:
        pending = data.get("pending_reload")
        return cls(
            account_id=data["account_id"],
            currency=data["currency"],
            balance=Decimal(data["balance"]),
            auto_reload=AutoReload.from_json(data["auto_reload"]),
            pending_reload=None if pending is None else WalletReload.from_json(pending),
            owed=Decimal(data.get("owed", "0")),
        )


@dataclass(frozen=True)
class WalletEntry:
    """One ledger entry; a deposit's is its receipt."""

    id: str
    kind: str
    amount: Decimal
    created_at: datetime
    operation: str | None
    quantity: int
    byok: bool
    project_id: str | None
    item_id: str | None
    reference: str | None
    memo: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletEntry:
        return cls(
            id=data["id"],
            kind=data["kind"],
            amount=Decimal(data["amount"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            operation=data.get("operation"),
            quantity=int(data["quantity"]),
            byok=bool(data["byok"]),
            project_id=data.get("project_id"),
            item_id=data.get("item_id"),
            reference=data.get("reference"),
            memo=data.get("memo"),
        )


@dataclass(frozen=True)
class WalletPage:
    """A page of the ledger, newest first; pass ``next_before`` for the next one."""

    transactions: list[WalletEntry]
    next_before: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletPage:
        return cls(
            [WalletEntry.from_json(entry) for entry in data["transactions"]],
            data.get("next_before"),
        )


@dataclass(frozen=True)
class WalletCharge:
    allowed: bool
    code: str
    operation: str
    quantity: int
    unit_price: Decimal
    price: Decimal
    balance: Decimal
    byok: bool
    item_id: str | None
    project_id: str | None
    entry_id: str | None
    replayed: bool
    reload_id: str | None
    as_of: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletCharge:
        return cls(
            allowed=bool(data["allowed"]),
            code=data["code"],
            operation=data["operation"],
            quantity=int(data["quantity"]),
            unit_price=Decimal(data["unit_price"]),
            price=Decimal(data["price"]),
            balance=Decimal(data["balance"]),
            byok=bool(data["byok"]),
            item_id=data.get("item_id"),
            project_id=data.get("project_id"),
            entry_id=data.get("entry_id"),
            replayed=bool(data["replayed"]),
            reload_id=data.get("reload_id"),
            as_of=datetime.fromisoformat(data["as_of"]),
        )


@dataclass(frozen=True)
class DepositLink:
    """Where the customer pays a deposit; the wallet is credited once it is paid."""

    url: str
    checkout_id: str
    amount: Decimal

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DepositLink:
        return cls(data["url"], data["checkout_id"], Decimal(data["amount"]))


@dataclass(frozen=True)
class WalletBalanceChange:
    account_id: str
    balance: Decimal

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WalletBalanceChange:
        return cls(data["account_id"], Decimal(data["balance"]))
