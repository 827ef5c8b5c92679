"""SQL of subscriptions: the plan history and pending period-end changes (C7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meterstack.store.rows import PendingChange, PlanSpell
from meterstack.store.statements import Statements


class SqlSubscriptions:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def record_plan(
        self,
        account_id: str,
        plan_id: str,
        billing_interval: str,
        catalog_hash: str,
        at: datetime,
    ) -> None:
        self._sql.execute(
            "INSERT INTO plan_history (account_id, started_at, seq, plan_id, billing_interval, "
            "catalog_hash) VALUES (:account_id, :at, (SELECT COUNT(*) + 1 FROM plan_history "
            "WHERE account_id = :same_account), :plan_id, :interval, :catalog_hash)",
            {
                "account_id": account_id,
                "same_account": account_id,
                "at": self._sql.ts(at),
                "plan_id": plan_id,
                "interval": billing_interval,
                "catalog_hash": catalog_hash,
            },
        )

    def change_plan(
        self,
        account_id: str,
        plan_id: str,
        billing_interval: str,
        catalog_hash: str,
        at: datetime,
    ) -> None:
        """Put the account on ``plan_id`` from ``at`` on, and remember it in the history."""
        self._sql.execute(
            "UPDATE accounts SET plan_id = :plan_id, billing_interval = :interval, "
            "catalog_hash = :catalog_hash WHERE id = :id",
            {
                "id": account_id,
                "plan_id": plan_id,
                "interval": billing_interval,
                "catalog_hash": catalog_hash,
            },
        )
        self.record_plan(account_id, plan_id, billing_interval, catalog_hash, at)

    def history(self, account_ids: Sequence[str]) -> dict[str, list[PlanSpell]]:
        """Each account's plans, oldest first."""
        sql = self._sql
        within, params = sql.one_of("account_id", account_ids, "a")
        rows = sql.all(
            "SELECT account_id, started_at, plan_id, billing_interval, catalog_hash "
            f"FROM plan_history WHERE {within} ORDER BY account_id, started_at, seq",
            params,
        )
        spells: dict[str, list[PlanSpell]] = {}
        for row in rows:
            spells.setdefault(row[0], []).append(
                PlanSpell(sql.dialect.from_ts(row[1]), row[2], row[3], row[4])
            )
        return spells

    def pending(self, account_id: str) -> PendingChange | None:
        row = self._sql.one(
            "SELECT kind, plan_id, billing_interval, effective_at, requested_at "
            "FROM pending_changes WHERE account_id = :account_id",
            {"account_id": account_id},
        )
        if row is None:
            return None
        from_ts = self._sql.dialect.from_ts
        return PendingChange(row[0], row[1], row[2], from_ts(row[3]), from_ts(row[4]))

    def set_pending(self, account_id: str, change: PendingChange | None) -> None:
        sql = self._sql
        if not sql.dialect.is_sqlite:
            # Changes of one account's pending row are made one after the other, under the
            # account's row lock (the lock an upgrade takes first too). Without it two requests
            # at once both found no row and both inserted one: the second failed on the key.
            sql.execute("SELECT id FROM accounts WHERE id = :id FOR UPDATE", {"id": account_id})
        sql.execute(
            "DELETE FROM pending_changes WHERE account_id = :account_id",
            {"account_id": account_id},
        )
        if change is None:
            return
        sql.execute(
            "INSERT INTO pending_changes (account_id, kind, plan_id, billing_interval, "
            "effective_at, requested_at) VALUES (:account_id, :kind, :plan_id, :interval, "
            ":effective_at, :requested_at)",
            {
                "account_id": account_id,
                "kind": change.kind,
                "plan_id": change.plan_id,
                "interval": change.billing_interval,
                "effective_at": sql.ts(change.effective_at),
                "requested_at": sql.ts(change.requested_at),
            },
        )

    def due_changes(self, now: datetime) -> list[str]:
        """Accounts whose pending change is due by ``now``."""
        rows = self._sql.all(
            "SELECT account_id FROM pending_changes WHERE effective_at <= :now ORDER BY account_id",
            {"now": self._sql.ts(now)},
        )
        return [str(row[0]) for row in rows]
