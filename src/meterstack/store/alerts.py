"""SQL of alerts, their states and budgets (D25, D26).

An alert's state is one row per (account, alert): written when the alert fires, by an upsert
that succeeds only when no state exists or the last one was resolved, so an alert fires again
only after it was resolved, whichever admission tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.money import LEDGER_PLACES
from meterstack.records.alerts import AlertState
from meterstack.rules.alerts import Alert, AlertKind
from meterstack.rules.budget import Budget, BudgetMode
from meterstack.store.statements import Statements

_STATE_COLUMNS = (
    "alert_id, kind, meter, threshold, period, value, triggered_at, resolved_at, reason"
)


class SqlAlerts:
    """``store.ports.Alerts`` on SQLite and PostgreSQL."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    # ------------------------------------------------------------------ definitions

    def insert(self, account_id: str, alert: Alert, at: datetime) -> None:
        self._sql.execute(
            "INSERT INTO alerts (id, account_id, kind, meter, threshold, created_at) "
            "VALUES (:id, :account_id, :kind, :meter, :threshold, :at)",
            {
                "id": alert.id,
                "account_id": account_id,
                "kind": str(alert.kind),
                "meter": alert.meter,
                "threshold": None if alert.threshold is None else str(alert.threshold),
                "at": self._sql.ts(at),
            },
        )

    def of_account(self, account_id: str) -> list[Alert]:
        rows = self._sql.all(
            "SELECT id, kind, meter, threshold FROM alerts WHERE account_id = :account_id "
            "ORDER BY created_at, id",
            {"account_id": account_id},
        )
        return [
            Alert(row[0], AlertKind(row[1]), row[2], None if row[3] is None else Decimal(row[3]))
            for row in rows
        ]

    def count(self, account_id: str) -> int:
        row = self._sql.one(
            "SELECT COUNT(*) FROM alerts WHERE account_id = :account_id",
            {"account_id": account_id},
        )
        return int(row[0])

    def delete(self, account_id: str, alert_id: str) -> bool:
        cursor = self._sql.execute(
            "DELETE FROM alerts WHERE account_id = :account_id AND id = :id",
            {"account_id": account_id, "id": alert_id},
        )
        deleted = int(cursor.rowcount) > 0
        self._sql.execute(
            "DELETE FROM alert_states WHERE account_id = :account_id AND alert_id = :id",
            {"account_id": account_id, "id": alert_id},
        )
        return deleted

    # ------------------------------------------------------------------ states

    def trigger(
        self,
        account_id: str,
        alert: Alert,
        period: str,
        value: str | None,
        at: datetime,
    ) -> bool:
        """Fire ``alert``: True when it was armed (no state, or its last one resolved)."""
        row = self._sql.one(
            f"INSERT INTO alert_states (account_id, {_STATE_COLUMNS}) VALUES (:account_id, "
            ":alert_id, :kind, :meter, :threshold, :period, :value, :at, NULL, NULL) "
            "ON CONFLICT (account_id, alert_id) DO UPDATE SET kind = excluded.kind, "
            "meter = excluded.meter, threshold = excluded.threshold, "
            "period = excluded.period, value = excluded.value, "
            "triggered_at = excluded.triggered_at, resolved_at = NULL, reason = NULL "
            "WHERE alert_states.resolved_at IS NOT NULL RETURNING alert_id",
            {
                "account_id": account_id,
                "alert_id": alert.id,
                "kind": str(alert.kind),
                "meter": alert.meter,
                "threshold": None if alert.threshold is None else str(alert.threshold),
                "period": period,
                "value": value,
                "at": self._sql.ts(at),
            },
        )
        return row is not None

    def resolve(
        self,
        account_id: str,
        alert_ids: Sequence[str] | None,
        at: datetime,
        reason: str,
        *,
        before_period: str | None = None,
        of_period: str | None = None,
    ) -> list[AlertState]:
        """Resolve open states: the ones named, or (``before_period``) every open state of a
        period other than that one, or (``of_period``) of that period; the states resolved."""
        where = ["account_id = :account_id", "resolved_at IS NULL"]
        params: dict[str, Any] = {"account_id": account_id, "at": self._sql.ts(at), "r": reason}
        if alert_ids is not None:
            if not alert_ids:
                return []
            within, more = self._sql.one_of("alert_id", alert_ids, "a")
            where.append(within)
            params |= more
        if before_period is not None:
            where.append("period <> '' AND period <> :period")
            params["period"] = before_period
        if of_period is not None:
            where.append("period = :of_period")
            params["of_period"] = of_period
        rows = self._sql.all(
            f"UPDATE alert_states SET resolved_at = :at, reason = :r WHERE {' AND '.join(where)} "
            f"RETURNING {_STATE_COLUMNS}",
            params,
        )
        return sorted((self._state(row) for row in rows), key=lambda state: state.alert_id)

    def states(self, account_id: str, *, open_only: bool = False) -> list[AlertState]:
        extra = " AND resolved_at IS NULL" if open_only else ""
        rows = self._sql.all(
            f"SELECT {_STATE_COLUMNS} FROM alert_states WHERE account_id = :account_id{extra} "
            "ORDER BY alert_id",
            {"account_id": account_id},
        )
        return [self._state(row) for row in rows]

    def _state(self, row: Any) -> AlertState:
        from_ts = self._sql.dialect.from_ts
        return AlertState(
            alert_id=row[0],
            kind=AlertKind(row[1]),
            meter=row[2],
            threshold=None if row[3] is None else Decimal(row[3]),
            period=row[4],
            value=row[5],
            triggered_at=from_ts(row[6]),
            resolved_at=None if row[7] is None else from_ts(row[7]),
            reason=row[8],
        )

    # ------------------------------------------------------------------ budgets

    def budget(self, account_id: str) -> Budget | None:
        row = self._sql.one(
            "SELECT amount, mode FROM budgets WHERE account_id = :account_id",
            {"account_id": account_id},
        )
        return (
            None
            if row is None
            else Budget(Decimal(int(row[0])).scaleb(-LEDGER_PLACES), BudgetMode(row[1]))
        )

    def set_budget(self, account_id: str, budget: Budget | None, at: datetime) -> None:
        if budget is None:
            self._sql.execute(
                "DELETE FROM budgets WHERE account_id = :account_id", {"account_id": account_id}
            )
            return
        self._sql.execute(
            "INSERT INTO budgets (account_id, amount, mode, updated_at) VALUES (:account_id, "
            ":amount, :mode, :at) ON CONFLICT (account_id) DO UPDATE SET amount = "
            "excluded.amount, mode = excluded.mode, updated_at = excluded.updated_at",
            {
                "account_id": account_id,
                "amount": int(budget.amount.scaleb(LEDGER_PLACES)),
                "mode": str(budget.mode),
                "at": self._sql.ts(at),
            },
        )
