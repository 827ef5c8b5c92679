"""``meterstack plans migrate``: the accounts still on an older version of the catalog (their
grandfathered prices and limits), shown and, with ``--apply``, moved to the current one."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from meterstack.cli.opening import engine_for
from meterstack.cli.options import CatalogName, Database, Reason, cli_actor
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL


def migrate(
    apply: Annotated[
        bool, typer.Option("--apply", help="Move the accounts; without it, only show.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Show (then, with --apply, move) accounts still on an older version of CATALOG."""
    with engine_for(database, catalog) as engine:
        moves = (
            engine.migrate_accounts(actor=cli_actor(reason)) if apply else engine.migration_plan()
        )
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "account_id": move.account_id,
                        "plan": move.plan,
                        "from_version": move.from_version,
                        "to_version": move.to_version,
                        "blocked": move.blocked,
                        "changes": [change.to_dict() for change in move.changes],
                    }
                    for move in moves
                ],
                indent=2,
            )
        )
        return
    verb = "moved" if apply else "would move"
    typer.echo(f"{len(moves)} accounts {verb}")
    for move in moves:
        typer.echo(
            f"{move.account_id} ({move.plan}): version {move.from_version} -> {move.to_version}"
            + (f" blocked: {move.blocked}" if move.blocked else "")
        )
        for change in move.changes:
            typer.echo(f"  {change.path}: {change.old} -> {change.new} ({change.direction})")
