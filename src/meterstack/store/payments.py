"""SQL for checkout sessions and payment events."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from meterstack.payments.port import Checkout, CheckoutRequest, PaymentEvent
from meterstack.store.sql import Transaction


def insert_checkout(
    tx: Transaction, checkout_id: str, request: CheckoutRequest, url: str, now: datetime
) -> Checkout:
    tx.execute(
        "INSERT INTO checkout_sessions (id, account_id, purpose, plan_id, billing_interval, "
        "pack_id, status, success_url, cancel_url, created_at) VALUES (:id, :account_id, "
        ":purpose, :plan_id, :interval, :pack_id, 'open', :success_url, :cancel_url, :now)",
        {
            "id": checkout_id,
            "account_id": request.account_id,
            "purpose": request.purpose,
            "plan_id": request.plan_id,
            "interval": request.billing_interval,
            "pack_id": request.pack_id,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "now": tx.ts(now),
        },
    )
    return Checkout(
        checkout_id,
        request.account_id,
        url,
        request.purpose,
        "open",
        now,
        request.plan_id,
        request.billing_interval,
        request.pack_id,
        request.success_url,
        request.cancel_url,
    )


def checkout(tx: Transaction, checkout_id: str, url: str) -> Checkout | None:
    row = tx.one(
        "SELECT id, account_id, purpose, status, created_at, plan_id, billing_interval, pack_id, "
        "success_url, cancel_url FROM checkout_sessions WHERE id = :id",
        {"id": checkout_id},
    )
    if row is None:
        return None
    return Checkout(
        row[0],
        row[1],
        url,
        row[2],
        row[3],
        tx.dialect.from_ts(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
    )


def close_checkout(tx: Transaction, checkout_id: str, status: str) -> bool:
    row = tx.one(
        "UPDATE checkout_sessions SET status = :status WHERE id = :id AND status = 'open' "
        "RETURNING id",
        {"id": checkout_id, "status": status},
    )
    return row is not None


def record_event(tx: Transaction, event: PaymentEvent, now: datetime) -> bool:
    """Remember the event; False when it was applied before (a second delivery)."""
    row = tx.one(
        "INSERT INTO payment_events (id, type, payload, applied_at) VALUES (:id, :type, "
        ":payload, :now) ON CONFLICT DO NOTHING RETURNING id",
        {
            "id": event.id,
            "type": event.type,
            "payload": json.dumps(event.data, sort_keys=True),
            "now": tx.ts(now),
        },
    )
    return row is not None


def events(tx: Transaction) -> list[dict[str, Any]]:
    return [
        {"id": row[0], "type": row[1], "data": json.loads(row[2])}
        for row in tx.all("SELECT id, type, payload FROM payment_events ORDER BY applied_at, id")
    ]
