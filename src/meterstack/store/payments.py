"""SQL of checkout sessions and payment events (B8, B11)."""

from __future__ import annotations

import json
from datetime import datetime

from meterstack.records.payments import (
    Checkout,
    CheckoutRequest,
    CustomerDetails,
    InvoiceMirror,
    PaymentEvent,
)
from meterstack.store.rows import RecordedPaymentEvent
from meterstack.store.statements import Statements


class SqlPayments:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def insert_checkout(
        self,
        checkout_id: str,
        request: CheckoutRequest,
        url: str,
        now: datetime,
        *,
        provider_url: str | None = None,
    ) -> Checkout:
        self._sql.execute(
            "INSERT INTO checkout_sessions (id, account_id, purpose, plan_id, billing_interval, "
            "pack_id, status, success_url, cancel_url, created_at, provider_url) VALUES (:id, "
            ":account_id, :purpose, :plan_id, :interval, :pack_id, 'open', :success_url, "
            ":cancel_url, :now, :provider_url)",
            {
                "id": checkout_id,
                "account_id": request.account_id,
                "purpose": request.purpose,
                "plan_id": request.plan_id,
                "interval": request.billing_interval,
                "pack_id": request.pack_id,
                "success_url": request.success_url,
                "cancel_url": request.cancel_url,
                "now": self._sql.ts(now),
                "provider_url": provider_url,
            },
        )
        return Checkout(
            id=checkout_id,
            account_id=request.account_id,
            url=provider_url or url,
            purpose=request.purpose,
            status="open",
            created_at=now,
            plan_id=request.plan_id,
            billing_interval=request.billing_interval,
            pack_id=request.pack_id,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
        )

    def checkout(self, checkout_id: str, url: str) -> Checkout | None:
        row = self._sql.one(
            "SELECT id, account_id, purpose, status, created_at, plan_id, billing_interval, "
            "pack_id, success_url, cancel_url, provider_url FROM checkout_sessions WHERE id = :id",
            {"id": checkout_id},
        )
        if row is None:
            return None
        return Checkout(
            id=row[0],
            account_id=row[1],
            url=row[10] or url,
            purpose=row[2],
            status=row[3],
            created_at=self._sql.dialect.from_ts(row[4]),
            plan_id=row[5],
            billing_interval=row[6],
            pack_id=row[7],
            success_url=row[8],
            cancel_url=row[9],
        )

    def close_checkout(self, checkout_id: str, status: str) -> bool:
        row = self._sql.one(
            "UPDATE checkout_sessions SET status = :status WHERE id = :id AND status = 'open' "
            "RETURNING id",
            {"id": checkout_id, "status": status},
        )
        return row is not None

    def record_event(self, event: PaymentEvent, now: datetime) -> bool:
        """Remember the event; False when it was applied before (a second delivery)."""
        row = self._sql.one(
            "INSERT INTO payment_events (id, type, payload, applied_at) VALUES (:id, :type, "
            ":payload, :now) ON CONFLICT DO NOTHING RETURNING id",
            {
                "id": event.id,
                "type": event.type,
                "payload": json.dumps(event.data, sort_keys=True),
                "now": self._sql.ts(now),
            },
        )
        return row is not None

    def customer_id(self, account_id: str, provider: str) -> str | None:
        """The provider's customer of the account, once made."""
        row = self._sql.one(
            "SELECT customer_id FROM payment_customers WHERE account_id = :account_id "
            "AND provider = :provider",
            {"account_id": account_id, "provider": provider},
        )
        return None if row is None else str(row[0])

    def remember_customer(
        self, account_id: str, provider: str, customer_id: str, now: datetime
    ) -> str:
        """Keep the account's customer; the one kept first wins (two first needs at once)."""
        self._sql.execute(
            "INSERT INTO payment_customers (account_id, provider, customer_id, created_at) "
            "VALUES (:account_id, :provider, :customer_id, :now) ON CONFLICT DO NOTHING",
            {
                "account_id": account_id,
                "provider": provider,
                "customer_id": customer_id,
                "now": self._sql.ts(now),
            },
        )
        kept = self.customer_id(account_id, provider)
        assert kept is not None
        return kept

    def customer_details(self, account_id: str, provider: str) -> CustomerDetails | None:
        """The email and name the provider's customer of the account was last given."""
        row = self._sql.one(
            "SELECT email, name FROM payment_customers WHERE account_id = :account_id "
            "AND provider = :provider",
            {"account_id": account_id, "provider": provider},
        )
        return None if row is None else CustomerDetails(row[0], row[1])

    def set_customer_details(
        self, account_id: str, provider: str, details: CustomerDetails
    ) -> None:
        self._sql.execute(
            "UPDATE payment_customers SET email = :email, name = :name "
            "WHERE account_id = :account_id AND provider = :provider",
            {
                "account_id": account_id,
                "provider": provider,
                "email": details.email,
                "name": details.name,
            },
        )

    def events(self) -> list[RecordedPaymentEvent]:
        return [
            RecordedPaymentEvent(str(row[0]), str(row[1]), json.loads(row[2]))
            for row in self._sql.all(
                "SELECT id, type, payload FROM payment_events ORDER BY applied_at, id"
            )
        ]

    # ------------------------------------------------------------------ invoices a checkout paid

    def set_invoice_payment(
        self, number: str, account_id: str, payment: str, checkout_id: str, now: datetime
    ) -> None:
        """Keep the provider's payment of an invoice a checkout paid (the first one kept)."""
        self._sql.execute(
            "INSERT INTO invoice_payments (number, account_id, payment, checkout_id, created_at) "
            "VALUES (:number, :account_id, :payment, :checkout_id, :now) ON CONFLICT DO NOTHING",
            {
                "number": number,
                "account_id": account_id,
                "payment": payment,
                "checkout_id": checkout_id,
                "now": self._sql.ts(now),
            },
        )

    def invoice_payment(self, number: str) -> str | None:
        row = self._sql.one(
            "SELECT payment FROM invoice_payments WHERE number = :number", {"number": number}
        )
        return None if row is None else str(row[0])

    def invoice_of_payment(self, payment: str) -> str | None:
        """The number of the invoice a provider's payment paid through a checkout."""
        row = self._sql.one(
            "SELECT number FROM invoice_payments WHERE payment = :payment", {"payment": payment}
        )
        return None if row is None else str(row[0])

    def insert_mirror(self, number: str, account_id: str, now: datetime) -> None:
        self._sql.execute(
            "INSERT INTO invoice_mirrors (number, account_id, status, attempts, created_at) "
            "VALUES (:number, :account_id, 'pending', 0, :now) ON CONFLICT DO NOTHING",
            {"number": number, "account_id": account_id, "now": self._sql.ts(now)},
        )

    def claim_mirror(self, number: str, now: datetime, until: datetime) -> int | None:
        """Count an attempt and hold the pending mirror until ``until``; its attempt number,
        or None when it is mirrored or another run holds it."""
        row = self._sql.one(
            "UPDATE invoice_mirrors SET attempts = attempts + 1, claimed_until = :until "
            "WHERE number = :number AND status = 'pending' "
            "AND (claimed_until IS NULL OR claimed_until <= :now) RETURNING attempts",
            {"number": number, "now": self._sql.ts(now), "until": self._sql.ts(until)},
        )
        return None if row is None else int(row[0])

    def settle_mirror(self, number: str, now: datetime) -> None:
        self._sql.execute(
            "UPDATE invoice_mirrors SET status = 'mirrored', failure = NULL, claimed_until = NULL, "
            "mirrored_at = :now WHERE number = :number",
            {"number": number, "now": self._sql.ts(now)},
        )

    def release_mirror(self, number: str, failure: str) -> None:
        self._sql.execute(
            "UPDATE invoice_mirrors SET failure = :failure, claimed_until = NULL "
            "WHERE number = :number AND status = 'pending'",
            {"number": number, "failure": failure[:1000]},
        )

    def mirrors(self, *, pending: bool = False) -> list[InvoiceMirror]:
        return self._mirrors("WHERE status = 'pending' " if pending else "", {})

    def mirror(self, number: str) -> InvoiceMirror | None:
        found = self._mirrors("WHERE number = :number ", {"number": number})
        return found[0] if found else None

    def _mirrors(self, where: str, params: dict[str, object]) -> list[InvoiceMirror]:
        return [
            InvoiceMirror(
                number=str(row[0]),
                account_id=str(row[1]),
                status=str(row[2]),
                attempts=int(row[3]),
                failure=row[4],
                created_at=self._sql.dialect.from_ts(row[5]),
                mirrored_at=None if row[6] is None else self._sql.dialect.from_ts(row[6]),
            )
            for row in self._sql.all(
                "SELECT number, account_id, status, attempts, failure, created_at, mirrored_at "
                f"FROM invoice_mirrors {where}ORDER BY created_at, number",
                params,
            )
        ]
