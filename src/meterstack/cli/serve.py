"""``meterstack serve``: the HTTP service (and dashboard pages) on uvicorn.

With ``--workers N`` uvicorn runs N processes on one socket; each opens its own engine on the
same database from the ``METERSTACK_…`` environment, which this command completes first (the
operator key it generated, the public URL), so that every worker accepts the same key and signs
portal links the same way.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from typing import Annotated, Literal

import typer
import uvicorn

from meterstack.cli.opening import opened
from meterstack.cli.options import CatalogName, Database, cli_actor
from meterstack.clock import TestModeClock
from meterstack.defaults import DEFAULT_CATALOG, DEFAULT_DATABASE_URL
from meterstack.engine import Engine
from meterstack.server import create_app, open_engine, settle_memory, uvicorn_options
from meterstack.server.dashboard import link_url
from meterstack.server.settings import ServerSettings


class PaymentsChoice(StrEnum):
    local = "local"
    stripe = "stripe"
    none = "none"


def serve(
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes serving requests, each with its own engine.")
    ] = 1,
    demo: Annotated[
        bool, typer.Option(help="Create a demo account and print its keys and example curls.")
    ] = False,
    test_mode: Annotated[
        bool, typer.Option(help="Start a manual clock that POST /v1/clock moves (tests only).")
    ] = False,
    payments: Annotated[
        PaymentsChoice | None,
        typer.Option(
            help="The payment provider: 'local' serves a pay page that anyone holding a "
            "checkout's URL can use (development only); 'stripe' takes payments on Stripe "
            "(STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET; docs/payments.md); without one (the "
            "default, or METERSTACK_PAYMENTS) checkouts answer 503 payments_not_configured."
        ),
    ] = None,
) -> None:
    """Serve the REST API: the customer endpoints, /v1 for the operator, the local pages."""
    if test_mode and workers > 1:
        # Each process would have its own manual clock, and a request would move only one.
        typer.echo("error: --test-mode needs a single worker (one clock)", err=True)
        raise typer.Exit(1)
    settings = ServerSettings(database_url=database, catalog=catalog, host=host, port=port)
    if payments is not None:
        chosen: dict[PaymentsChoice, Literal["local", "stripe"]] = {
            PaymentsChoice.local: "local",
            PaymentsChoice.stripe: "stripe",
        }
        settings.payments = chosen.get(payments)
    if settings.operator_key is None:
        settings.operator_key = secrets.token_urlsafe(24)
        typer.echo(f"operator key (METERSTACK_OPERATOR_KEY was not set): {settings.operator_key}")
    if settings.public_url is None:
        settings.public_url = f"http://{host}:{port}"
    clock = TestModeClock() if test_mode else None
    engine = opened(lambda: open_engine(settings, clock))
    if settings.payments is None:
        typer.echo("payments: none configured (checkouts answer 503; --payments local for dev)")
    if demo:
        _demo(engine, settings)
    options = uvicorn_options(host=host, port=port)
    if workers == 1:
        app = create_app(engine, settings)
        settle_memory()
        uvicorn.run(app, **options)
        return
    engine.close()  # it migrated the store and made the demo; each worker opens its own
    os.environ.update(
        METERSTACK_DATABASE_URL=database,
        METERSTACK_CATALOG=catalog,
        METERSTACK_OPERATOR_KEY=settings.operator_key,
        METERSTACK_PUBLIC_URL=settings.public_url,
    )
    if settings.payments is None:  # --payments none wins over the environment
        os.environ.pop("METERSTACK_PAYMENTS", None)
    else:
        os.environ["METERSTACK_PAYMENTS"] = settings.payments
    # A worker answers the supervisor's ping only once it has imported the service; on a busy
    # machine that takes longer than uvicorn's 5 s, and the supervisor killed and respawned
    # every worker forever.
    uvicorn.run(
        "meterstack.server:app_from_environment",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=60,
        **options,
    )


def _demo(engine: Engine, settings: ServerSettings) -> None:
    plan = "starter" if "starter" in engine.catalog.plan_ids else engine.catalog.plan_ids[-1]
    account = engine.create_account(plan=plan)
    key = engine.create_api_key(account.id)
    meter = next(iter(engine.catalog.meters))
    engine.consume(account.id, meter, 42)
    base = settings.public_url
    typer.echo(
        f"\ndemo account {account.id} on {plan} ({engine.catalog.name})\n"
        f"customer key: {key.key}\n\n"
        f'  curl -H "Authorization: Bearer {key.key}" {base}/api/billing/usage\n'
        f'  curl -H "Authorization: Bearer {settings.operator_key}" -X POST '
        f"{base}/v1/accounts/{account.id}/consume -H 'Content-Type: application/json' "
        f'-d \'{{"meter": "{meter}", "quantity": 1}}\'\n'
        f"  open {base}/docs\n"
    )
    # A single-use link (10 minutes) that signs the browser in to the demo account's dashboard.
    link = engine.access.mint_link(account.id, actor=cli_actor())
    typer.echo(f"dashboard (signed in, once): {link_url(base or '', link.token)}\n")
