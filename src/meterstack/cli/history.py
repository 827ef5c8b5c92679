"""``meterstack prune-history``: usage-history buckets past the operator's horizon go (D27).

History is kept forever unless the operator sets a horizon (``--keep-days``, or
``METERSTACK_HISTORY_KEEP_DAYS``); a customer reads it only within the plan's analytics
retention either way (D9). The prune runs in windows of rows, as ``purge-keys`` does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from meterstack.cli.opening import engine_for
from meterstack.cli.options import CatalogName, Database
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL


def prune_history(
    keep_days: Annotated[
        int | None,
        typer.Option(
            "--keep-days",
            envvar="METERSTACK_HISTORY_KEEP_DAYS",
            min=1,
            help="Keep buckets that started within this many days; without it nothing goes.",
            show_default=False,
        ),
    ] = None,
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
    window: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rows examined per transaction (the engine's default when absent).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Delete usage-history buckets older than the horizon; run it daily."""
    if keep_days is None:
        typer.echo("no history horizon is set (--keep-days): every bucket is kept")
        return
    with engine_for(database, catalog) as engine:
        keep = timedelta(days=keep_days)
        if window is None:
            pruned = engine.history.prune(keep)
        else:
            pruned = engine.history.prune(keep, window=window)
    typer.echo(f"{pruned} usage-history buckets older than {keep_days} days deleted")
