"""The ``meterstack`` command line: one typer app, one sub-app per domain."""

from __future__ import annotations

import typer

from meterstack.cli import audit, metering
from meterstack.cli.alerts import alerts_app
from meterstack.cli.collections import collections_app
from meterstack.cli.history import prune_history
from meterstack.cli.invoices import invoices_app, period_app
from meterstack.cli.keys import keys_app
from meterstack.cli.plans import plans_app
from meterstack.cli.resources import gauges_app, resources_app
from meterstack.cli.serve import serve
from meterstack.cli.wallet import payouts_app, wallet_app
from meterstack.cli.webhooks import webhooks_app

app = typer.Typer(
    name="meterstack",
    help="Plans-as-code billing, usage metering and real-time quota enforcement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(plans_app, name="plans")
accounts_app = typer.Typer(
    help="Accounts: create, set a limit, change the plan.", no_args_is_help=True
)
accounts_app.command("create")(metering.create_account)
accounts_app.command("set-limit")(audit.set_limit)
accounts_app.command("change-plan")(audit.change_plan)
app.add_typer(accounts_app, name="accounts")
app.command("consume")(metering.consume)
app.add_typer(resources_app, name="resources")
app.add_typer(gauges_app, name="gauges")
app.add_typer(keys_app, name="keys")
app.add_typer(invoices_app, name="invoices")
app.add_typer(period_app, name="period")
app.command("usage")(metering.usage)
app.command("purge-keys")(metering.purge_keys)
app.command("prune-history")(prune_history)
app.command("serve")(serve)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(wallet_app, name="wallet")
app.add_typer(alerts_app, name="alerts")
app.add_typer(payouts_app, name="payouts")
app.add_typer(collections_app, name="collections")
app.command("audit")(audit.audit)


def main() -> None:
    app()
