"""``meterstack keys …``: create (the key is shown once), list and revoke API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from meterstack.answers import api_key_json
from meterstack.bounds import whole_number
from meterstack.cli.opening import engine_for
from meterstack.cli.options import AsJson, CatalogName, Database, Reason, cli_actor
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.errors import InvalidInputError

keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def _quotas(pairs: list[str]) -> dict[str, int]:
    quotas: dict[str, int] = {}
    for pair in pairs:
        meter, equals, units = pair.partition("=")
        if not meter.strip() or not equals:
            raise InvalidInputError(f"a quota is METER=UNITS, got {pair!r}")
        quotas[meter.strip()] = whole_number(units.strip(), f"the quota of {meter.strip()}")
    return quotas


@keys_app.command("create")
def create_key(
    account: Annotated[str, typer.Argument(help="Account id.")],
    project: Annotated[
        str | None, typer.Option(help="A project key; a user key if absent.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name to show.")] = None,
    module: Annotated[
        list[str] | None, typer.Option(help="A module the key may use (repeat); all if absent.")
    ] = None,
    quota: Annotated[
        list[str] | None, typer.Option(help="METER=UNITS per period for this key (repeat).")
    ] = None,
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Create a key and print it: it is shown this once and stored only as a hash."""
    with engine_for(database, catalog) as engine:
        issued = engine.create_api_key(
            account,
            project_id=project,
            name=name,
            modules=module,
            quotas=_quotas(quota) if quota else None,
            actor=cli_actor(reason),
        )
    typer.echo(json.dumps({"id": issued.id, "key": issued.key, "prefix": issued.api_key.prefix}))


@keys_app.command("list")
def list_keys(
    account: Annotated[str, typer.Argument(help="Account id.")],
    project: Annotated[str | None, typer.Option(help="Only this project's keys.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Revoked keys too.")] = False,
    as_json: AsJson = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """List an account's keys, oldest first; their text is never shown again."""
    with engine_for(database, catalog) as engine:
        keys = [
            api_key_json(key)
            for key in engine.api_keys(account, project_id=project, revoked=revoked)
        ]
    if as_json:
        typer.echo(json.dumps({"keys": keys}, indent=2))
        return
    table = Table("id", "prefix", "kind", "project", "name", "modules", "created", "revoked")
    for key in keys:
        modules = key["modules"]
        table.add_row(
            key["id"],
            key["prefix"],
            key["kind"],
            key["project_id"] or "",
            key["name"] or "",
            "all" if modules is None else ", ".join(modules) or "none",
            key["created_at"][:19],
            (key["revoked_at"] or "")[:19],
        )
    Console(width=140).print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="Key id.")],
    reason: Reason = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Revoke a key at once; its slot is free."""
    with engine_for(database, catalog) as engine:
        engine.revoke_api_key(key_id, actor=cli_actor(reason))
    typer.echo(f"revoked {key_id}")
