"""Operator commands on the engine: create accounts, consume, show usage, purge keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meterstack.answers import usage_json
from meterstack.cli.opening import engine_for
from meterstack.cli.options import AsJson, CatalogName, Database, Reason, cli_actor
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.services.usage import UsageReport


def create_account(
    plan: Annotated[
        str | None, typer.Option(help="Plan id; the catalog's default if absent.")
    ] = None,
    interval: Annotated[str, typer.Option(help="monthly or yearly.")] = "monthly",
    email: Annotated[str | None, typer.Option(help="The account owner's email.")] = None,
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Create an account and print its id."""
    with engine_for(database, catalog) as engine:
        account = engine.create_account(
            plan, interval=interval, email=email, actor=cli_actor(reason)
        )
    typer.echo(account.id)


def consume(
    account: Annotated[str, typer.Argument(help="Account id.")],
    meter: Annotated[str, typer.Argument(help="Meter id, e.g. api_calls.")],
    quantity: Annotated[int, typer.Argument(help="Units to record.")] = 1,
    project: Annotated[str | None, typer.Option(help="Project id.")] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key.")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Id of the API key making the request (its quota applies).")
    ] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Record usage; prints the decision as JSON and exits 2 when it is refused."""
    with engine_for(database, catalog) as engine:
        decision = engine.consume(
            account,
            meter,
            quantity,
            project_id=project,
            idempotency_key=key,
            api_key_id=api_key,
        )
    typer.echo(json.dumps(decision.to_dict(), indent=2))
    if not decision.allowed:
        raise typer.Exit(2)


def purge_keys(
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
    window: Annotated[
        int | None,
        typer.Option(
            help="Keys examined per transaction (the engine's default when absent); "
            "traffic goes on in between.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete idempotency keys older than the retention (D7); run it daily."""
    with engine_for(database, catalog) as engine:
        if window is None:
            purged = engine.purge_idempotency_keys()
        else:
            purged = engine.purge_idempotency_keys(window=window)
    typer.echo(f"{purged} idempotency keys past the retention deleted")


def usage(
    account: Annotated[str, typer.Argument(help="Account id.")],
    project: Annotated[str | None, typer.Option(help="One project's own counters.")] = None,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Show every meter and resource of an account: used, limit, remaining."""
    with engine_for(database, catalog) as engine:
        report = engine.usage(account, project_id=project)
    if as_json:
        typer.echo(json.dumps(usage_json(report), indent=2))
        return
    Console(width=110).print(usage_table(report))


def usage_table(report: UsageReport) -> Table:
    title = f"{report.account_id} on {report.plan}, period {report.period.key}"
    if report.project_id:
        title += f", project {report.project_id}"
    table = Table(title=title)
    for column in ("item", "used", "held", "limit", "hard limit", "remaining", "%", "overage"):
        table.add_column(column, justify="left" if column == "item" else "right")
    for item in report.items.values():
        table.add_row(
            item.item,
            f"{item.used:,}",
            f"{item.held:,}",
            "unlimited" if item.limit is None else f"{item.limit:,}",
            "-" if item.hard_limit is None else f"{item.hard_limit:,}",
            "-" if item.remaining is None else f"{item.remaining:,}",
            "-" if item.percent is None else str(item.percent),
            f"{item.overage_units:,}",
        )
    return table
