"""SQL for looking accounts and invoices up by page: the consoles' lists.

Every function runs inside the caller's transaction and reads one page (``LIMIT``/``OFFSET`` in
the database), never a whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meterstack.invoicing.model import Invoice
from meterstack.store.invoices import invoice_rows
from meterstack.store.sql import Transaction


@dataclass(frozen=True)
class AccountListing:
    id: str
    plan_id: str
    billing_interval: str
    email: str | None
    name: str | None
    anonymous: bool
    created_at: datetime
    #: ``downgrade`` or ``cancel`` when a period-end change waits; None otherwise.
    pending_kind: str | None
    pending_plan: str | None


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


def account_page(
    tx: Transaction,
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
    total = int(tx.one(f"SELECT COUNT(*) {source} WHERE {where}", params)[0])
    rows = tx.all(
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
            created_at=tx.dialect.from_ts(row[6]),
            pending_kind=row[7],
            pending_plan=row[8],
        )
        for row in rows
    ]
    return listings, total


def invoice_page(
    tx: Transaction, *, account_id: str | None, status: str | None, offset: int, limit: int
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
    total = int(tx.one(f"SELECT COUNT(*) FROM invoices WHERE {where}", params)[0])
    page = invoice_rows(
        tx,
        f"id IN (SELECT id FROM invoices WHERE {where} "
        "ORDER BY created_at DESC, number DESC, id DESC LIMIT :limit OFFSET :offset)",
        {**params, "limit": limit, "offset": offset},
    )
    page.reverse()
    return page, total
