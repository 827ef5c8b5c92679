"""``meterstack wallet …``: the prepaid wallet from the command line (B2, D20, D24).

``show`` prints the balance and auto-reload settings, ``transactions`` the ledger newest first,
``charge`` charges an operation, ``deposit`` deposits through the embedded local provider (which
collects without the buyer, so the deposit is paid and credited at once, as packs are granted
at once there, D11).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from meterstack.cli.opening import opened
from meterstack.cli.options import AsJson, CatalogName, Database, cli_actor, fail
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError, MeterstackError
from meterstack.records.payments import PaymentEvent
from meterstack.services.payments.local import LocalProvider

wallet_app = typer.Typer(help="The prepaid wallet: show, charge, deposit, transactions.")


@contextmanager
def _engine(database: str, catalog: str) -> Iterator[Engine]:
    with opened(lambda: Engine.open(database, catalog=catalog, provider=LocalProvider())) as engine:
        try:
            yield engine
        except MeterstackError as error:
            fail(error)


def _amount(text: str, name: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInputError(f"{name} must be a decimal amount, got {text!r}") from None


@wallet_app.command("show")
def show(
    account: Annotated[str, typer.Argument(help="Account id.")],
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """The balance (six places, D17) and the auto-reload settings."""
    with _engine(database, catalog) as engine:
        view = engine.wallet(account)
    settings = view.settings
    body = {
        "account_id": view.account_id,
        "currency": view.currency,
        "balance": str(view.balance),
        "auto_reload": None
        if settings.threshold is None
        else {
            "threshold": str(settings.threshold),
            "amount": None if settings.amount is None else str(settings.amount),
            "target": None if settings.target is None else str(settings.target),
        },
    }
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"{view.account_id}: {view.balance} {view.currency}")
    if settings.threshold is not None:
        typer.echo(f"auto-reload below {settings.threshold}")


@wallet_app.command("charge")
def charge(
    account: Annotated[str, typer.Argument(help="Account id.")],
    operation: Annotated[str, typer.Argument(help="A wallet operation of the catalog.")],
    quantity: Annotated[int, typer.Argument(help="Units of the operation.")] = 1,
    byok: Annotated[bool, typer.Option("--byok", help="Run on the customer's own key.")] = False,
    item: Annotated[str | None, typer.Option(help="A marketplace item.")] = None,
    max_price: Annotated[str | None, typer.Option(help="Refuse above this price.")] = None,
    key: Annotated[str | None, typer.Option(help="An idempotency key (D7).")] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Charge an operation; a refusal prints it and exits with status 2, as consume does."""
    with _engine(database, catalog) as engine:
        charged = engine.charge(
            account,
            operation,
            quantity,
            byok=byok,
            item_id=item,
            max_price=None if max_price is None else _amount(max_price, "max_price"),
            idempotency_key=key,
        )
    body = {
        "allowed": charged.allowed,
        "code": charged.code,
        "price": str(charged.price),
        "balance": str(charged.balance),
        "entry_id": charged.entry_id,
        "replayed": charged.replayed,
    }
    typer.echo(json.dumps(body))
    if not charged.allowed:
        typer.echo(f"refused: {charged.message}", err=True)
        raise typer.Exit(2)


@wallet_app.command("deposit")
def deposit(
    account: Annotated[str, typer.Argument(help="Account id.")],
    amount: Annotated[str, typer.Argument(help="Whole cents, at least the minimum deposit.")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Deposit through the local provider: paid and credited at once; prints the balance."""
    with _engine(database, catalog) as engine:
        checkout = engine.deposit(account, _amount(amount, "amount"))
        outcome = engine.apply_payment_event(
            PaymentEvent(f"evt_{checkout.id}", "checkout.completed", {"checkout_id": checkout.id})
        )
    typer.echo(json.dumps({"checkout_id": checkout.id, "balance": str(outcome.deposit_balance)}))


@wallet_app.command("transactions")
def transactions(
    account: Annotated[str, typer.Argument(help="Account id.")],
    limit: Annotated[int, typer.Option(help="Entries per page.")] = 50,
    before: Annotated[str | None, typer.Option(help="The cursor of the previous page.")] = None,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """The ledger, newest first; deposits and reloads are their own receipts."""
    with _engine(database, catalog) as engine:
        page = engine.wallet_transactions(account, before=before, limit=limit)
    rows = [
        {
            "id": entry.id,
            "kind": str(entry.kind),
            "amount": str(entry.amount),
            "operation": entry.operation,
            "quantity": entry.quantity,
            "byok": entry.byok,
            "created_at": entry.created_at.isoformat(),
            "reference": entry.reference,
        }
        for entry in page.entries
    ]
    if as_json:
        typer.echo(json.dumps({"transactions": rows, "next_before": page.next_before}, indent=2))
        return
    table = Table("created", "kind", "amount", "operation", "quantity", "byok", "id")
    for row in rows:
        table.add_row(
            str(row["created_at"]),
            str(row["kind"]),
            str(row["amount"]),
            str(row["operation"] or ""),
            str(row["quantity"]),
            "yes" if row["byok"] else "",
            str(row["id"]),
        )
    Console(width=140).print(table)
    if page.next_before is not None:
        typer.echo(f"more: --before {page.next_before}")


payouts_app = typer.Typer(help="Marketplace payouts: pay creators their earnings (D23).")


@payouts_app.command("run")
def run_payouts(
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Pay every creator whose earnings reach the minimum payout, through the local provider;
    running it again pays nothing twice."""
    with (
        _engine(database, catalog) as engine,
        # The bar goes to stderr, and only to a terminal: stdout stays the command's output.
        Progress(transient=True, console=Console(stderr=True), disable=as_json) as progress,
    ):
        task = progress.add_task("paying creators", total=None)
        paid = engine.run_payouts(
            progress=lambda done: progress.advance(task, done), actor=cli_actor()
        )
    rows = [
        {"id": payout.id, "creator_id": payout.creator_id, "amount": str(payout.amount)}
        for payout in paid
    ]
    if as_json:
        typer.echo(json.dumps({"payouts": rows}, indent=2))
        return
    typer.echo(f"{len(rows)} payouts")
    for row in rows:
        typer.echo(f"{row['creator_id']}: {row['amount']}")
