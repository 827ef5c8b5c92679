"""SQL of the wallet: the ledger, auto-reload settings, reloads and deposits (D20–D24).

The balance itself is a counter row, written by ``Counters.apply`` with the charge's meter
steps; this adapter writes what moved it, in the same transaction. Amounts are whole millionths
(D17): a ``SUM`` over the ledger is exact in SQL on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.money import LEDGER_PLACES
from meterstack.records.wallet import (
    Book,
    EntryKind,
    LedgerEntry,
    MarketplaceItem,
    Payout,
    Reload,
    ReloadStatus,
    WalletSettings,
)
from meterstack.store.statements import Statements

_ENTRY_COLUMNS = (
    "id, account_id, book, kind, amount, created_at, operation, quantity, byok, project_id, "
    "item_id, idempotency_key, reference, memo, payout_id, seq"
)


def micros(amount: Decimal) -> int:
    scaled = amount.scaleb(LEDGER_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"an amount is kept to {LEDGER_PLACES} decimal places, got {amount}")
    return int(scaled)


def from_micros(value: Any) -> Decimal:
    return Decimal(int(value)).scaleb(-LEDGER_PLACES)


def optional_micros(value: Any) -> Decimal | None:
    return None if value is None else from_micros(value)


class SqlWallet:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    # ------------------------------------------------------------------ the ledger

    def insert_entry(self, entry: LedgerEntry) -> bool:
        """Write one entry; False (nothing written) when its kind and reference are taken."""
        row = self._sql.one(
            "INSERT INTO wallet_entries (id, account_id, book, kind, amount, operation, "
            "quantity, byok, project_id, item_id, idempotency_key, reference, memo, payout_id, "
            "created_at) VALUES (:id, :account_id, :book, :kind, :amount, :operation, "
            ":quantity, :byok, :project_id, :item_id, :idempotency_key, :reference, :memo, "
            ":payout_id, :created_at) ON CONFLICT DO NOTHING RETURNING seq",
            {
                "id": entry.id,
                "account_id": entry.account_id,
                "book": str(entry.book),
                "kind": str(entry.kind),
                "amount": micros(entry.amount),
                "operation": entry.operation,
                "quantity": entry.quantity,
                "byok": entry.byok,
                "project_id": entry.project_id,
                "item_id": entry.item_id,
                "idempotency_key": entry.idempotency_key,
                "reference": entry.reference,
                "memo": entry.memo,
                "payout_id": entry.payout_id,
                "created_at": self._sql.ts(entry.created_at),
            },
        )
        return row is not None

    def entries(
        self, account_id: str, book: Book, *, before: int | None, limit: int
    ) -> list[tuple[int, LedgerEntry]]:
        """An account's entries of one book, newest first, older than ``before`` (a seq)."""
        older = "" if before is None else " AND seq < :before"
        rows = self._sql.all(
            f"SELECT {_ENTRY_COLUMNS} FROM wallet_entries WHERE account_id = :account_id "
            f"AND book = :book{older} ORDER BY seq DESC LIMIT :limit",
            {"account_id": account_id, "book": str(book), "before": before, "limit": limit},
        )
        return [(int(row[15]), self._entry(row)) for row in rows]

    def entry(self, entry_id: str) -> LedgerEntry | None:
        row = self._sql.one(
            f"SELECT {_ENTRY_COLUMNS} FROM wallet_entries WHERE id = :id", {"id": entry_id}
        )
        return None if row is None else self._entry(row)

    def by_reference(self, kind: EntryKind, reference: str) -> LedgerEntry | None:
        row = self._sql.one(
            f"SELECT {_ENTRY_COLUMNS} FROM wallet_entries WHERE kind = :kind "
            "AND reference = :reference",
            {"kind": str(kind), "reference": reference},
        )
        return None if row is None else self._entry(row)

    def total(self, account_id: str, book: Book) -> Decimal:
        """The SUM of an account's entries of one book, in SQL."""
        row = self._sql.one(
            "SELECT COALESCE(SUM(amount), 0) FROM wallet_entries "
            "WHERE account_id = :account_id AND book = :book",
            {"account_id": account_id, "book": str(book)},
        )
        return from_micros(row[0])

    def spend_by_operation(
        self, account_id: str, start: datetime, end: datetime
    ) -> dict[str, tuple[int, Decimal]]:
        """Operation -> (quantity, amount spent) of the wallet's charges less their refunds in
        [start, end): the period statement's wallet section."""
        rows = self._sql.all(
            "SELECT operation, kind, SUM(quantity), SUM(amount) FROM wallet_entries WHERE "
            "account_id = :account_id AND book = 'wallet' AND kind IN ('charge', 'refund') AND "
            "operation IS NOT NULL AND created_at >= :start AND created_at < :end "
            "GROUP BY operation, kind ORDER BY operation",
            {
                "account_id": account_id,
                "start": self._sql.ts(start),
                "end": self._sql.ts(end),
            },
        )
        spend: dict[str, tuple[int, Decimal]] = {}
        for operation, kind, quantity, amount in rows:
            units, money = spend.get(operation, (0, Decimal(0)))
            units += int(quantity) if kind == "charge" else -int(quantity)
            spend[operation] = (units, money - from_micros(amount))
        return spend

    def refunded(self, entry_ids: Sequence[str]) -> set[str]:
        """Which of these charges have a refund."""
        if not entry_ids:
            return set()
        within, params = self._sql.one_of("reference", list(entry_ids), "r")
        rows = self._sql.all(
            f"SELECT reference FROM wallet_entries WHERE kind = 'refund' AND {within}", params
        )
        return {str(row[0]) for row in rows}

    def _entry(self, row: Sequence[Any]) -> LedgerEntry:
        return LedgerEntry(
            id=row[0],
            account_id=row[1],
            book=Book(row[2]),
            kind=EntryKind(row[3]),
            amount=from_micros(row[4]),
            created_at=self._sql.dialect.from_ts(row[5]),
            operation=row[6],
            quantity=int(row[7]),
            byok=bool(row[8]),
            project_id=row[9],
            item_id=row[10],
            idempotency_key=row[11],
            reference=row[12],
            memo=row[13],
            payout_id=row[14],
        )

    # ------------------------------------------------------------------ auto-reload (D21)

    def settings(self, account_id: str) -> WalletSettings:
        row = self._sql.one(
            "SELECT threshold, reload_amount, target_balance, owed FROM wallet_settings "
            "WHERE account_id = :account_id",
            {"account_id": account_id},
        )
        if row is None:
            return WalletSettings()
        return WalletSettings(
            optional_micros(row[0]),
            optional_micros(row[1]),
            optional_micros(row[2]),
            from_micros(row[3]),
        )

    def set_settings(self, account_id: str, settings: WalletSettings) -> None:
        values = {
            "account_id": account_id,
            "threshold": None if settings.threshold is None else micros(settings.threshold),
            "amount": None if settings.amount is None else micros(settings.amount),
            "target": None if settings.target is None else micros(settings.target),
        }
        self._sql.execute(
            "INSERT INTO wallet_settings (account_id, threshold, reload_amount, target_balance) "
            "VALUES (:account_id, :threshold, :amount, :target) ON CONFLICT (account_id) DO "
            "UPDATE SET threshold = excluded.threshold, reload_amount = excluded.reload_amount, "
            "target_balance = excluded.target_balance",
            values,
        )

    def insert_reload(self, reload: Reload) -> bool:
        row = self._sql.one(
            "INSERT INTO wallet_reloads (id, account_id, amount, status, created_at) VALUES "
            "(:id, :account_id, :amount, :status, :created_at) ON CONFLICT DO NOTHING "
            "RETURNING id",
            {
                "id": reload.id,
                "account_id": reload.account_id,
                "amount": micros(reload.amount),
                "status": str(reload.status),
                "created_at": self._sql.ts(reload.created_at),
            },
        )
        return row is not None

    def settle_reload(
        self, reload_id: str, status: ReloadStatus, reason: str | None, now: datetime
    ) -> bool:
        """Move a pending reload to paid or failed; False when it was settled before."""
        row = self._sql.one(
            "UPDATE wallet_reloads SET status = :status, reason = :reason, settled_at = :now "
            "WHERE id = :id AND status = 'pending' RETURNING id",
            {"id": reload_id, "status": str(status), "reason": reason, "now": self._sql.ts(now)},
        )
        return row is not None

    def reloads(self, account_id: str, *, pending: bool = False) -> list[Reload]:
        only = " AND status = 'pending'" if pending else ""
        rows = self._sql.all(
            "SELECT id, account_id, amount, status, created_at, settled_at, reason FROM "
            f"wallet_reloads WHERE account_id = :account_id{only} ORDER BY created_at, id",
            {"account_id": account_id},
        )
        return [
            Reload(
                id=row[0],
                account_id=row[1],
                amount=from_micros(row[2]),
                status=ReloadStatus(row[3]),
                created_at=self._sql.dialect.from_ts(row[4]),
                settled_at=None if row[5] is None else self._sql.dialect.from_ts(row[5]),
                reason=row[6],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ deposits (D24)

    def insert_deposit(
        self, checkout_id: str, account_id: str, amount: Decimal, now: datetime
    ) -> None:
        self._sql.execute(
            "INSERT INTO wallet_deposits (checkout_id, account_id, amount, created_at) VALUES "
            "(:checkout_id, :account_id, :amount, :now)",
            {
                "checkout_id": checkout_id,
                "account_id": account_id,
                "amount": micros(amount),
                "now": self._sql.ts(now),
            },
        )

    def deposit(self, checkout_id: str) -> tuple[str, Decimal] | None:
        """(account, amount) of a deposit checkout."""
        row = self._sql.one(
            "SELECT account_id, amount FROM wallet_deposits WHERE checkout_id = :id",
            {"id": checkout_id},
        )
        return None if row is None else (str(row[0]), from_micros(row[1]))

    # ------------------------------------------------------------------ marketplace (D23)

    def insert_item(self, item: MarketplaceItem) -> None:
        self._sql.execute(
            "INSERT INTO marketplace_items (id, creator_id, operation, name, price, created_at) "
            "VALUES (:id, :creator_id, :operation, :name, :price, :created_at)",
            {
                "id": item.id,
                "creator_id": item.creator_id,
                "operation": item.operation,
                "name": item.name,
                "price": micros(item.price),
                "created_at": self._sql.ts(item.created_at),
            },
        )

    def set_item_price(self, item_id: str, price: Decimal) -> bool:
        row = self._sql.one(
            "UPDATE marketplace_items SET price = :price WHERE id = :id RETURNING id",
            {"id": item_id, "price": micros(price)},
        )
        return row is not None

    def item(self, item_id: str) -> MarketplaceItem | None:
        rows = self._items("WHERE id = :id", {"id": item_id})
        return rows[0] if rows else None

    def items_of(self, creator_id: str) -> list[MarketplaceItem]:
        return self._items(
            "WHERE creator_id = :creator_id ORDER BY created_at, id", {"creator_id": creator_id}
        )

    def _items(self, where: str, params: dict[str, Any]) -> list[MarketplaceItem]:
        rows = self._sql.all(
            f"SELECT id, creator_id, operation, name, price, created_at FROM marketplace_items "
            f"{where}",
            params,
        )
        return [
            MarketplaceItem(
                id=row[0],
                creator_id=row[1],
                operation=row[2],
                name=row[3],
                price=from_micros(row[4]),
                created_at=self._sql.dialect.from_ts(row[5]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ payouts (D23)

    def creators_to_pay(self) -> list[str]:
        """Creators with earnings entries no payout has taken yet."""
        rows = self._sql.all(
            "SELECT DISTINCT account_id FROM wallet_entries WHERE book = 'earnings' "
            "AND payout_id IS NULL ORDER BY account_id"
        )
        return [str(row[0]) for row in rows]

    def lock_creator(self, creator_id: str) -> None:
        """Serialize payout runs of one creator (SQLite's writer lock already does)."""
        if not self._sql.dialect.is_sqlite:
            self._sql.execute(
                "SELECT id FROM accounts WHERE id = :id FOR UPDATE", {"id": creator_id}
            )

    def take_for_payout(self, creator_id: str, payout_id: str) -> int:
        """Mark the creator's unpaid earnings entries as taken by ``payout_id``; how many."""
        rows = self._sql.all(
            "UPDATE wallet_entries SET payout_id = :payout_id WHERE account_id = :creator "
            "AND book = 'earnings' AND payout_id IS NULL RETURNING seq",
            {"creator": creator_id, "payout_id": payout_id},
        )
        return len(rows)

    def insert_payout(self, payout: Payout) -> None:
        self._sql.execute(
            "INSERT INTO wallet_payouts (id, creator_id, amount, status, created_at) VALUES "
            "(:id, :creator_id, :amount, :status, :created_at)",
            {
                "id": payout.id,
                "creator_id": payout.creator_id,
                "amount": micros(payout.amount),
                "status": payout.status,
                "created_at": self._sql.ts(payout.created_at),
            },
        )

    def pending_payouts(self) -> list[Payout]:
        rows = self._sql.all(
            "SELECT id, creator_id, amount, status, created_at, attempts FROM wallet_payouts "
            "WHERE status = 'pending' ORDER BY created_at, id"
        )
        return [
            Payout(
                row[0],
                row[1],
                from_micros(row[2]),
                row[3],
                self._sql.dialect.from_ts(row[4]),
                int(row[5]),
            )
            for row in rows
        ]

    def settle_payout(self, payout_id: str, now: datetime) -> bool:
        row = self._sql.one(
            "UPDATE wallet_payouts SET status = 'paid', settled_at = :now, claimed_until = NULL "
            "WHERE id = :id AND status = 'pending' RETURNING id",
            {"id": payout_id, "now": self._sql.ts(now)},
        )
        return row is not None
