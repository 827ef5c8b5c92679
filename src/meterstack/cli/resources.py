"""``meterstack resources …`` and ``meterstack gauges …``: counted objects and stored levels."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from meterstack.cli.opening import engine_for, open_engine
from meterstack.cli.options import CatalogName, Database, fail
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.errors import MeterstackError
from meterstack.services.resources import ResourceObject

resources_app = typer.Typer(help="Counted objects: create, list, delete.", no_args_is_help=True)
gauges_app = typer.Typer(help="Stored quantities: set, adjust, show.", no_args_is_help=True)


def _resource_json(resource: ResourceObject) -> dict[str, object]:
    return {
        "id": resource.id,
        "account_id": resource.account_id,
        "kind": resource.kind,
        "project_id": resource.project_id,
        "name": resource.name,
        "active": resource.active,
        "read_only": resource.read_only,
        "created_at": resource.created_at.isoformat(),
    }


@resources_app.command("create")
def create_resource(
    account: Annotated[str, typer.Argument(help="Account id.")],
    kind: Annotated[str, typer.Argument(help="Resource kind, e.g. projects, triggers.")],
    project: Annotated[str | None, typer.Option(help="Owning project id.")] = None,
    name: Annotated[str | None, typer.Option(help="A name to show.")] = None,
    inactive: Annotated[bool, typer.Option(help="Create a project inactive (D12).")] = False,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Create one object; refused past the plan's limit (exit 2)."""
    with open_engine(database, catalog) as engine:
        try:
            if kind == "projects":
                created = engine.create_project(account, name=name, active=not inactive)
            else:
                created = engine.create_resource(account, kind, project_id=project, name=name)
        except MeterstackError as error:
            if error.http_status in {402, 403, 429}:
                typer.echo(json.dumps(error.to_dict(), indent=2), err=True)
                raise typer.Exit(2) from None
            fail(error)
    typer.echo(json.dumps(_resource_json(created), indent=2))


@resources_app.command("list")
def list_resources(
    account: Annotated[str, typer.Argument(help="Account id.")],
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """List an account's objects, oldest first, as JSON."""
    with engine_for(database, catalog) as engine:
        found = engine.resources(account, kind)
    typer.echo(json.dumps([_resource_json(resource) for resource in found], indent=2))


@resources_app.command("delete")
def delete_resource(
    resource: Annotated[str, typer.Argument(help="Resource id.")],
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Delete an object; its slot is free at once."""
    with engine_for(database, catalog) as engine:
        engine.delete_resource(resource)
    typer.echo(f"deleted {resource}")


@gauges_app.command("set")
def set_gauge(
    account: Annotated[str, typer.Argument(help="Account id.")],
    gauge: Annotated[str, typer.Argument(help="Gauge id, e.g. storage.")],
    level: Annotated[int, typer.Argument(help="The new level, in the gauge's unit (bytes).")],
    end_user: Annotated[str | None, typer.Option(help="End user id, for per-user gauges.")] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
) -> None:
    """Set a stored quantity; prints the decision and exits 2 when refused."""
    with engine_for(database, catalog) as engine:
        decision = engine.set_gauge(account, gauge, level, end_user_id=end_user)
    typer.echo(json.dumps(decision.to_dict(), indent=2))
    if not decision.allowed:
        raise typer.Exit(2)
