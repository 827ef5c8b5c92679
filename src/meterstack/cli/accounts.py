"""``meterstack accounts …``: create an account, set a limit, change the plan."""

from __future__ import annotations

import typer

from meterstack.cli.audit import change_plan, set_limit
from meterstack.cli.metering import create_account

accounts_app = typer.Typer(
    help="Accounts: create, set a limit, change the plan.", no_args_is_help=True
)
accounts_app.command("create")(create_account)
accounts_app.command("set-limit")(set_limit)
accounts_app.command("change-plan")(change_plan)
