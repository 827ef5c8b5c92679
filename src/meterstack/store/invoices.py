"""SQL for invoices; every function runs inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.invoicing.model import Invoice, InvoiceLine, InvoiceStatus
from meterstack.store.sql import Transaction

_INVOICE_COLUMNS = (
    "id, number, account_id, status, currency, period_key, period_start, period_end, "
    "created_at, total, plan_id, catalog"
)


@dataclass(frozen=True)
class AccountToClose:
    id: str
    catalog_hash: str
    plan_id: str
    billing_interval: str
    period_anchor: datetime
    created_at: datetime
    #: End of the last period already closed (invoiced, or closed without an invoice, B12);
    #: None when none was.
    closed_through: datetime | None


def accounts_to_close(tx: Transaction, after: str, limit: int) -> list[AccountToClose]:
    """Accounts with ids after ``after``, in id order, with the end of their last invoice."""
    rows = tx.all(
        "SELECT a.id, a.catalog_hash, a.plan_id, a.billing_interval, a.period_anchor, "
        "a.created_at, (SELECT MAX(ends.period_end) FROM ("
        "SELECT MAX(i.period_end) AS period_end FROM invoices i WHERE i.account_id = a.id "
        "AND i.kind = 'period' UNION ALL "
        "SELECT MAX(c.period_end) FROM period_closes c WHERE c.account_id = a.id) ends) "
        "FROM accounts a WHERE a.id > :after ORDER BY a.id LIMIT :limit",
        {"after": after, "limit": limit},
    )
    return [
        AccountToClose(
            id=row[0],
            catalog_hash=row[1],
            plan_id=row[2],
            billing_interval=row[3],
            period_anchor=tx.dialect.from_ts(row[4]),
            created_at=tx.dialect.from_ts(row[5]),
            closed_through=None if row[6] is None else tx.dialect.from_ts(row[6]),
        )
        for row in rows
    ]


def account_counters(
    tx: Transaction, account_ids: Sequence[str], periods: Sequence[str]
) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(account, item, period) -> (used, overage) of the account-wide counters."""
    accounts, params = tx.one_of("account_id", account_ids, "a")
    keys, more = tx.one_of("period", sorted(set(periods)), "p")
    query = (
        "SELECT account_id, item, period, used, overage FROM counters WHERE scope = 'account' "
        f"AND {accounts} AND {keys}"
    )
    params |= more
    rows = tx.all(query, params)
    return {(row[0], row[1], row[2]): (int(row[3]), int(row[4])) for row in rows}


def insert_invoices(
    tx: Transaction, invoices: Sequence[Invoice], sequence: str, kind: str
) -> set[str]:
    """Insert drafts with their lines; the ids inserted (not those whose period had one)."""
    if not invoices:
        return set()
    inserted = {
        str(row[0])
        for row in tx.all(
            "INSERT INTO invoices (id, number, sequence, account_id, kind, period_key, "
            "period_start, period_end, currency, plan_id, catalog, status, total, created_at, "
            f"status_changed_at) {_invoice_rows(tx, invoices)} ON CONFLICT DO NOTHING RETURNING id",
            {
                "sequence": sequence,
                "kind": kind,
                "status": "draft",
                **_invoice_params(tx, invoices),
            },
        )
    }
    lines = [
        {
            "invoice_id": invoice.id,
            "position": line.position,
            "kind": line.kind,
            "description": line.description,
            "item": line.item,
            "quantity": str(line.quantity),
            "unit_price": str(line.unit_price),
            "amount": str(line.amount),
            "derivation": json.dumps(line.derivation, sort_keys=True),
        }
        for invoice in invoices
        if invoice.id in inserted
        for line in invoice.lines
    ]
    if lines:
        tx.cursor.executemany(
            tx.dialect.sql(
                "INSERT INTO invoice_lines (invoice_id, position, kind, description, item, "
                "quantity, unit_price, amount, derivation) VALUES (:invoice_id, :position, "
                ":kind, :description, :item, :quantity, :unit_price, :amount, :derivation)"
            ),
            lines,
        )
    return inserted


_INVOICE_FIELDS = (
    "id",
    "account_id",
    "period_key",
    "period_start",
    "period_end",
    "currency",
    "plan_id",
    "catalog",
    "total",
    "created_at",
)


def _invoice_values(tx: Transaction, invoice: Invoice) -> tuple[Any, ...]:
    return (
        invoice.id,
        invoice.account_id,
        invoice.period_key,
        tx.ts(invoice.period_start),
        tx.ts(invoice.period_end),
        invoice.currency,
        invoice.plan,
        invoice.catalog,
        str(invoice.total),
        tx.ts(invoice.created_at),
    )


def _invoice_rows(tx: Transaction, invoices: Sequence[Invoice]) -> str:
    """The source of the drafts' rows: named VALUES on SQLite, one JSON parameter on PostgreSQL
    (whose statement text, and plan, then stay the same for any number of invoices)."""
    if not tx.dialect.is_sqlite:
        return (
            "SELECT id, NULL, :sequence, account_id, :kind, period_key, period_start, period_end, "
            "currency, plan_id, catalog, :status, total, created_at, created_at "
            "FROM json_to_recordset(:rows::json) AS t(id text, account_id text, period_key text, "
            "period_start timestamptz, period_end timestamptz, currency text, plan_id text, "
            "catalog text, total text, created_at timestamptz)"
        )
    values = [
        f"(:id{index}, NULL, :sequence, :account_id{index}, :kind, :period_key{index}, "
        f":period_start{index}, :period_end{index}, :currency{index}, :plan_id{index}, "
        f":catalog{index}, :status, :total{index}, :created_at{index}, :created_at{index})"
        for index in range(len(invoices))
    ]
    return f"VALUES {', '.join(values)}"


def _invoice_params(tx: Transaction, invoices: Sequence[Invoice]) -> dict[str, Any]:
    if not tx.dialect.is_sqlite:
        rows = [
            dict(zip(_INVOICE_FIELDS, _invoice_values(tx, invoice), strict=True))
            for invoice in invoices
        ]
        return {"rows": json.dumps(rows, default=_iso)}
    params: dict[str, Any] = {}
    for index, invoice in enumerate(invoices):
        for name, value in zip(_INVOICE_FIELDS, _invoice_values(tx, invoice), strict=True):
            params[f"{name}{index}"] = value
    return params


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def take_numbers(tx: Transaction, sequence: str, count: int) -> int:
    """Reserve ``count`` consecutive numbers of ``sequence``; the first of them.

    The sequence row is updated in the caller's transaction: numbers taken by a transaction
    that rolls back are given out again, so numbering has no gaps.
    """
    row = tx.one(
        "INSERT INTO invoice_sequences (name, next_number) VALUES (:name, :after) "
        "ON CONFLICT (name) DO UPDATE SET "
        "next_number = invoice_sequences.next_number + :count RETURNING next_number",
        {"name": sequence, "after": 1 + count, "count": count},
    )
    return int(row[0]) - count


def record_closes(
    tx: Transaction, closes: Sequence[tuple[str, str, datetime]], now: datetime
) -> None:
    """Remember periods (account, period key, end) closed without an invoice; once each."""
    if not closes:
        return
    tx.cursor.executemany(
        tx.dialect.sql(
            "INSERT INTO period_closes (account_id, period_key, period_end, closed_at) "
            "VALUES (:account_id, :period_key, :period_end, :now) ON CONFLICT DO NOTHING"
        ),
        [
            {
                "account_id": account_id,
                "period_key": key,
                "period_end": tx.ts(end),
                "now": tx.ts(now),
            }
            for account_id, key, end in closes
        ],
    )


def finalize(tx: Transaction, numbered: Sequence[tuple[str, str]], now: datetime) -> None:
    """Give drafts (id, number) their numbers and finalize them."""
    if not numbered:
        return
    tx.cursor.executemany(
        tx.dialect.sql(
            "UPDATE invoices SET number = :number, status = :status, status_changed_at = :now "
            "WHERE id = :id"
        ),
        [
            {
                "number": number,
                "status": str(InvoiceStatus.FINALIZED),
                "now": tx.ts(now),
                "id": invoice_id,
            }
            for invoice_id, number in numbered
        ],
    )


def set_status(
    tx: Transaction, number: str, old: InvoiceStatus, new: InvoiceStatus, now: datetime
) -> bool:
    row = tx.one(
        "UPDATE invoices SET status = :new, status_changed_at = :now "
        "WHERE number = :number AND status = :old RETURNING id",
        {"new": str(new), "old": str(old), "now": tx.ts(now), "number": number},
    )
    return row is not None


def invoice_rows(tx: Transaction, where: str, params: dict[str, Any]) -> list[Invoice]:
    rows = tx.all(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE {where} ORDER BY created_at, number, id",
        params,
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    within, names = tx.one_of("invoice_id", ids, "i")
    lines: dict[str, list[InvoiceLine]] = {invoice_id: [] for invoice_id in ids}
    for line in tx.all(
        "SELECT invoice_id, position, kind, description, item, quantity, unit_price, amount, "
        f"derivation FROM invoice_lines WHERE {within} ORDER BY invoice_id, position",
        names,
    ):
        lines[line[0]].append(
            InvoiceLine(
                position=int(line[1]),
                kind=line[2],
                description=line[3],
                item=line[4],
                quantity=Decimal(line[5]),
                unit_price=Decimal(line[6]),
                amount=Decimal(line[7]),
                derivation=json.loads(line[8]),
            )
        )
    return [
        Invoice(
            id=row[0],
            number=row[1],
            account_id=row[2],
            status=InvoiceStatus(row[3]),
            currency=row[4],
            period_key=row[5],
            period_start=tx.dialect.from_ts(row[6]),
            period_end=tx.dialect.from_ts(row[7]),
            created_at=tx.dialect.from_ts(row[8]),
            total=Decimal(row[9]),
            plan=row[10],
            catalog=row[11],
            lines=tuple(lines[row[0]]),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class BillingTerms:
    """What rating needs of an account beyond its plan: packs, overrides, switches."""

    packs: tuple[str, ...] = ()
    #: item -> (limit or None for unlimited, grace percent or None)
    overrides: dict[str, tuple[int | None, Decimal | None]] | None = None
    #: item or "*" -> overage on
    switches: dict[str, bool] | None = None
    #: (target, JSON) operator prices (D14), sorted by target
    prices: tuple[tuple[str, str], ...] = ()
    #: (pack id, when) of the packs bought (not granted by an operator)
    purchases: tuple[tuple[str, datetime], ...] = ()


def billing_terms(tx: Transaction, account_ids: Sequence[str]) -> dict[str, BillingTerms]:
    """The account-wide packs, overrides, switches and prices of many accounts, in 4 reads."""
    within, params = tx.one_of("account_id", account_ids, "a")
    packs: dict[str, list[str]] = {}
    purchases: dict[str, list[tuple[str, datetime]]] = {}
    for row in tx.all(
        f"SELECT account_id, pack_id, source, granted_at FROM account_packs WHERE {within} "
        "ORDER BY granted_at, id",
        params,
    ):
        packs.setdefault(row[0], []).append(row[1])
        if row[2] == "purchase":
            purchases.setdefault(row[0], []).append((row[1], tx.dialect.from_ts(row[3])))
    overrides: dict[str, dict[str, tuple[int | None, Decimal | None]]] = {}
    for row in tx.all(
        "SELECT account_id, item, unlimited, limit_value, grace_percent FROM limit_overrides "
        f"WHERE {within} AND project_id = ''",
        params,
    ):
        overrides.setdefault(row[0], {})[row[1]] = (
            None if row[2] else int(row[3]),
            None if row[4] is None else Decimal(row[4]),
        )
    switches: dict[str, dict[str, bool]] = {}
    for row in tx.all(
        "SELECT account_id, item, enabled FROM overage_switches "
        f"WHERE {within} AND project_id = ''",
        params,
    ):
        switches.setdefault(row[0], {})[row[1]] = bool(row[2])
    prices: dict[str, list[tuple[str, str]]] = {}
    for row in tx.all(
        f"SELECT account_id, target, value FROM price_overrides WHERE {within} "
        "ORDER BY account_id, target",
        params,
    ):
        prices.setdefault(row[0], []).append((str(row[1]), str(row[2])))
    return {
        account_id: BillingTerms(
            tuple(packs.get(account_id, ())),
            overrides.get(account_id),
            switches.get(account_id),
            tuple(prices.get(account_id, ())),
            tuple(purchases.get(account_id, ())),
        )
        for account_id in account_ids
    }
