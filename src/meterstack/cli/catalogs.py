"""``meterstack plans list|show|validate|diff``: the catalog commands, which read catalog files
and open no database.

CATALOG arguments are a built-in catalog name (``agentstack``) or a path to a catalog file.
Problems go to standard error with the file, line and dotted path of the field, and the exit
status is 1; warnings are printed with the output and leave the exit status at 0.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from meterstack.catalog import (
    CatalogError,
    LintWarning,
    LoadedCatalog,
    builtin_names,
    diff_catalogs,
    lint_catalog,
    load_catalog,
)
from meterstack.catalog.render import (
    catalogs_table,
    diff_table,
    packs_table,
    plans_table,
    wallet_table,
)
from meterstack.rules.examples import evaluate_examples

#: Tables written to a pipe or a file get this width, so that the output is the same everywhere.
PIPED_WIDTH = 160

CatalogArgument = Annotated[
    str, typer.Argument(metavar="CATALOG", help="A built-in catalog name or a catalog file.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Width = Annotated[
    int | None,
    typer.Option(
        "--width",
        min=40,
        help=f"Table width; the terminal's by default, {PIPED_WIDTH} when not a terminal.",
    ),
]


def _console(width: int | None) -> Console:
    """Colours on a terminal only; a fixed width elsewhere, so that piped output is stable."""
    terminal = sys.stdout.isatty()
    return Console(
        width=width or (None if terminal else PIPED_WIDTH),
        color_system="auto" if terminal else None,
        highlight=False,
        emoji=False,
    )


def _load(name_or_path: str) -> LoadedCatalog:
    try:
        return load_catalog(name_or_path)
    except CatalogError as error:
        _fail(error)


def _fail(error: CatalogError) -> NoReturn:
    """One ``error:`` line per problem and exit status 1, as every other command ends; a count
    of the problems follows only when there are several to count."""
    for problem in error.problems:
        typer.echo(f"error: {problem}", err=True)
    if len(error.problems) > 1:
        typer.echo(f"{len(error.problems)} problems; the catalog cannot be used", err=True)
    raise typer.Exit(1)


def _print(console: Console, *tables: Table | None) -> None:
    with console.capture() as captured:
        for table in tables:
            if table is not None:
                console.print(table)
    text = captured.get()
    if not sys.stdout.isatty():
        # Plain text for files and pipes: no padding at the ends of lines.
        text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    sys.stdout.write(text)


def list_catalogs(width: Width = None) -> None:
    """List the built-in catalogs."""
    catalogs = [(name, load_catalog(name)) for name in builtin_names()]
    _print(_console(width), catalogs_table(catalogs))


def show(catalog: CatalogArgument, as_json: AsJson = False, width: Width = None) -> None:
    """Show a catalog's plans side by side, with its packs and wallet operations."""
    loaded = _load(catalog)
    if as_json:
        typer.echo(json.dumps(loaded.catalog.model_dump(mode="json"), indent=2))
        return
    _print(
        _console(width),
        plans_table(loaded),
        packs_table(loaded.catalog),
        wallet_table(loaded.catalog),
    )


def validate(catalog: CatalogArgument) -> None:
    """Check a catalog: errors exit 1; warnings and the worked examples' results exit 0."""
    loaded = _load(catalog)
    warnings = [*lint_catalog(loaded), *_example_warnings(loaded)]
    for warning in sorted(warnings, key=lambda w: (w.line is None, w.line or 0)):
        typer.echo(f"warning: {warning} [{warning.code}]")
    parsed = loaded.catalog
    parts = [_count(len(parsed.plans), "plan"), _count(len(parsed.items), "item")]
    if parsed.packs:
        parts.append(_count(len(parsed.packs), "pack"))
    if parsed.examples:
        wrong = sum(1 for warning in warnings if warning.code == "example_mismatch")
        examples = _count(len(parsed.examples), "example")
        parts.append(f"{examples} ({len(parsed.examples) - wrong} reproduced)")
    typer.echo(f"{loaded.source}: valid, {', '.join(parts)}; {_count(len(warnings), 'warning')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _example_warnings(loaded: LoadedCatalog) -> list[LintWarning]:
    """A worked example the catalog does not reproduce (C9, D18)."""
    return [
        LintWarning(
            loaded.source,
            loaded.line_of(("examples", result.index)),
            f"examples.{result.index}",
            f"{result.name}: {result.message}",
            "example_mismatch",
        )
        for result in evaluate_examples(loaded.catalog)
        if not result.ok
    ]


def diff(
    old: Annotated[
        str, typer.Argument(metavar="OLD", help="The catalog before: a built-in name or a file.")
    ],
    new: Annotated[
        str, typer.Argument(metavar="NEW", help="The catalog after: a built-in name or a file.")
    ],
    as_json: AsJson = False,
    width: Width = None,
) -> None:
    """Prices, limits and terms that changed, each stricter or looser for customers."""
    before, after = _load(old), _load(new)
    changes = diff_catalogs(before.catalog, after.catalog)
    if as_json:
        body = {
            "old": {"catalog": before.catalog.catalog, "version": before.catalog.version},
            "new": {"catalog": after.catalog.catalog, "version": after.catalog.version},
            "changes": [change.to_dict() for change in changes],
        }
        typer.echo(json.dumps(body, indent=2))
        return
    if not changes:
        typer.echo("No price, limit or term changed.")
        return
    _print(_console(width), diff_table(changes, before.catalog, after.catalog))
    counts = {
        direction: sum(1 for change in changes if change.direction == direction)
        for direction in ("stricter", "looser", "changed")
    }
    typer.echo(
        f"{_count(len(changes), 'change')}: {counts['stricter']} stricter and "
        f"{counts['looser']} looser for customers, {counts['changed']} neither"
    )
