"""SQL for looking accounts and invoices up by page: the consoles' lists.

Every call runs inside the caller's transaction and reads one page (``LIMIT``/``OFFSET`` in
the database), never a whole table.
"""

from __future__ import annotations

from typing import Any

from meterstack.records.invoicing import Invoice
from meterstack.store.invoices import invoice_rows
from meterstack.store.rows import AccountListing
from meterstack.store.statements import Statements


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _account_filter(
    query: str | None, plan: str | None, pending_kind: str | None, settled: bool
) -> tuple[str, dict[str, Any]]:
    clauses = ["1 = 1"]
    params: dict[str, Any] = {}
    if query:
        clauses.append(
            "(lower(a.id) LIKE :pattern ESCAPE '\\' OR lower(a.email) LIKE :pattern ESCAPE '\\' "
            "OR lower(a.name) LIKE :pattern ESCAPE '\\')"
        )
        params["pattern"] = _like(query)
    if plan:
        clauses.append("a.plan_id = :plan")
        params["plan"] = plan
    if pending_kind:
        clauses.append("p.kind = :pending_kind")
        params["pending_kind"] = pending_kind
    elif settled:
        clauses.append("(p.kind IS NULL OR p.kind <> 'cancel')")
    return " AND ".join(clauses), params


class SqlDirectory:
    """Accounts and invoices a page at a time (``store.ports.Directory``)."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def account_page(
        self,
        *,
        query: str | None,
        plan: str | None,
        pending_kind: str | None,
        settled: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[AccountListing], int]:
        """One page of accounts, newest first, and how many match in all.

        ``pending_kind`` keeps accounts with that change waiting; ``settled`` those with no
        cancellation waiting.
        """
        where, params = _account_filter(query, plan, pending_kind, settled)
        source = "FROM accounts a LEFT JOIN pending_changes p ON p.account_id = a.id"
        total = int(self._sql.one(f"SELECT COUNT(*) {source} WHERE {where}", params)[0])
        rows = self._sql.all(
            "SELECT a.id, a.plan_id, a.billing_interval, a.email, a.name, a.anonymous, "
            f"a.created_at, p.kind, p.plan_id {source} WHERE {where} "
            "ORDER BY a.created_at DESC, a.id DESC LIMIT :limit OFFSET :offset",
            {**params, "limit": limit, "offset": offset},
        )
        listings = [
            AccountListing(
                id=row[0],
                plan_id=row[1],
                billing_interval=row[2],
                email=row[3],
                name=row[4],
                anonymous=bool(row[5]),
                created_at=self._sql.dialect.from_ts(row[6]),
                pending_kind=row[7],
                pending_plan=row[8],
            )
            for row in rows
        ]
        return listings, total

    def invoice_page(
        self, *, account_id: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[Invoice], int]:
        """One page of invoices with their lines, newest first, and how many match in all."""
        clauses = ["1 = 1"]
        params: dict[str, Any] = {}
        if account_id is not None:
            clauses.append("account_id = :account_id")
            params["account_id"] = account_id
        if status is not None:
            clauses.append("status = :status")
            params["status"] = status
        where = " AND ".join(clauses)
        total = int(self._sql.one(f"SELECT COUNT(*) FROM invoices WHERE {where}", params)[0])
        page = invoice_rows(
            self._sql,
            f"id IN (SELECT id FROM invoices WHERE {where} "
            "ORDER BY created_at DESC, number DESC, id DESC LIMIT :limit OFFSET :offset)",
            {**params, "limit": limit, "offset": offset},
        )
        page.reverse()
        return page, total
