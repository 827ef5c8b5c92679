"""``meterstack plans …``: list, show, validate and diff catalogs; migrate accounts.

CATALOG arguments are a built-in catalog name (``agentstack``) or a path to a catalog file.
Problems go to standard error with the file, line and dotted path of the field, and the exit
status is 1; warnings are printed with the output and leave the exit status at 0. The catalog
commands (``meterstack.cli.catalogs``) read files only; ``migrate`` opens the engine, so it is
loaded only when it runs.
"""

from __future__ import annotations

import typer

from meterstack.cli.lazy import Lazy, LazyGroup

_CATALOGS = "meterstack.cli.catalogs"


#: The commands of ``meterstack plans``.
PLANS = {
    "list": Lazy(_CATALOGS, "list_catalogs", "List the built-in catalogs."),
    "show": Lazy(
        _CATALOGS,
        "show",
        "Show a catalog's plans side by side, with its packs and wallet operations.",
    ),
    "validate": Lazy(
        _CATALOGS,
        "validate",
        "Check a catalog: errors exit 1; warnings and the worked examples' results exit 0.",
    ),
    "diff": Lazy(
        _CATALOGS,
        "diff",
        "Prices, limits and terms that changed, each stricter or looser for customers.",
    ),
    "migrate": Lazy(
        "meterstack.cli.migrate",
        "migrate",
        "Show (then, with --apply, move) accounts still on an older version of CATALOG.",
    ),
}


class PlansGroup(LazyGroup):
    table = PLANS


plans_app = typer.Typer(
    cls=PlansGroup, help="Catalogs: list, show, validate, diff.", no_args_is_help=True
)
