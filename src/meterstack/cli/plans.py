"""``meterstack plans …``: list, show, validate and diff catalogs."""

from __future__ import annotations

import typer

from meterstack.catalog import builtin_names

plans_app = typer.Typer(help="Catalogs: list, show, validate, diff.", no_args_is_help=True)


@plans_app.command("list")
def list_catalogs() -> None:
    """List the built-in catalogs."""
    for name in builtin_names():
        typer.echo(name)
