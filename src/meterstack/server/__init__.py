"""The HTTP service: the seeds' customer endpoints, the operator API, the local provider's pages.

``create_app(engine, settings)`` builds the FastAPI application around one engine; ``meterstack
serve`` runs it on uvicorn with :func:`uvicorn_config`. With ``--workers N`` each worker process
builds its own with :func:`app_from_environment`, from the same ``METERSTACK_…`` environment.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from meterstack import __version__
from meterstack.clock import Clock
from meterstack.engine import Engine
from meterstack.records.payments import PaymentProvider, ProviderSetup
from meterstack.server import (
    alerts,
    audit,
    collections,
    customer,
    dashboard,
    entitlements,
    errors,
    history,
    money,
    operator,
    operator_accounts,
    pages,
    self_service,
    stripe_webhooks,
    wallet,
    webhooks,
)
from meterstack.server.consume import lane_match, serve_consume
from meterstack.server.consume_queue import ConsumeQueue
from meterstack.server.deadline import DeadlineH11Protocol
from meterstack.server.health import StoreProbe
from meterstack.server.logs import redact_access_log
from meterstack.server.openapi import refine
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider
from meterstack.services.payments.stripe_client import StripeSettings
from meterstack.services.payments.stripe_provider import StripeAccount


class MeterstackApp(FastAPI):
    """The FastAPI application with the consume lane in front (:mod:`.consume`).

    ``consume_lane = False`` sends every request through FastAPI (the lane's tests compare).
    """

    consume_lane = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            # No id holds a NUL character, and the store could not keep one: refused before
            # any route (the dashboard's and the provider's pages included) sees it.
            response = errors.error_response(
                422, "invalid_input", "the address holds a NUL character, which is not accepted"
            )
            await response(scope, receive, send)
            return
        account = lane_match(scope) if self.consume_lane else None
        if account is None:
            await super().__call__(scope, receive, send)
        else:
            await serve_consume(self, account, scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The document, with what the running service accepts filled in (:mod:`.openapi`)."""
        if self.openapi_schema is None:
            engine: Engine = self.state.engine
            self.openapi_schema = refine(
                super().openapi(), engine.catalog, engine.return_url_origins
            )
        return self.openapi_schema


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.consume_queue.close()  # idle by now: the server has drained
    app.state.store_probe.close()


def create_app(engine: Engine, settings: ServerSettings | None = None) -> MeterstackApp:
    app = MeterstackApp(
        lifespan=_lifespan,
        title="meterstack",
        version=__version__,
        description="Plans-as-code billing, usage metering and quota enforcement.",
    )
    app.state.engine = engine
    app.state.settings = settings or ServerSettings()
    app.state.consume_queue = ConsumeQueue(engine)
    errors.install(app)
    redact_access_log()
    app.include_router(customer.router)
    app.include_router(self_service.router)
    app.include_router(operator.router)
    app.include_router(operator_accounts.router)
    app.include_router(entitlements.router)
    app.include_router(pages.router)
    app.include_router(webhooks.router)
    app.include_router(stripe_webhooks.router)
    app.include_router(dashboard.router)
    app.include_router(history.router)
    app.include_router(wallet.customer_router)
    app.include_router(wallet.operator_router)
    app.include_router(money.router)
    app.include_router(collections.router)
    app.include_router(audit.router)
    app.include_router(alerts.customer_router)
    app.include_router(alerts.operator_router)

    probe = StoreProbe(engine)
    app.state.store_probe = probe

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        # Its own bounded probe, on a thread of its own: it answers within a second even when
        # every request thread waits for a database that stopped answering.
        available = await probe.available()
        body = {
            "status": "ok" if available else "unavailable",
            "backend": engine.backend,
            "store": "ok" if available else "unavailable",
        }
        return JSONResponse(body, status_code=200 if available else 503)

    return app


def provider_of(settings: ServerSettings) -> PaymentProvider | ProviderSetup | None:
    """The provider the settings ask for; None when none is configured. Stripe's account is
    read from ``STRIPE_API_KEY``, ``STRIPE_WEBHOOK_SECRET`` and ``STRIPE_API_BASE``."""
    if settings.payments == "stripe":
        assert settings.public_url is not None, "Stripe's pages return the buyer to public_url"
        return StripeAccount(StripeSettings.from_environment(), return_url=settings.public_url)
    if settings.payments != "local":
        return None
    assert settings.public_url is not None
    assert settings.operator_key is not None
    # Checkout and portal links are signed with a secret derived from the operator key, so
    # that they survive a restart and every worker signs the same way.
    secret = hashlib.sha256(f"portal:{settings.operator_key}".encode()).hexdigest()
    lifetime = timedelta(seconds=settings.portal_link_seconds)
    return LocalProvider(settings.public_url, secret=secret, portal_lifetime=lifetime)


def open_engine(settings: ServerSettings, clock: Clock | None = None) -> Engine:
    """The service's engine: its store, its catalog, the payment provider the settings ask
    for, and the origins checkout return URLs may point to (D30); its webhook worker (D28) and
    its collection runner (D29) run in the background while the service does."""
    origins = (settings.public_url, *settings.return_url_origins)
    engine = Engine.open(
        settings.database_url,
        catalog=settings.catalog,
        clock=clock,
        provider=provider_of(settings),
        return_url_origins=[origin for origin in origins if origin],
        store_timeout=settings.store_timeout,
    )
    engine.webhooks.start_background()
    engine.collections.start_background()
    return engine


def app_from_environment() -> FastAPI:
    """The application of one worker process of ``meterstack serve --workers N``."""
    settings = ServerSettings()
    app = create_app(open_engine(settings), settings)
    settle_memory()
    return app


def settle_memory() -> None:
    """Before serving: collect once, then exempt every object built so far from the collector.

    The service's modules and catalog leave about 160,000 long-lived objects; each full
    collection walked all of them, a pause of tens of milliseconds in the middle of requests.
    Frozen (``gc.freeze``), they are never walked again; what requests create is collected as
    usual.
    """
    gc.collect()
    gc.freeze()


def uvicorn_options(*, host: str, port: int) -> dict[str, Any]:
    """How meterstack is served (``uvicorn.Config``'s arguments): access log off (it costs every
    request a log record), and uvicorn's HTTP protocol with a deadline for receiving each
    request, so that slow clients are disconnected (:mod:`meterstack.server.deadline`)."""
    return {
        "host": host,
        "port": port,
        "http": DeadlineH11Protocol,
        "access_log": False,
        "log_level": "info",
    }
