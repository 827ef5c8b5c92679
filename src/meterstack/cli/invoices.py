"""``meterstack invoices …`` and ``meterstack period close``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from meterstack.answers import invoice_json
from meterstack.cli.opening import engine_for, open_engine
from meterstack.cli.options import AsJson, CatalogName, Database
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.records.invoicing import Invoice
from meterstack.services.invoicing.render import render_html, render_pdf

invoices_app = typer.Typer(help="Invoices: list, show, pdf.", no_args_is_help=True)
period_app = typer.Typer(help="Usage periods: close.", no_args_is_help=True)


def _table(invoices: list[Invoice]) -> Table:
    table = Table()
    for column in ("number", "account", "period", "status", "total"):
        table.add_column(column, justify="right" if column == "total" else "left")
    for invoice in invoices:
        table.add_row(
            invoice.number or "draft",
            invoice.account_id,
            invoice.period_name,
            str(invoice.status),
            f"{invoice.total} {invoice.currency}",
        )
    return table


@invoices_app.command("list")
def list_invoices(
    account: Annotated[str, typer.Argument(help="Account id.")],
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """An account's invoices, oldest first."""
    with engine_for(database, catalog) as engine:
        found = engine.invoices(account)
    if as_json:
        typer.echo(json.dumps([invoice_json(invoice) for invoice in found], indent=2))
        return
    Console(width=110).print(_table(found))


@invoices_app.command("show")
def show_invoice(
    number: Annotated[str, typer.Argument(help="Invoice number, e.g. INV-000001.")],
    as_json: AsJson = False,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML rendering.")] = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """One invoice with every line and its derivation."""
    with engine_for(database, catalog) as engine:
        invoice = engine.invoice(number)
    if html:
        typer.echo(render_html(invoice))
    elif as_json:
        typer.echo(json.dumps(invoice_json(invoice), indent=2))
    else:
        console = Console(width=110)
        console.print(f"Invoice {invoice.number} ({invoice.status}), {invoice.account_id}")
        console.print(f"Plan {invoice.plan}, period {invoice.period_name}")
        for line in invoice.lines:
            console.print(f"  {line.description}: {line.amount} {invoice.currency}")
            note = line.derivation.get("note")
            if note:
                console.print(f"    {note}", style="dim")
        console.print(f"Total: {invoice.total} {invoice.currency}")


@invoices_app.command("pdf")
def invoice_pdf(
    number: Annotated[str, typer.Argument(help="Invoice number.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PDF.")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Write an invoice as PDF."""
    with engine_for(database, catalog) as engine:
        invoice = engine.invoice(number)
    output.write_bytes(render_pdf(invoice))
    typer.echo(f"wrote {output}")


@period_app.command("close")
def close_period(
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Close every period that has ended; running it again creates nothing more.

    An account that cannot be rated is left unclosed and named on stderr, one error line each,
    and the command exits 1; every other account is invoiced.
    """
    with (
        open_engine(database, catalog) as engine,
        # The bar goes to stderr, and only to a terminal: stdout stays the command's output.
        Progress(transient=True, console=Console(stderr=True), disable=as_json) as progress,
    ):
        task = progress.add_task("closing periods", total=None)
        created = engine.close_period(progress=lambda done: progress.advance(task, done))
    if as_json:
        typer.echo(json.dumps([invoice_json(invoice) for invoice in created], indent=2))
    else:
        typer.echo(f"{len(created)} invoices created")
        if created:
            Console(width=110).print(_table(created))
    for failure in created.failures:
        typer.echo(
            f"error: account {failure.account_id} was not closed (period {failure.period_key}): "
            f"{failure.reason}",
            err=True,
        )
    if created.failures:
        raise typer.Exit(1)
