"""SQL of invoices, their lines and numbering, periods closed without an invoice (B12), account
credit (the ledger of ``account_credit`` lines), and what period close reads of accounts (D10)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterstack.records.invoicing import ACCOUNT_CREDIT, Invoice, InvoiceLine, InvoiceStatus
from meterstack.rules.terms import ACCOUNT_WIDE, LimitOverride
from meterstack.store.close_failures import SqlCloseFailures
from meterstack.store.rows import AccountToClose, BillingTerms, ClosedPeriod
from meterstack.store.statements import Statements

_INVOICE_COLUMNS = (
    "id, number, account_id, status, currency, period_key, period_start, period_end, "
    "created_at, total, plan_id, catalog, kind"
)


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


class SqlInvoices(SqlCloseFailures):
    def __init__(self, sql: Statements) -> None:
        self._sql = sql

    def to_close(self, after: str, limit: int) -> list[AccountToClose]:
        """Accounts with ids after ``after``, in id order, with the end of their last closed
        period (invoiced, or closed without an invoice)."""
        rows = self._sql.all(
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
                period_anchor=self._sql.dialect.from_ts(row[4]),
                created_at=self._sql.dialect.from_ts(row[5]),
                closed_through=None if row[6] is None else self._sql.dialect.from_ts(row[6]),
            )
            for row in rows
        ]

    def billing_terms(self, account_ids: Sequence[str]) -> dict[str, BillingTerms]:
        """The account-wide packs, overrides, switches and prices of many accounts, in 4 reads."""
        within, params = self._sql.one_of("account_id", account_ids, "a")
        packs: dict[str, list[str]] = {}
        purchases: dict[str, list[tuple[str, datetime]]] = {}
        for row in self._sql.all(
            f"SELECT account_id, pack_id, source, granted_at FROM account_packs WHERE {within} "
            "ORDER BY granted_at, id",
            params,
        ):
            packs.setdefault(row[0], []).append(row[1])
            if row[2] == "purchase":
                purchases.setdefault(row[0], []).append((row[1], self._sql.dialect.from_ts(row[3])))
        overrides: dict[str, dict[str, LimitOverride]] = {}
        for row in self._sql.all(
            "SELECT account_id, item, unlimited, limit_value, grace_percent FROM limit_overrides "
            f"WHERE {within} AND project_id = :account_wide",
            {**params, "account_wide": ACCOUNT_WIDE},
        ):
            overrides.setdefault(row[0], {})[row[1]] = LimitOverride(
                limit=None if row[2] else int(row[3]),
                grace_percent=None if row[4] is None else Decimal(row[4]),
            )
        switches: dict[str, dict[str, bool]] = {}
        for row in self._sql.all(
            "SELECT account_id, item, enabled FROM overage_switches "
            f"WHERE {within} AND project_id = :account_wide",
            {**params, "account_wide": ACCOUNT_WIDE},
        ):
            switches.setdefault(row[0], {})[row[1]] = bool(row[2])
        prices: dict[str, list[tuple[str, str]]] = {}
        for row in self._sql.all(
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

    def insert(self, invoices: Sequence[Invoice], sequence: str, kind: str) -> set[str]:
        """Insert drafts with their lines; the ids inserted (not those whose period had one)."""
        if not invoices:
            return set()
        inserted = {
            str(row[0])
            for row in self._sql.all(
                "INSERT INTO invoices (id, number, sequence, account_id, kind, period_key, "
                "period_start, period_end, currency, plan_id, catalog, status, total, created_at, "
                f"status_changed_at) {_draft_source(self._sql, invoices)} "
                "ON CONFLICT DO NOTHING RETURNING id",
                {
                    "sequence": sequence,
                    "kind": kind,
                    "status": "draft",
                    **_invoice_params(self._sql, invoices),
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
            self._sql.cursor.executemany(
                self._sql.dialect.sql(
                    "INSERT INTO invoice_lines (invoice_id, position, kind, description, item, "
                    "quantity, unit_price, amount, derivation) VALUES (:invoice_id, :position, "
                    ":kind, :description, :item, :quantity, :unit_price, :amount, :derivation)"
                ),
                lines,
            )
        return inserted

    def take_numbers(self, sequence: str, count: int) -> int:
        """Reserve ``count`` consecutive numbers of ``sequence``; the first of them.

        The sequence row is updated in the caller's transaction: numbers taken by a transaction
        that rolls back are given out again, so numbering has no gaps.
        """
        row = self._sql.one(
            "INSERT INTO invoice_sequences (name, next_number) VALUES (:name, :after) "
            "ON CONFLICT (name) DO UPDATE SET "
            "next_number = invoice_sequences.next_number + :count RETURNING next_number",
            {"name": sequence, "after": 1 + count, "count": count},
        )
        return int(row[0]) - count

    def record_closes(self, closes: Sequence[ClosedPeriod], now: datetime) -> None:
        """Remember periods closed without an invoice; once each."""
        if not closes:
            return
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "INSERT INTO period_closes (account_id, period_key, period_end, closed_at) "
                "VALUES (:account_id, :period_key, :period_end, :now) ON CONFLICT DO NOTHING"
            ),
            [
                {
                    "account_id": close.account_id,
                    "period_key": close.period_key,
                    "period_end": self._sql.ts(close.period_end),
                    "now": self._sql.ts(now),
                }
                for close in closes
            ],
        )

    def closed_through(self, account_id: str) -> datetime | None:
        """The end of the account's last closed period (invoiced, or closed without an invoice,
        B12): the fees of the intervals starting by then are billed. None when none was closed."""
        row = self._sql.one(
            "SELECT MAX(ends.period_end) FROM (SELECT MAX(period_end) AS period_end FROM invoices "
            "WHERE account_id = :account_id AND kind = 'period' UNION ALL "
            "SELECT MAX(period_end) FROM period_closes WHERE account_id = :same_account) ends",
            {"account_id": account_id, "same_account": account_id},
        )
        return None if row is None or row[0] is None else self._sql.dialect.from_ts(row[0])

    def credit_balances(
        self, account_ids: Sequence[str], *, lock: bool = False
    ) -> dict[str, Decimal]:
        """The account credit of each account with any: the sum of its ``account_credit`` lines.

        Invoices are the ledger: a line that keeps an excess adds to the credit, a line that
        applies it takes from it, and a voided invoice moves nothing. ``lock`` first takes the
        accounts' row locks (PostgreSQL; a SQLite transaction holds the database's), so that two
        transactions cannot spend the same credit: an upgrade takes the same lock when it
        changes the plan.
        """
        if not account_ids:
            return {}
        sql = self._sql
        within, params = sql.one_of("account_id", sorted(set(account_ids)), "a")
        if lock and not sql.dialect.is_sqlite:
            accounts, names = sql.one_of("id", sorted(set(account_ids)), "c")
            sql.all(f"SELECT id FROM accounts WHERE {accounts} ORDER BY id FOR UPDATE", names)
        balances: dict[str, Decimal] = {}
        for account_id, amount in sql.all(
            "SELECT i.account_id, l.amount FROM invoices i JOIN invoice_lines l "
            f"ON l.invoice_id = i.id WHERE i.{within} AND i.status <> :void AND l.kind = :kind",
            {**params, "void": str(InvoiceStatus.VOID), "kind": ACCOUNT_CREDIT},
        ):
            balances[account_id] = balances.get(account_id, Decimal(0)) + Decimal(amount)
        return {account_id: max(balance, Decimal(0)) for account_id, balance in balances.items()}

    def finalize(self, numbered: Sequence[tuple[str, str]], now: datetime) -> None:
        """Give drafts (id, number) their numbers and finalize them."""
        if not numbered:
            return
        self._sql.cursor.executemany(
            self._sql.dialect.sql(
                "UPDATE invoices SET number = :number, status = :status, status_changed_at = :now "
                "WHERE id = :id"
            ),
            [
                {
                    "number": number,
                    "status": str(InvoiceStatus.FINALIZED),
                    "now": self._sql.ts(now),
                    "id": invoice_id,
                }
                for invoice_id, number in numbered
            ],
        )

    def set_status(
        self, number: str, old: InvoiceStatus, new: InvoiceStatus, now: datetime
    ) -> bool:
        row = self._sql.one(
            "UPDATE invoices SET status = :new, status_changed_at = :now "
            "WHERE number = :number AND status = :old RETURNING id",
            {"new": str(new), "old": str(old), "now": self._sql.ts(now), "number": number},
        )
        return row is not None

    def of_account(self, account_id: str) -> list[Invoice]:
        """The account's invoices, oldest first."""
        return invoice_rows(self._sql, "account_id = :account_id", {"account_id": account_id})

    def by_number(self, number: str) -> Invoice | None:
        found = invoice_rows(self._sql, "number = :number", {"number": number})
        return found[0] if found else None


def invoice_rows(sql: Statements, where: str, params: dict[str, Any]) -> list[Invoice]:
    """The invoices matching ``where``, oldest first, each with its lines (in two reads)."""
    rows = sql.all(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE {where} ORDER BY created_at, number, id",
        params,
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    within, names = sql.one_of("invoice_id", ids, "i")
    lines: dict[str, list[InvoiceLine]] = {invoice_id: [] for invoice_id in ids}
    for line in sql.all(
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
            period_start=sql.dialect.from_ts(row[6]),
            period_end=sql.dialect.from_ts(row[7]),
            created_at=sql.dialect.from_ts(row[8]),
            total=Decimal(row[9]),
            plan=row[10],
            catalog=row[11],
            kind=row[12],
            lines=tuple(lines[row[0]]),
        )
        for row in rows
    ]


def _invoice_values(sql: Statements, invoice: Invoice) -> tuple[Any, ...]:
    return (
        invoice.id,
        invoice.account_id,
        invoice.period_key,
        sql.ts(invoice.period_start),
        sql.ts(invoice.period_end),
        invoice.currency,
        invoice.plan,
        invoice.catalog,
        str(invoice.total),
        sql.ts(invoice.created_at),
    )


def _draft_source(sql: Statements, invoices: Sequence[Invoice]) -> str:
    """The source of the drafts' rows: named VALUES on SQLite, one JSON parameter on PostgreSQL
    (whose statement text, and plan, then stay the same for any number of invoices)."""
    if not sql.dialect.is_sqlite:
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


def _invoice_params(sql: Statements, invoices: Sequence[Invoice]) -> dict[str, Any]:
    if not sql.dialect.is_sqlite:
        rows = [
            dict(zip(_INVOICE_FIELDS, _invoice_values(sql, invoice), strict=True))
            for invoice in invoices
        ]
        return {"rows": json.dumps(rows, default=_iso)}
    params: dict[str, Any] = {}
    for index, invoice in enumerate(invoices):
        for name, value in zip(_INVOICE_FIELDS, _invoice_values(sql, invoice), strict=True):
            params[f"{name}{index}"] = value
    return params


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")
