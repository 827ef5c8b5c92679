"""The wallet page's engine calls (B2, D20, D21, D24): the balance, the ledger a page at a time,
a deposit through checkout and the auto-reload settings.

Nothing here decides what is allowed: the engine refuses a deposit below the minimum, an amount
that is not whole cents, or auto-reload on a plan without payments, and the page shows why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError
from meterstack.records.audit import Actor
from meterstack.records.wallet import EntryKind, EntryPage, LedgerEntry, WalletView
from meterstack.server.dashboard.pages import decimal_field
from meterstack.server.dashboard.rendering import money

TRANSACTIONS_PER_PAGE = 25
#: The entries that settle money coming in or going out: each is its own receipt (D24).
RECEIPT_KINDS = frozenset({EntryKind.DEPOSIT, EntryKind.RELOAD, EntryKind.REFUND, EntryKind.PAYOUT})
_KIND_NAMES = {
    EntryKind.DEPOSIT: "Deposit",
    EntryKind.RELOAD: "Auto-reload",
    EntryKind.CHARGE: "Charge",
    EntryKind.REFUND: "Refund",
    EntryKind.ADJUSTMENT: "Adjustment",
    EntryKind.CREATOR_CREDIT: "Sale",
    EntryKind.PLATFORM_FEE: "Platform fee",
    EntryKind.PAYOUT: "Payout",
    EntryKind.CLAWBACK: "Clawback",
}


@dataclass(frozen=True)
class Transaction:
    entry: LedgerEntry
    #: What the entry was, as people read it (``Charge: Bot message exchange × 3``).
    description: str

    @property
    def kind_name(self) -> str:
        return _KIND_NAMES.get(self.entry.kind, str(self.entry.kind))

    @property
    def receipt(self) -> bool:
        return self.entry.kind in RECEIPT_KINDS


@dataclass(frozen=True)
class WalletPage:
    catalog: Catalog
    wallet: WalletView
    transactions: list[Transaction]
    #: The cursor of the next (older) page; None on the oldest.
    older: str | None
    #: Whether this is the newest page (no cursor given).
    newest: bool
    minimum_deposit: Decimal | None
    #: Why the plan cannot deposit or reload (no payments, A10), said before the forms; None
    #: when it can.
    payments_refused: str | None


def _description(catalog: Catalog, entry: LedgerEntry) -> str:
    operations = catalog.wallet.operations if catalog.wallet is not None else {}
    parts = [_KIND_NAMES.get(entry.kind, str(entry.kind))]
    if entry.operation is not None:
        declared = operations.get(entry.operation)
        parts.append(f": {declared.name if declared else entry.operation}")
        if entry.quantity:
            parts.append(f" × {entry.quantity:,}")
    if entry.byok:
        parts.append(" (your own model key)")
    if entry.memo:
        parts.append(f" — {entry.memo}")
    return "".join(parts)


def wallet(engine: Engine, account_id: str, before: str | None) -> WalletPage:
    catalog = engine.catalog
    page: EntryPage = engine.wallet_transactions(
        account_id, before=before, limit=TRANSACTIONS_PER_PAGE
    )
    payments = engine.check_payment(account_id)
    return WalletPage(
        catalog=catalog,
        wallet=engine.wallet(account_id),
        transactions=[Transaction(entry, _description(catalog, entry)) for entry in page.entries],
        older=page.next_before,
        newest=before is None,
        minimum_deposit=catalog.wallet.minimum_deposit if catalog.wallet is not None else None,
        payments_refused=None if payments.allowed else payments.message,
    )


def start_deposit(engine: Engine, account_id: str, amount: str, return_to: str) -> str:
    """The hosted checkout of a deposit (D24); its URL, to send the browser to."""
    made = engine.deposit(
        account_id,
        decimal_field(amount, "amount"),
        success_url=f"{return_to}?deposit=paid",
        cancel_url=return_to,
    )
    return made.url


def set_auto_reload(
    engine: Engine, account_id: str, *, threshold: str, mode: str, value: str, actor: Actor
) -> str:
    """Auto-reload on (a threshold and a reload amount or a target balance) or off (D21)."""
    currency = engine.catalog.currency
    if mode not in {"amount", "target"}:
        raise InvalidInputError(f"mode must be 'amount' or 'target', got {mode!r}", field="mode")
    if not threshold:
        engine.set_auto_reload(account_id, threshold=None, actor=actor)
        return "Auto-reload is off."
    below = decimal_field(threshold, "threshold")
    amount = decimal_field(value, "amount")
    if mode == "target":
        engine.set_auto_reload(account_id, threshold=below, target=amount, actor=actor)
        return (
            f"Auto-reload is on: below {money(below, currency)}, the wallet is topped up to "
            f"{money(amount, currency)}."
        )
    engine.set_auto_reload(account_id, threshold=below, amount=amount, actor=actor)
    return f"Auto-reload is on: below {money(below, currency)}, {money(amount, currency)} is added."
