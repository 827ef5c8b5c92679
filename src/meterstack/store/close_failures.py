"""SQL of the accounts a period close could not rate (``store.ports.Invoices``' failures)."""

from __future__ import annotations

from collections.abc import Sequence

from meterstack.store.rows import CloseFailure
from meterstack.store.statements import Statements


class SqlCloseFailures:
    _sql: Statements

    def record_close_failures(self, failures: Sequence[CloseFailure]) -> None:
        sql = self._sql
        for failure in failures:
            sql.execute(
                "INSERT INTO close_failures (account_id, period_key, failed_at, reason) "
                "VALUES (:account_id, :period_key, :failed_at, :reason) "
                "ON CONFLICT (account_id) DO UPDATE SET period_key = excluded.period_key, "
                "failed_at = excluded.failed_at, reason = excluded.reason",
                {
                    "account_id": failure.account_id,
                    "period_key": failure.period_key,
                    "failed_at": sql.ts(failure.failed_at),
                    "reason": failure.reason,
                },
            )

    def clear_close_failures(self, account_ids: Sequence[str]) -> None:
        if not account_ids:
            return
        within, params = self._sql.one_of("account_id", account_ids, "a")
        self._sql.execute(f"DELETE FROM close_failures WHERE {within}", params)

    def close_failures(self) -> list[CloseFailure]:
        rows = self._sql.all(
            "SELECT account_id, period_key, failed_at, reason FROM close_failures "
            "ORDER BY account_id"
        )
        from_ts = self._sql.dialect.from_ts
        return [CloseFailure(row[0], row[1], from_ts(row[2]), row[3]) for row in rows]
