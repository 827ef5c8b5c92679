"""The ``meterstack`` command line: one typer app, one sub-app per domain.

The commands are a table (``meterstack.cli.lazy``): ``meterstack --help`` lists them from it,
and a command's module, with the engine, the database or the web service it imports, is loaded
only when that command runs.
"""

from __future__ import annotations

import typer

from meterstack.cli.lazy import Lazy, LazyGroup

_METERING = "meterstack.cli.metering"


#: Every command of ``meterstack``, in the order ``--help`` lists them.
COMMANDS = {
    "consume": Lazy(
        _METERING,
        "consume",
        "Record usage; prints the decision as JSON and exits 2 when it is refused.",
    ),
    "usage": Lazy(
        _METERING,
        "usage",
        "Show every meter and resource of an account: used, limit, remaining.",
    ),
    "purge-keys": Lazy(
        _METERING,
        "purge_keys",
        "Delete idempotency keys older than the retention (D7); run it daily.",
    ),
    "prune-history": Lazy(
        "meterstack.cli.history",
        "prune_history",
        "Delete usage-history buckets older than the horizon; run it daily.",
    ),
    "serve": Lazy(
        "meterstack.cli.serve",
        "serve",
        "Serve the REST API: the customer endpoints, /v1 for the operator, the local pages.",
    ),
    "audit": Lazy(
        "meterstack.cli.audit",
        "audit",
        "Billing changes newest first: when, what, who, why, before and after.",
    ),
    "plans": Lazy("meterstack.cli.plans", "plans_app", "Catalogs: list, show, validate, diff."),
    "accounts": Lazy(
        "meterstack.cli.accounts",
        "accounts_app",
        "Accounts: create, set a limit, change the plan.",
    ),
    "resources": Lazy(
        "meterstack.cli.resources", "resources_app", "Counted objects: create, list, delete."
    ),
    "gauges": Lazy(
        "meterstack.cli.resources", "gauges_app", "Stored quantities: set, adjust, show."
    ),
    "keys": Lazy("meterstack.cli.keys", "keys_app", "API keys: create, list, revoke."),
    "invoices": Lazy("meterstack.cli.invoices", "invoices_app", "Invoices: list, show, pdf."),
    "period": Lazy("meterstack.cli.invoices", "period_app", "Usage periods: close."),
    "webhooks": Lazy(
        "meterstack.cli.webhooks",
        "webhooks_app",
        "Outgoing webhooks: endpoints, events, deliveries, the delivery worker.",
    ),
    "wallet": Lazy(
        "meterstack.cli.wallet",
        "wallet_app",
        "The prepaid wallet: show, charge, deposit, transactions.",
    ),
    "alerts": Lazy(
        "meterstack.cli.alerts",
        "alerts_app",
        "Alerts and the budget guard: list, add, delete, budget.",
    ),
    "payouts": Lazy(
        "meterstack.cli.wallet",
        "payouts_app",
        "Marketplace payouts: pay creators their earnings (D23).",
    ),
    "collections": Lazy(
        "meterstack.cli.collections",
        "collections_app",
        "Invoice collection and dunning: run the runner, list, retry.",
    ),
}


class Commands(LazyGroup):
    table = COMMANDS


def _meterstack() -> None:
    """Every command is a subcommand: the app itself does nothing."""


app = typer.Typer(
    cls=Commands,
    name="meterstack",
    help="Plans-as-code billing, usage metering and real-time quota enforcement.",
    callback=_meterstack,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    app()
