"""Typed results of the customer's self-service calls (B8, B9, A2, A4, A5, C7, D30)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.money import parse_money
from meterstack.rules.periods import period_name


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class CheckoutLink:
    """A hosted checkout: send the buyer to ``url``; nothing changes until it is paid."""

    url: str
    checkout_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckoutLink:
        return cls(data["url"], data["checkout_id"])


@dataclass(frozen=True)
class PackBought:
    """A pack granted at once (A4, A6)."""

    pack: str
    amount: Decimal
    invoice_number: str | None
    #: The item's limit with the pack; None = unlimited.
    new_limit: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackBought:
        return cls(
            data["pack"],
            parse_money(str(data["amount"])),
            data.get("invoice_number"),
            data.get("new_limit"),
        )


def pack_or_checkout(data: Mapping[str, Any]) -> PackBought | CheckoutLink:
    """A purchase's answer: the pack, or the checkout to pay first."""
    return CheckoutLink.from_json(data) if "url" in data else PackBought.from_json(data)


@dataclass(frozen=True)
class Cancellation:
    message: str
    effective_at: datetime | None
    plan_after: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cancellation:
        return cls(data["message"], _time(data.get("effective_at")), data.get("plan_after"))


@dataclass(frozen=True)
class SubscriptionChange:
    """The subscription after a downgrade (waiting for ``effective_at``) or a resume."""

    plan: str
    pending_plan: str | None
    effective_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscriptionChange:
        return cls(data["plan"], data.get("pending_plan"), _time(data.get("effective_at")))


@dataclass(frozen=True)
class OverageSwitch:
    enabled: bool
    meter: str | None
    project_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OverageSwitch:
        return cls(data["enabled"], data.get("meter"), data.get("project_id"))


@dataclass(frozen=True)
class InvoiceLine:
    kind: str
    description: str
    item: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    derivation: Mapping[str, Any]


@dataclass(frozen=True)
class WalletSpend:
    """What the prepaid wallet paid for one operation in the invoice's period (D20)."""

    operation: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class CustomerInvoice:
    """One of the account's invoices; ``lines`` is empty in a listing."""

    number: str | None
    status: str
    plan: str
    currency: str
    period: str
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime | None
    total: Decimal
    lines: tuple[InvoiceLine, ...] = ()
    #: A period statement's wallet section (not lines, not in ``total``); empty in a listing.
    wallet_spend: tuple[WalletSpend, ...] = ()

    @property
    def period_name(self) -> str:
        """The period as a person reads it (``April 2026``), as the service's invoices show it;
        ``period`` is the machine's key (a pack's invoice has a key of its own)."""
        if self.period_start is None or self.period_end is None:
            return self.period
        return period_name(self.period_start, self.period_end)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerInvoice:
        return cls(
            number=data.get("number"),
            status=data["status"],
            plan=data["plan"],
            currency=data["currency"],
            period=data["period"],
            period_start=_time(data.get("period_start")),
            period_end=_time(data.get("period_end")),
            created_at=_time(data.get("created_at")),
            total=parse_money(str(data["total"])),
            lines=tuple(
                InvoiceLine(
                    kind=line["kind"],
                    description=line["description"],
                    item=line.get("item"),
                    quantity=Decimal(str(line["quantity"])),
                    unit_price=Decimal(str(line["unit_price"])),
                    amount=parse_money(str(line["amount"])),
                    derivation=dict(line.get("derivation", {})),
                )
                for line in data.get("lines", ())
            ),
            wallet_spend=tuple(
                WalletSpend(spent["operation"], int(spent["quantity"]), Decimal(spent["amount"]))
                for spent in data.get("wallet_spend", ())
            ),
        )


def invoices_from_json(data: Mapping[str, Any]) -> list[CustomerInvoice]:
    return [CustomerInvoice.from_json(item) for item in data["invoices"]]


@dataclass(frozen=True)
class ApiKeyInfo:
    """A user API key as listed: never its text."""

    id: str
    prefix: str
    kind: str
    name: str | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApiKeyInfo:
        return cls(
            data["id"], data["prefix"], data["kind"], data.get("name"), _time(data["created_at"])
        )


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key; ``key`` is shown this once: store it now."""

    info: ApiKeyInfo
    key: str = field(repr=False)

    @property
    def id(self) -> str:
        return self.info.id

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssuedApiKey:
        return cls(ApiKeyInfo.from_json(data), data["key"])


def keys_from_json(data: Mapping[str, Any]) -> list[ApiKeyInfo]:
    return [ApiKeyInfo.from_json(item) for item in data["keys"]]
