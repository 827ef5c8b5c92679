"""The HTTP service: the seeds' customer endpoints, the operator API, the local provider's pages.

``create_app(engine, settings)`` builds the FastAPI application around one engine; ``meterstack
serve`` runs it on uvicorn.
"""

from __future__ import annotations

from fastapi import FastAPI

from meterstack import __version__
from meterstack.engine import Engine
from meterstack.server import (
    customer,
    dashboard,
    entitlements,
    errors,
    operator,
    pages,
    self_service,
    webhooks,
)
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
    app.include_router(self_service.router)
    app.include_router(operator.router)
    app.include_router(entitlements.router)
    app.include_router(pages.router)
    app.include_router(webhooks.router)
    app.include_router(dashboard.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "backend": engine.backend}

    return app
