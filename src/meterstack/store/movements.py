"""SQL of money sent back and out through the provider: refunds, creators' provider accounts,
payout attempts, disputes of payments and what a lost dispute left owed.

A payout or a refund is claimed before the provider is asked (``claim_*``): the claim counts
the attempt and holds the row until ``until``, so of two runs overlapping only one asks the
provider for it, and a run that died gives it back when the claim lapses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.records.payments import MoneyRefund, PaymentDispute, RefundStatus
from meterstack.records.wallet import CreatorAccount
from meterstack.store.statements import Statements
from meterstack.store.wallet import from_micros, micros

_REFUND_COLUMNS = (
    "id, account_id, source, reference, payment, amount, currency, reason, status, attempts, "
    "created_at, settled_at, failure"
)


class SqlMovements:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    # ------------------------------------------------------------------ refunds

    def insert_refund(self, refund: MoneyRefund) -> None:
        self._sql.execute(
            "INSERT INTO money_refunds (id, account_id, source, reference, payment, amount, "
            "currency, reason, status, attempts, created_at) VALUES (:id, :account_id, "
            ":source, :reference, :payment, :amount, :currency, :reason, :status, 0, :now)",
            {
                "id": refund.id,
                "account_id": refund.account_id,
                "source": refund.source,
                "reference": refund.reference,
                "payment": refund.payment,
                "amount": micros(refund.amount),
                "currency": refund.currency,
                "reason": refund.reason,
                "status": str(refund.status),
                "now": self._sql.ts(refund.created_at),
            },
        )

    def refunds_of(self, source: str, reference: str) -> list[MoneyRefund]:
        return self._refunds(
            "source = :source AND reference = :reference",
            {"source": source, "reference": reference},
        )

    def refund(self, refund_id: str) -> MoneyRefund | None:
        found = self._refunds("id = :id", {"id": refund_id})
        return found[0] if found else None

    def pending_refunds(self) -> list[MoneyRefund]:
        return self._refunds("status = 'pending'", {})

    def claim_refund(self, refund_id: str, now: datetime, until: datetime) -> int | None:
        """Count an attempt and hold the pending refund until ``until``; its attempt number,
        or None when it is settled or another run holds it."""
        return self._claim("money_refunds", refund_id, now, until)

    def settle_refund(
        self, refund_id: str, status: RefundStatus, failure: str | None, now: datetime
    ) -> bool:
        row = self._sql.one(
            "UPDATE money_refunds SET status = :status, failure = :failure, settled_at = :now, "
            "claimed_until = NULL WHERE id = :id AND status = 'pending' RETURNING id",
            {"id": refund_id, "status": str(status), "failure": failure, "now": self._sql.ts(now)},
        )
        return row is not None

    def release_refund(self, refund_id: str, failure: str) -> None:
        """The provider did not refund it this time: it stays pending, free for the next."""
        self._sql.execute(
            "UPDATE money_refunds SET claimed_until = NULL, failure = :failure "
            "WHERE id = :id AND status = 'pending'",
            {"id": refund_id, "failure": failure},
        )

    def _refunds(self, where: str, params: dict[str, Any]) -> list[MoneyRefund]:
        rows = self._sql.all(
            f"SELECT {_REFUND_COLUMNS} FROM money_refunds WHERE {where} ORDER BY seq",
            params,
        )
        return [self._refund(row) for row in rows]

    def _refund(self, row: Sequence[Any]) -> MoneyRefund:
        return MoneyRefund(
            id=row[0],
            account_id=row[1],
            source=row[2],
            reference=row[3],
            payment=row[4],
            amount=from_micros(row[5]),
            currency=row[6],
            reason=row[7],
            status=RefundStatus(row[8]),
            attempts=int(row[9]),
            created_at=self._sql.dialect.from_ts(row[10]),
            settled_at=None if row[11] is None else self._sql.dialect.from_ts(row[11]),
            failure=row[12],
        )

    # ------------------------------------------------------------------ payouts

    def claim_payout(self, payout_id: str, now: datetime, until: datetime) -> int | None:
        """As :meth:`claim_refund`, for a pending payout."""
        return self._claim("wallet_payouts", payout_id, now, until)

    def release_payout(self, payout_id: str) -> None:
        self._sql.execute(
            "UPDATE wallet_payouts SET claimed_until = NULL WHERE id = :id AND status = 'pending'",
            {"id": payout_id},
        )

    def _claim(self, table: str, row_id: str, now: datetime, until: datetime) -> int | None:
        row = self._sql.one(
            f"UPDATE {table} SET attempts = attempts + 1, claimed_until = :until "
            "WHERE id = :id AND status = 'pending' "
            "AND (claimed_until IS NULL OR claimed_until <= :now) RETURNING attempts",
            {"id": row_id, "now": self._sql.ts(now), "until": self._sql.ts(until)},
        )
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ creators (Connect)

    def creator_account(self, creator_id: str) -> CreatorAccount | None:
        return self._creator("creator_id = :id", creator_id)

    def creator_by_provider(self, provider_account: str) -> CreatorAccount | None:
        return self._creator("provider_account = :id", provider_account)

    def insert_creator_account(self, account: CreatorAccount) -> bool:
        row = self._sql.one(
            "INSERT INTO creator_accounts (creator_id, provider_account, payouts_enabled, "
            "updated_at) VALUES (:creator, :provider, :enabled, :now) ON CONFLICT DO NOTHING "
            "RETURNING creator_id",
            {
                "creator": account.creator_id,
                "provider": account.provider_account,
                "enabled": account.payouts_enabled,
                "now": self._sql.ts(account.updated_at),
            },
        )
        return row is not None

    def set_payouts_enabled(self, provider_account: str, enabled: bool, now: datetime) -> bool:
        row = self._sql.one(
            "UPDATE creator_accounts SET payouts_enabled = :enabled, updated_at = :now "
            "WHERE provider_account = :id RETURNING creator_id",
            {"id": provider_account, "enabled": enabled, "now": self._sql.ts(now)},
        )
        return row is not None

    def _creator(self, where: str, value: str) -> CreatorAccount | None:
        row = self._sql.one(
            "SELECT creator_id, provider_account, payouts_enabled, updated_at FROM "
            f"creator_accounts WHERE {where}",
            {"id": value},
        )
        if row is None:
            return None
        return CreatorAccount(row[0], row[1], bool(row[2]), self._sql.dialect.from_ts(row[3]))

    # ------------------------------------------------------------------ what is owed

    def owed(self, account_id: str, *, lock: bool = False) -> Decimal:
        """What a lost dispute left owed; ``lock`` holds the row until the transaction ends
        (PostgreSQL; SQLite's writer lock already serializes)."""
        locking = " FOR UPDATE" if lock and not self._sql.dialect.is_sqlite else ""
        row = self._sql.one(
            f"SELECT owed FROM wallet_settings WHERE account_id = :id{locking}",
            {"id": account_id},
        )
        return Decimal(0) if row is None else from_micros(row[0])

    def add_owed(self, account_id: str, amount: Decimal) -> None:
        """Add (or, negative, take away) what is owed."""
        self._sql.execute(
            "INSERT INTO wallet_settings (account_id, owed) VALUES (:id, :amount) "
            "ON CONFLICT (account_id) DO UPDATE SET owed = wallet_settings.owed + excluded.owed",
            {"id": account_id, "amount": micros(amount)},
        )

    def lock_invoice(self, invoice_id: str) -> None:
        """Hold an invoice's row until the transaction ends (credit notes one at a time)."""
        if not self._sql.dialect.is_sqlite:
            self._sql.execute(
                "SELECT id FROM invoices WHERE id = :id FOR UPDATE", {"id": invoice_id}
            )

    # ------------------------------------------------------------------ deposits' payments

    def set_deposit_payment(self, checkout_id: str, payment: str) -> None:
        self._sql.execute(
            "UPDATE wallet_deposits SET payment = :payment WHERE checkout_id = :id "
            "AND payment IS NULL",
            {"id": checkout_id, "payment": payment},
        )

    def deposit_payment(self, checkout_id: str) -> str | None:
        row = self._sql.one(
            "SELECT payment FROM wallet_deposits WHERE checkout_id = :id", {"id": checkout_id}
        )
        return None if row is None else row[0]

    def deposit_of_payment(self, payment: str) -> str | None:
        """The checkout of the deposit a provider's payment (or checkout id) paid."""
        row = self._sql.one(
            "SELECT checkout_id FROM wallet_deposits WHERE payment = :p OR checkout_id = :p",
            {"p": payment},
        )
        return None if row is None else str(row[0])

    def paid_reload(self, reload_id: str) -> tuple[str, Decimal] | None:
        """The account and amount of a reload the provider collected."""
        row = self._sql.one(
            "SELECT account_id, amount FROM wallet_reloads WHERE id = :id AND status = 'paid'",
            {"id": reload_id},
        )
        return None if row is None else (str(row[0]), from_micros(row[1]))

    # ------------------------------------------------------------------ disputes

    def insert_dispute(self, dispute: PaymentDispute) -> bool:
        """Record a dispute; False when it was recorded before (its id is the provider's)."""
        row = self._sql.one(
            "INSERT INTO payment_disputes (id, account_id, source, reference, payment, amount, "
            "currency, status, opened_at, closed_at) VALUES (:id, :account_id, :source, "
            ":reference, :payment, :amount, :currency, :status, :opened_at, :closed_at) "
            "ON CONFLICT DO NOTHING RETURNING id",
            {
                "id": dispute.id,
                "account_id": dispute.account_id,
                "source": dispute.source,
                "reference": dispute.reference,
                "payment": dispute.payment,
                "amount": micros(dispute.amount),
                "currency": dispute.currency,
                "status": dispute.status,
                "opened_at": self._sql.ts(dispute.opened_at),
                "closed_at": None if dispute.closed_at is None else self._sql.ts(dispute.closed_at),
            },
        )
        return row is not None

    def close_dispute(self, dispute_id: str, status: str, now: datetime) -> bool:
        """Decide an open dispute (``won`` or ``lost``); False when it was decided before."""
        row = self._sql.one(
            "UPDATE payment_disputes SET status = :status, closed_at = :now "
            "WHERE id = :id AND status = 'open' RETURNING id",
            {"id": dispute_id, "status": status, "now": self._sql.ts(now)},
        )
        return row is not None

    def dispute(self, dispute_id: str) -> PaymentDispute | None:
        found = self._disputes("id = :id", {"id": dispute_id})
        return found[0] if found else None

    def disputes_of(self, account_id: str) -> list[PaymentDispute]:
        return self._disputes("account_id = :account_id", {"account_id": account_id})

    def _disputes(self, where: str, params: dict[str, Any]) -> list[PaymentDispute]:
        rows = self._sql.all(
            "SELECT id, account_id, source, reference, payment, amount, currency, status, "
            f"opened_at, closed_at FROM payment_disputes WHERE {where} ORDER BY opened_at, id",
            params,
        )
        return [
            PaymentDispute(
                id=row[0],
                account_id=row[1],
                source=row[2],
                reference=row[3],
                payment=row[4],
                amount=from_micros(row[5]),
                currency=row[6],
                status=row[7],
                opened_at=self._sql.dialect.from_ts(row[8]),
                closed_at=None if row[9] is None else self._sql.dialect.from_ts(row[9]),
            )
            for row in rows
        ]
