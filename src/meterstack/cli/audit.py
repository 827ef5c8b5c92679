"""``meterstack audit``: the audit log, newest first; ``meterstack accounts set-limit`` and
``change-plan``: the operator's levers, each with the reason the log keeps."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meterstack.bounds import whole_number
from meterstack.cli.opening import engine_for
from meterstack.cli.options import AsJson, CatalogName, Database, Reason, cli_actor
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.records.audit import plain


def audit(
    account: Annotated[str | None, typer.Option(help="Only this account's changes.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="Only changes of this kind (plan.changed) or family (webhook.*)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries per page.")] = 50,
    before: Annotated[str | None, typer.Option(help="The cursor of the previous page.")] = None,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Billing changes newest first: when, what, who, why, before and after."""
    with engine_for(database, catalog) as engine:
        page = engine.audit(account_id=account, kind=kind, before=before, limit=limit)
    rows = [
        {
            "id": entry.id,
            "account_id": entry.account_id,
            "kind": entry.kind,
            "actor": {"kind": entry.actor.kind, "id": entry.actor.id},
            "reason": entry.reason,
            "at": entry.at.isoformat(),
            "before": plain(entry.before),
            "after": plain(entry.after),
        }
        for entry in page.entries
    ]
    if as_json:
        typer.echo(json.dumps({"entries": rows, "next_before": page.next_before}, indent=2))
        return
    table = Table("at", "account", "kind", "actor", "reason", "before", "after")
    for row in rows:
        actor = row["actor"]
        assert isinstance(actor, dict)
        table.add_row(
            str(row["at"])[:19],
            str(row["account_id"] or "–"),
            str(row["kind"]),
            actor["kind"] + (f" {actor['id']}" if actor["id"] else ""),
            str(row["reason"] or ""),
            _compact(row["before"]),
            _compact(row["after"]),
        )
    Console(width=160).print(table)
    if page.next_before is not None:
        typer.echo(f"more: --before {page.next_before}")


def _compact(value: object) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)


def set_limit(
    account: Annotated[str, typer.Argument(help="Account id.")],
    item: Annotated[str, typer.Argument(help="Meter, gauge or resource id.")],
    limit: Annotated[str, typer.Argument(help="A whole number, or unlimited.")],
    grace: Annotated[str | None, typer.Option(help="Grace percentage, e.g. 10.")] = None,
    project: Annotated[str | None, typer.Option(help="One project's own cap.")] = None,
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Override one item's limit (and grace) for an account (D14)."""
    with engine_for(database, catalog) as engine:
        engine.set_limit(
            account,
            item,
            "unlimited" if limit.strip().lower() == "unlimited" else whole_number(limit, "limit"),
            grace=grace,
            project_id=project,
            actor=cli_actor(reason),
        )
    typer.echo(f"{item} limit of {account} set to {limit}")


def change_plan(
    account: Annotated[str, typer.Argument(help="Account id.")],
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    interval: Annotated[str | None, typer.Option(help="monthly or yearly.")] = None,
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Upgrade at once (with proration) or downgrade at the period's end (C7, D10)."""
    with engine_for(database, catalog) as engine:
        change = engine.change_plan(account, plan, interval, actor=cli_actor(reason))
    if change.immediate:
        typer.echo(f"{account} is on {change.subscription.plan} now")
    else:
        typer.echo(f"{account} moves to {change.subscription.pending_plan} at the period's end")
