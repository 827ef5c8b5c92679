"""The HTTP service: the seeds' customer endpoints, the operator API, the local provider's pages.

``create_app(engine, settings)`` builds the FastAPI application around one engine; ``meterstack
serve`` runs it on uvicorn with :func:`uvicorn_config`. With ``--workers N`` each worker process
builds its own with :func:`app_from_environment`, from the same ``METERSTACK_…`` environment.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI

from meterstack import __version__
from meterstack.clock import Clock
from meterstack.engine import Engine
from meterstack.payments.local import LocalProvider
from meterstack.server import customer, errors, operator, pages
from meterstack.server.deadline import DeadlineH11Protocol
from meterstack.server.settings import ServerSettings


def create_app(engine: Engine, settings: ServerSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="meterstack",
        version=__version__,
        description="Plans-as-code billing, usage metering and quota enforcement.",
    )
    app.state.engine = engine
    app.state.settings = settings or ServerSettings()
    app.state.signups = customer.SignupWindow()
    errors.install(app)
    app.include_router(customer.router)
    app.include_router(operator.router)
    app.include_router(pages.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "backend": engine.backend}

    return app


def open_engine(settings: ServerSettings, clock: Clock | None = None) -> Engine:
    """The service's engine: its store, its catalog, and the local provider's pages served at
    the public URL, their links signed with a secret derived from the operator key (so that
    every worker and every restart signs the same way)."""
    secret = hashlib.sha256(f"portal:{settings.operator_key}".encode()).hexdigest()
    provider = LocalProvider(settings.public_url or "", secret=secret)
    return Engine.open(
        settings.database_url, catalog=settings.catalog, clock=clock, provider=provider
    )


def app_from_environment() -> FastAPI:
    """The application of one worker process of ``meterstack serve --workers N``."""
    settings = ServerSettings()
    return create_app(open_engine(settings), settings)


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
