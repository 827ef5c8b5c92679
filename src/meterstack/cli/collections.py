"""``meterstack collections …``: collect finalized invoices and run dunning (D29).

``run`` makes one pass of the collection runner (what ``meterstack serve`` runs in the
background): every finalized invoice with an amount due gets a collection, and every attempt
due now is made, through the embedded local provider. ``--decline`` turns the local provider's
decline switch on for the pass, so a platform can rehearse dunning without a card. ``list``
shows an account's collections and attempts; ``collect`` retries one invoice now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from meterstack.cli.opening import opened
from meterstack.cli.options import AsJson, CatalogName, Database, fail
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.engine import Engine
from meterstack.errors import MeterstackError
from meterstack.services.collections.service import CollectionView
from meterstack.services.payments.local import LocalProvider

collections_app = typer.Typer(
    help="Invoice collection and dunning: run the runner, list, retry.", no_args_is_help=True
)


@contextmanager
def _engine(database: str, catalog: str, *, decline: bool = False) -> Iterator[Engine]:
    provider = LocalProvider(decline_collections=decline)
    with opened(lambda: Engine.open(database, catalog=catalog, provider=provider)) as engine:
        try:
            yield engine
        except MeterstackError as error:
            fail(error)


def _view_json(view: CollectionView) -> dict[str, Any]:
    found = view.collection
    return {
        "invoice_number": found.invoice_number,
        "account_id": found.account_id,
        "status": str(found.status),
        "amount": str(found.amount),
        "currency": found.currency,
        "attempts_made": found.attempts,
        "next_attempt_at": _iso(found.next_attempt_at),
        "last_reason": found.last_reason,
        "restore_plan": found.restore_plan,
        "attempts": [
            {
                "number": attempt.number,
                "key": attempt.key,
                "status": str(attempt.status),
                "reason": attempt.reason,
                "started_at": attempt.started_at.isoformat(),
            }
            for attempt in view.attempts
        ],
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


@collections_app.command("run")
def run(
    decline: Annotated[
        bool,
        typer.Option(
            "--decline", help="Decline every attempt of this pass (the local provider's switch)."
        ),
    ] = False,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """One pass: open collections for new invoices and make every attempt due now. Safe beside
    other runners: no attempt is made twice."""
    with _engine(database, catalog, decline=decline) as engine:
        report = engine.collections.run()
    counts = {name: getattr(report, name) for name in report.__dataclass_fields__}
    if as_json:
        typer.echo(json.dumps(counts, indent=2))
        return
    typer.echo(", ".join(f"{value} {name}" for name, value in counts.items()))


@collections_app.command("list")
def list_collections(
    account: Annotated[str, typer.Argument(help="Account id.")],
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """The account's collections, oldest first, with their attempts."""
    with _engine(database, catalog) as engine:
        rows = [_view_json(view) for view in engine.collections.of_account(account)]
    if as_json:
        typer.echo(json.dumps({"collections": rows}, indent=2))
        return
    columns = ["invoice_number", "status", "amount", "attempts_made", "next_attempt_at"]
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console(width=140).print(table)


@collections_app.command("collect")
def collect(
    number: Annotated[str, typer.Argument(help="Invoice number.")],
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Attempt the invoice now, whatever the schedule says; paying it ends dunning."""
    with _engine(database, catalog) as engine:
        row = _view_json(engine.collections.collect(number))
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    typer.echo(f"{row['invoice_number']}: {row['status']} after {row['attempts_made']} attempts")
