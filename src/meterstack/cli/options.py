"""What every command shares: the ``--database`` and ``--catalog`` options, ``--json``,
``--reason``, the operator the audit log names, and the one ``error:`` line a failure prints.

Every command that opens the engine takes ``--database`` and ``--catalog``, falling back to
``METERSTACK_DATABASE_URL`` and ``METERSTACK_CATALOG``, then to ``sqlite:///./meterstack.db``
and ``agentstack``. Nothing here loads the engine: the catalog commands use it too.
"""

from __future__ import annotations

import getpass
from typing import Annotated, NoReturn

import typer

from meterstack.errors import MeterstackError
from meterstack.records.audit import Actor

Database = Annotated[
    str,
    typer.Option(
        "--database",
        envvar="METERSTACK_DATABASE_URL",
        help="sqlite:///path, postgresql://… or a file path.",
    ),
]
CatalogName = Annotated[
    str,
    typer.Option(
        "--catalog", envvar="METERSTACK_CATALOG", help="A built-in catalog name or a file path."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Reason = Annotated[str | None, typer.Option(help="Why: kept with the change in the audit log.")]


def cli_actor(reason: str | None = None) -> Actor:
    """The operator at this command line, as the audit log names them (``cli:<login>``)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment
        login = ""
    return Actor.operator(f"cli:{login}" if login else "cli", reason)


def fail(error: MeterstackError) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(1)
