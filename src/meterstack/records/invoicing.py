"""The invoice as meterstack records it: the invoice of record (D10), exact to the cent.

Every amount is a :class:`~decimal.Decimal` in the catalog's currency, already rounded half-up to
the currency's minor unit on its line (``money.round_money``); the total is the sum of the lines,
always. Each line carries its derivation, so that a reader can redo the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterstack.rules.periods import period_name


class InvoiceStatus(StrEnum):
    """draft -> finalized -> paid | void | uncollectible (uncollectible -> paid | void);
    paid -> void gives back what the invoice collected."""

    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


#: The moves an invoice's status may make.
TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.FINALIZED, InvoiceStatus.VOID}),
    InvoiceStatus.FINALIZED: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
    ),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.VOID}),
    InvoiceStatus.VOID: frozenset(),
}


#: The kind of the line that moves money between an invoice and the account's credit: positive
#: when it keeps what the invoice leaves negative, negative when the credit pays the invoice.
ACCOUNT_CREDIT = "account_credit"


#: The kind of a period close's invoice (the period statement); others are issued on their own.
PERIOD_INVOICE = "period"


@dataclass(frozen=True)
class WalletSpend:
    """What the prepaid wallet paid for one operation in a period, refunds netted (D20)."""

    operation: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class InvoiceLine:
    position: int
    #: ``subscription``, ``overage``, ``usage`` or ``pack``; an upgrade's ``proration``,
    #: ``unused_time`` (credited) and ``remaining_time``; ``account_credit``.
    kind: str
    description: str
    #: The catalog item the line prices; None for the subscription fee.
    item: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    #: How the amount came about: used, included, packs, grace (hard limit), overage units,
    #: block size, unit price, raw amount, rounded amount, whether the minimum applied, and a
    #: sentence saying the same.
    derivation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invoice:
    id: str
    #: Gapless per sequence, assigned when the invoice is finalized; None for a draft.
    number: str | None
    account_id: str
    status: InvoiceStatus
    currency: str
    #: The usage period the invoice closes (its usage lines are for it).
    period_key: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    #: The account's plan and the catalog it was billed from, for the reader.
    plan: str = ""
    catalog: str = ""
    #: :data:`PERIOD_INVOICE` for a period close; "" until an issued invoice is read back.
    kind: str = ""
    #: The period statement's own section: the wallet's spend by operation during the period.
    #: Not lines: it was paid from the wallet as it happened, and the total is the lines' sum.
    wallet_spend: tuple[WalletSpend, ...] = ()

    @property
    def period_name(self) -> str:
        """The period as a person reads it (``April 2026``); ``period_key`` is for machines
        (a pack's or an upgrade's invoice has a key of its own)."""
        return period_name(self.period_start, self.period_end)

    def __post_init__(self) -> None:
        lines_total = sum((line.amount for line in self.lines), Decimal(0))
        if lines_total != self.total:
            raise ValueError(f"invoice total {self.total} is not the sum of its lines")


#: An operator's check of each invoice a period close drafts, before it is numbered (a ceiling
#: held for review, a line no plan should have): raising leaves the account's period unclosed,
#: recorded as a close failure with the error as its reason, exactly as a rating fault is. The
#: next close drafts it again and asks again.
InvoiceCheck = Callable[[Invoice], None]
