"""The engine a command opens: an unknown or broken catalog, or a database that cannot be
reached, ends the command with one ``error:`` line per problem and exit status 1, never a
traceback; so does a refusal or bad input inside the command's block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from meterstack.catalog import CatalogError
from meterstack.cli.options import fail
from meterstack.engine import Engine
from meterstack.errors import MeterstackError


def open_engine(database: str, catalog: str) -> Engine:
    return opened(lambda: Engine.open(database, catalog=catalog))


def opened(opening: Callable[[], Engine]) -> Engine:
    """The engine ``opening`` opens, or the command ends with one ``error:`` line per problem
    and exit status 1: an unknown or broken catalog, a database that cannot be reached."""
    try:
        return opening()
    except CatalogError as error:
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1) from None
    except MeterstackError as error:
        fail(error)


@contextmanager
def engine_for(database: str, catalog: str) -> Iterator[Engine]:
    """The engine for one command; a refusal or bad input inside the block ends the command
    with its message and exit status 1."""
    with open_engine(database, catalog) as engine:
        try:
            yield engine
        except MeterstackError as error:
            fail(error)
