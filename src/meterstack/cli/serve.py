"""``meterstack serve``: the HTTP service (and dashboard pages) on uvicorn."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from meterstack.cli.metering import CatalogName, Database
from meterstack.clock import ManualClock
from meterstack.engine import DEFAULT_CATALOG, DEFAULT_DATABASE_URL, Engine
from meterstack.payments.local import LocalProvider
from meterstack.payments.port import PaymentProvider
from meterstack.server.settings import ServerSettings


class PaymentsChoice(StrEnum):
    local = "local"
    none = "none"


def serve(
    database: Database = DEFAULT_DATABASE_URL,
    catalog: CatalogName = DEFAULT_CATALOG,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
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
            "checkout's URL can use (development only); without one (the default, or "
            "METERSTACK_PAYMENTS) checkouts answer 503 payments_not_configured."
        ),
    ] = None,
) -> None:
    """Serve the REST API: the customer endpoints, /v1 for the operator, the local pages."""
    import uvicorn

    from meterstack.server import create_app

    settings = ServerSettings(database_url=database, catalog=catalog, host=host, port=port)
    if payments is not None:
        settings.payments = None if payments is PaymentsChoice.none else "local"
    if settings.operator_key is None:
        settings.operator_key = secrets.token_urlsafe(24)
        typer.echo(f"operator key (METERSTACK_OPERATOR_KEY was not set): {settings.operator_key}")
    if settings.public_url is None:
        settings.public_url = f"http://{host}:{port}"
    clock = ManualClock(datetime.now(UTC)) if test_mode else None
    engine = Engine.open(
        database,
        catalog=catalog,
        clock=clock,
        provider=provider_of(settings),
        return_url_origins=(settings.public_url, *settings.return_url_origins),
    )
    if settings.payments is None:
        typer.echo("payments: none configured (checkouts answer 503; --payments local for dev)")
    engine.webhooks.start_background()  # delivers webhooks while the service runs (D28)
    if demo:
        _demo(engine, settings)
    uvicorn.run(create_app(engine, settings), host=host, port=port, log_level="info")


def provider_of(settings: ServerSettings) -> PaymentProvider | None:
    """The provider the settings ask for; None when none is configured."""
    if settings.payments != "local":
        return None
    assert settings.public_url is not None
    assert settings.operator_key is not None
    # Checkout and portal links are signed with a secret derived from the operator key, so
    # that they survive a restart.
    secret = hashlib.sha256(f"portal:{settings.operator_key}".encode()).hexdigest()
    return LocalProvider(settings.public_url, secret=secret)


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
    from meterstack.server.dashboard import link_url

    # A single-use link (10 minutes) that signs the browser in to the demo account's dashboard.
    link = engine.access.mint_link(account.id)
    typer.echo(f"dashboard (signed in, once): {link_url(base or '', link.token)}\n")
