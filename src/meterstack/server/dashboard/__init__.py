"""The web dashboard: a customer's billing pages (``/dashboard``) and the operator's console
(``/console``), server-rendered HTML.

It is part of the HTTP door (``server/``): it reuses the service's settings, its JWT check and
its engine, and like every door it only calls the engine's public surface and renders what comes
back; a number a page needs that the engine does not give belongs in a service. Pages are Jinja2
templates shipped with the package; they work without JavaScript, and the one small script of
this package only improves them (dates in the viewer's locale).
"""

from __future__ import annotations

from fastapi import APIRouter

from meterstack.server.dashboard import assets, billing, console, signin
from meterstack.server.dashboard.signin import link_url

router = APIRouter()
router.include_router(signin.api)
router.include_router(signin.router)
router.include_router(assets.router)
router.include_router(billing.router)
router.include_router(console.router)

__all__ = ["link_url", "router"]
