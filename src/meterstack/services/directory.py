"""Pages of accounts and invoices, for the consoles: search, filters, newest first.

A console shows one page at a time; an account with 10,000 invoices must not load them all to
show twenty, so every list here is read a page at a time in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from meterstack.bounds import MAX_PAGE_NUMBER, check_range
from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.services.context import ServiceContext
from meterstack.store.rows import AccountListing

#: Most entries one page may hold.
MAX_PAGE_SIZE = 200
#: The account statuses a console may filter by: ``active`` has no cancellation waiting.
ACCOUNT_STATUSES = ("active", "cancelling", "downgrading")

Entry = TypeVar("Entry")


@dataclass(frozen=True)
class Page(Generic[Entry]):
    entries: list[Entry]
    #: 1 for the first page.
    number: int
    size: int
    #: How many entries match in all.
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _checked(page: int, size: int) -> tuple[int, int]:
    """The offset and size of a page; a page past :data:`MAX_PAGE_NUMBER` is refused, so
    that its offset fits the database's 64-bit ``OFFSET`` (SQLite raised ``OverflowError``,
    PostgreSQL ``NumericValueOutOfRange``)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"a page holds 1 to {MAX_PAGE_SIZE} entries, got {size}")
    if isinstance(page, bool) or not isinstance(page, int):
        raise InvalidInputError(f"a page number is a whole number, got {page!r}", field="page")
    check_range("page", page, 1, MAX_PAGE_NUMBER)
    return (page - 1) * size, size


class Directory:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def accounts(
        self,
        *,
        query: str | None = None,
        plan: str | None = None,
        status: str | None = None,
        page: int = 1,
        size: int = 50,
    ) -> Page[AccountListing]:
        """Accounts whose id, email or name contains ``query``, on ``plan``, in ``status``."""
        if status is not None and status not in ACCOUNT_STATUSES:
            raise InvalidInputError(
                f"status must be one of {', '.join(ACCOUNT_STATUSES)}, got {status!r}"
            )
        if plan is not None and plan not in self.ctx.current.catalog.plan_ids:
            raise InvalidInputError(f"unknown plan {plan!r}", plan=plan)
        offset, limit = _checked(page, size)
        pending = {"cancelling": "cancel", "downgrading": "downgrade"}.get(status or "")
        with self.ctx.store.transaction() as tx:
            entries, total = tx.directory.account_page(
                query=(query or "").strip()[:200] or None,
                plan=plan,
                pending_kind=pending,
                settled=status == "active",
                offset=offset,
                limit=limit,
            )
        return Page(entries, page, size, total)

    def invoices(
        self,
        account_id: str | None = None,
        *,
        status: str | None = None,
        page: int = 1,
        size: int = 20,
    ) -> Page[Invoice]:
        """Invoices with their lines, newest first: one account's, or everyone's."""
        if status is not None and status not in {str(s) for s in InvoiceStatus}:
            raise InvalidInputError(f"unknown invoice status {status!r}", status=status)
        offset, limit = _checked(page, size)
        with self.ctx.store.transaction() as tx:
            if account_id is not None:
                self.ctx.state(tx, account_id)  # 404 for an unknown account
            entries, total = tx.directory.invoice_page(
                account_id=account_id, status=status, offset=offset, limit=limit
            )
        return Page(entries, page, size, total)
