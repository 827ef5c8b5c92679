"""SQL for subscriptions: the plan history and pending period-end changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from meterstack.store.sql import Transaction


@dataclass(frozen=True)
class PlanSpell:
    """One plan an account had, from ``started_at`` until the next spell."""

    started_at: datetime
    plan_id: str
    billing_interval: str
    catalog_hash: str


@dataclass(frozen=True)
class PendingChange:
    #: ``downgrade`` or ``cancel``.
    kind: str
    plan_id: str
    billing_interval: str
    effective_at: datetime
    requested_at: datetime


def record_plan(
    tx: Transaction,
    account_id: str,
    plan_id: str,
    billing_interval: str,
    catalog_hash: str,
    at: datetime,
) -> None:
    tx.execute(
        "INSERT INTO plan_history (account_id, started_at, seq, plan_id, billing_interval, "
        "catalog_hash) VALUES (:account_id, :at, (SELECT COUNT(*) + 1 FROM plan_history "
        "WHERE account_id = :same_account), :plan_id, :interval, :catalog_hash)",
        {
            "account_id": account_id,
            "same_account": account_id,
            "at": tx.ts(at),
            "plan_id": plan_id,
            "interval": billing_interval,
            "catalog_hash": catalog_hash,
        },
    )


def change_plan(
    tx: Transaction,
    account_id: str,
    plan_id: str,
    billing_interval: str,
    catalog_hash: str,
    at: datetime,
) -> None:
    """Put the account on ``plan_id`` from ``at`` on, and remember it in the history."""
    tx.execute(
        "UPDATE accounts SET plan_id = :plan_id, billing_interval = :interval, "
        "catalog_hash = :catalog_hash WHERE id = :id",
        {
            "id": account_id,
            "plan_id": plan_id,
            "interval": billing_interval,
            "catalog_hash": catalog_hash,
        },
    )
    record_plan(tx, account_id, plan_id, billing_interval, catalog_hash, at)


def history(tx: Transaction, account_ids: Sequence[str]) -> dict[str, list[PlanSpell]]:
    """Each account's plans, oldest first."""
    within, params = tx.one_of("account_id", account_ids, "a")
    rows = tx.all(
        "SELECT account_id, started_at, plan_id, billing_interval, catalog_hash FROM plan_history "
        f"WHERE {within} ORDER BY account_id, started_at, seq",
        params,
    )
    spells: dict[str, list[PlanSpell]] = {}
    for row in rows:
        spells.setdefault(row[0], []).append(
            PlanSpell(tx.dialect.from_ts(row[1]), row[2], row[3], row[4])
        )
    return spells


def pending(tx: Transaction, account_id: str) -> PendingChange | None:
    row = tx.one(
        "SELECT kind, plan_id, billing_interval, effective_at, requested_at FROM pending_changes "
        "WHERE account_id = :account_id",
        {"account_id": account_id},
    )
    if row is None:
        return None
    return PendingChange(
        row[0], row[1], row[2], tx.dialect.from_ts(row[3]), tx.dialect.from_ts(row[4])
    )


def set_pending(tx: Transaction, account_id: str, change: PendingChange | None) -> None:
    tx.execute(
        "DELETE FROM pending_changes WHERE account_id = :account_id", {"account_id": account_id}
    )
    if change is None:
        return
    tx.execute(
        "INSERT INTO pending_changes (account_id, kind, plan_id, billing_interval, effective_at, "
        "requested_at) VALUES (:account_id, :kind, :plan_id, :interval, :effective_at, "
        ":requested_at)",
        {
            "account_id": account_id,
            "kind": change.kind,
            "plan_id": change.plan_id,
            "interval": change.billing_interval,
            "effective_at": tx.ts(change.effective_at),
            "requested_at": tx.ts(change.requested_at),
        },
    )


def due_changes(tx: Transaction, now: datetime) -> list[str]:
    """Accounts whose pending change is due by ``now``."""
    rows = tx.all(
        "SELECT account_id FROM pending_changes WHERE effective_at <= :now ORDER BY account_id",
        {"now": tx.ts(now)},
    )
    return [str(row[0]) for row in rows]
