"""The wallet's values: ledger entries, a charge's answer, reloads and payouts (D20–D24)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import msgspec

from meterstack.rules.decisions import Decision


class Book(StrEnum):
    """Whose money an entry moves: a customer's wallet, a creator's earnings, the platform's
    fees. The wallet's balance is the sum of its ``wallet`` entries."""

    WALLET = "wallet"
    EARNINGS = "earnings"
    PLATFORM = "platform"


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    RELOAD = "reload"
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    CREATOR_CREDIT = "creator_credit"
    PLATFORM_FEE = "platform_fee"
    PAYOUT = "payout"
    CLAWBACK = "clawback"
    #: A lost dispute takes the disputed deposit back from the balance, down to zero.
    DISPUTE = "dispute"
    #: A deposit or an adjustment paying what a lost dispute left owed.
    DEBT_SETTLEMENT = "debt_settlement"


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable movement of money; ``amount`` is signed, six places (D17, D20).

    A C-level struct, as :class:`Charge` is: every charge makes one.
    """

    id: str
    account_id: str
    book: Book
    kind: EntryKind
    amount: Decimal
    created_at: datetime
    operation: str | None = None
    quantity: int = 0
    byok: bool = False
    project_id: str | None = None
    item_id: str | None = None
    idempotency_key: str | None = None
    #: What the entry settles, unique per kind: a checkout, a reload, the charge refunded, a
    #: payout run's payment. A second entry of the same kind and reference is never written.
    reference: str | None = None
    #: Free text: an adjustment's reason, a refund's.
    memo: str | None = None
    #: The payout that paid a creator's entry out (D23); None while unpaid.
    payout_id: str | None = None


class WalletCode(StrEnum):
    OK = "ok"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    PRICE_CHANGED = "price_changed"
    #: A lost dispute left money owed: charges wait until a deposit or an adjustment pays it.
    WALLET_SUSPENDED = "wallet_suspended"


class Charge(msgspec.Struct, frozen=True, kw_only=True, array_like=True, omit_defaults=True):
    """The answer to a charge, as ``consume``'s decision is to a unit (B2, D20).

    Stored with its idempotency key as a JSON array: a field is only ever added at the end.
    """

    allowed: bool
    #: ``ok``, ``insufficient_balance`` (402), ``price_changed`` (409), or the refusing meter
    #: decision's own code when the operation counts a meter.
    code: str
    http_status: int
    operation: str
    quantity: int
    #: Price of one unit, and of the whole charge (six places).
    unit_price: Decimal
    price: Decimal
    #: The wallet's balance after the charge (as it stands, when refused).
    balance: Decimal
    as_of: datetime
    message: str
    byok: bool = False
    item_id: str | None = None
    project_id: str | None = None
    #: The ledger entry of an admitted charge.
    entry_id: str | None = None
    replayed: bool = False
    #: The meter's decision, when the operation counts a meter.
    usage: Decision | None = None
    #: The reload this charge started by crossing the threshold (D21), if any.
    reload_id: str | None = None

    def encode(self) -> str:
        return _ENCODER.encode(self).decode()

    @classmethod
    def decode(cls, text: str | bytes, *, replayed: bool = False) -> Charge:
        charge = _DECODER.decode(text)
        return msgspec.structs.replace(charge, replayed=True) if replayed else charge

    def details(self) -> dict[str, Any]:
        """What a refusal carries: balance and price, as decimal strings (D15)."""
        return {
            "operation": self.operation,
            "quantity": self.quantity,
            "balance": str(self.balance),
            "price": str(self.price),
            "unit_price": str(self.unit_price),
        }


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Charge)


class ReloadStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Reload:
    """One auto-reload, started by one crossing of the threshold (D21)."""

    id: str
    account_id: str
    amount: Decimal
    status: ReloadStatus
    created_at: datetime
    settled_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class WalletSettings:
    """The customer's auto-reload settings (D21); ``threshold`` None = off."""

    threshold: Decimal | None = None
    amount: Decimal | None = None
    target: Decimal | None = None
    #: What a lost dispute left owed beyond the balance (read from the store, never set by the
    #: customer): while above zero, charges are refused 402 ``wallet_suspended``.
    owed: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class WalletView:
    account_id: str
    currency: str
    balance: Decimal
    settings: WalletSettings
    #: The reload waiting for the provider, if any.
    pending_reload: Reload | None = None


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: list[LedgerEntry]
    #: Pass as ``before`` to read the next (older) page; None at the oldest.
    next_before: str | None


@dataclass(frozen=True, slots=True)
class MarketplaceItem:
    """A creator's item (e.g. a tool) with its price per call (D23)."""

    id: str
    creator_id: str
    operation: str
    name: str
    price: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Payout:
    """A payment of a creator's earnings (D23): whole cents, recorded before it is asked of
    the provider, so that a re-run after a crash settles it instead of paying again."""

    id: str
    creator_id: str
    amount: Decimal
    status: str
    created_at: datetime
    #: How many times the provider was asked for it (the idempotency key's attempt number).
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class CreatorAccount:
    """A creator's account with the provider (a Connect account) and whether it can be paid:
    the provider says so (``account.updated``) once the creator finished onboarding."""

    creator_id: str
    provider_account: str
    payouts_enabled: bool
    updated_at: datetime


class ChargeRequest(NamedTuple):
    """What a charge asks for (engine.charge's arguments).

    A named tuple, as a consume's ``UsageEvent`` is: every charge makes one.
    """

    account_id: str
    operation: str
    quantity: int = 1
    byok: bool = False
    item_id: str | None = None
    max_price: Decimal | None = None
    project_id: str | None = None
    idempotency_key: str | None = None
