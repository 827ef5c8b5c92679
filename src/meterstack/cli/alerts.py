"""``meterstack alerts …``: alerts and the budget guard from the command line (D25, D26).

``list`` prints an account's alerts (the catalog's defaults, then its own) with their state,
``add`` creates one, ``delete`` removes one, ``budget`` shows the budget and the period's
charges against it, ``set-budget`` sets or (``--clear``) removes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from meterstack.cli.opening import opened
from meterstack.cli.options import AsJson, CatalogName, Database, cli_actor, fail
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.engine import Engine
from meterstack.errors import MeterstackError
from meterstack.records.alerts import AlertView, BudgetView

alerts_app = typer.Typer(help="Alerts and the budget guard: list, add, delete, budget.")

Account = Annotated[str, typer.Argument(help="Account id.")]


@contextmanager
def _engine(database: str, catalog: str) -> Iterator[Engine]:
    with opened(lambda: Engine.open(database, catalog=catalog)) as engine:
        try:
            yield engine
        except MeterstackError as error:
            fail(error)


def _alert(view: AlertView) -> dict[str, Any]:
    return {
        "id": view.id,
        "kind": str(view.kind),
        "meter": view.meter,
        "threshold": None if view.threshold is None else str(view.threshold),
        "source": str(view.source),
        "status": view.status,
        "triggered_at": None if view.triggered_at is None else view.triggered_at.isoformat(),
        "resolved_at": None if view.resolved_at is None else view.resolved_at.isoformat(),
    }


def _budget(view: BudgetView) -> dict[str, Any]:
    return {
        "amount": None if view.amount is None else str(view.amount),
        "mode": None if view.mode is None else str(view.mode),
        "currency": view.currency,
        "period": view.period,
        "fee": str(view.fee),
        "charges": str(view.charges),
        "actual": str(view.actual),
        "percent": None if view.percent is None else str(view.percent),
    }


@alerts_app.command("list")
def list_alerts(
    account: Account,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """The account's alerts, each armed or triggered."""
    with _engine(database, catalog) as engine:
        views = engine.alerts(account)
    if as_json:
        typer.echo(json.dumps([_alert(view) for view in views], indent=2))
        return
    for view in views:
        what = " ".join(part for part in (view.meter, str(view.threshold or "")) if part)
        typer.echo(f"{view.id}  {view.kind}  {what}  {view.status}")


@alerts_app.command("add")
def add(
    account: Account,
    kind: Annotated[
        str,
        typer.Argument(
            help="usage_percent, usage_units, current_charges, "
            "wallet_balance, grace_entered, limit_reached, "
            "payment_failed."
        ),
    ],
    meter: Annotated[str | None, typer.Option(help="The meter a usage alert watches.")] = None,
    threshold: Annotated[
        str | None, typer.Option(help="A percentage, units or an amount (decimal string).")
    ] = None,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Create an alert (at most 50 per account); it fires once per crossing."""
    with _engine(database, catalog) as engine:
        view = engine.create_alert(
            account, kind, meter=meter, threshold=threshold, actor=cli_actor()
        )
    typer.echo(json.dumps(_alert(view), indent=2) if as_json else view.id)


@alerts_app.command("delete")
def delete(
    account: Account,
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    with _engine(database, catalog) as engine:
        engine.delete_alert(account, alert_id, actor=cli_actor())
    typer.echo(f"deleted {alert_id}")


@alerts_app.command("budget")
def budget(
    account: Account,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """The budget and the period's charges (fee + usage lines + wallet spend) against it."""
    with _engine(database, catalog) as engine:
        view = engine.budget(account)
    _print_budget(view, as_json)


@alerts_app.command("set-budget")
def set_budget(
    account: Account,
    amount: Annotated[str | None, typer.Argument(help="A monthly maximum, e.g. 10.00.")] = None,
    mode: Annotated[str, typer.Option(help="hard (refuses past it) or soft (warns).")] = "hard",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the budget.")] = False,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Set the account's maximum monthly cost (D26), or remove it with --clear."""
    if (amount is None) != clear:
        typer.echo("error: give an amount, or --clear", err=True)
        raise typer.Exit(2)
    with _engine(database, catalog) as engine:
        view = engine.set_budget(account, None if clear else amount, mode=mode, actor=cli_actor())
    _print_budget(view, as_json)


def _print_budget(view: BudgetView, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_budget(view), indent=2))
        return
    if view.amount is None:
        typer.echo(f"no budget; {view.period}: {view.actual} {view.currency} so far")
        return
    typer.echo(
        f"{view.mode} budget {view.amount} {view.currency}; {view.period}: {view.actual} so far "
        f"({view.percent}%)"
    )
