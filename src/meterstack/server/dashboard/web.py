"""The browser's side of a session: cookies, the viewer of a page, and the forms' CSRF check.

The cookie holds only the session's opaque random id (``HttpOnly``, ``SameSite=Lax``, ``Secure``
when the request came over HTTPS or ``METERSTACK_DASHBOARD_COOKIE_SECURE`` says so), scoped to
its pages' path: the customer's to ``/dashboard``, the operator's to ``/console``, so that
neither reaches the JSON API. Every form carries its session's synchronizer token, checked on
every POST before the handler runs; a sign-in form, which has no session yet, carries a token
that must equal a cookie set with the form (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import FormData

from meterstack.engine import Engine
from meterstack.records.audit import Actor
from meterstack.server.auth import engine_of, settings_of
from meterstack.server.dashboard.rendering import CsrfRefusedError, SignInRequiredError
from meterstack.services.access import CUSTOMER, OPERATOR, StartedSession, WebSession

CUSTOMER_COOKIE = "meterstack_dashboard"
OPERATOR_COOKIE = "meterstack_console"
SIGN_IN_COOKIE = "meterstack_sign_in"
CUSTOMER_HOME = "/dashboard"
OPERATOR_HOME = "/console"


class DashboardSettings(BaseSettings):
    """The dashboard's own settings, from ``METERSTACK_DASHBOARD_…``."""

    model_config = SettingsConfigDict(env_prefix="METERSTACK_DASHBOARD_", extra="ignore")

    #: Mark cookies ``Secure`` even when the request arrived over plain HTTP (behind a proxy
    #: that ends TLS without saying so).
    cookie_secure: bool = False
    #: Who may show the pages in a frame (CSP ``frame-ancestors``): the platform's origin when it
    #: embeds them, e.g. ``'self' https://app.example.com``.
    frame_ancestors: str = "'self'"


def dashboard_settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings | None = getattr(request.app.state, "dashboard_settings", None)
    if settings is None:
        settings = DashboardSettings()
        request.app.state.dashboard_settings = settings
    return settings


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: the live session and the cookie that named it."""

    session: WebSession
    cookie: str
    engine: Engine
    frame_ancestors: str

    @property
    def account_id(self) -> str:
        assert self.session.account_id is not None
        return self.session.account_id

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this session's changes: the customer's dashboard
        session, or the operator through the console, each by a handle of the session (a hash
        of its cookie that reveals nothing of it)."""
        digest = hashlib.sha256(b"audit:" + self.cookie.encode()).hexdigest()[:16]
        if self.session.kind == CUSTOMER:
            return Actor("dashboard", f"session:{digest}")
        return Actor.operator(f"console:{digest}")


def _viewer(request: Request, kind: str) -> Viewer:
    engine = engine_of_sync(request)
    cookie_name, home = (
        (CUSTOMER_COOKIE, CUSTOMER_HOME) if kind == CUSTOMER else (OPERATOR_COOKIE, OPERATOR_HOME)
    )
    cookie = request.cookies.get(cookie_name, "")
    session = engine.access.session(cookie, operator_key=settings_of(request).operator_key)
    if session is None or session.kind != kind:
        raise SignInRequiredError(f"{home}/sign-in")
    return Viewer(session, cookie, engine, dashboard_settings(request).frame_ancestors)


def engine_of_sync(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def customer_viewer(request: Request) -> Viewer:
    return _viewer(request, CUSTOMER)


def operator_viewer(request: Request) -> Viewer:
    return _viewer(request, OPERATOR)


async def posted_form(request: Request) -> FormData:
    return await request.form()


def _checked(viewer: Viewer, form: FormData) -> FormData:
    token = form.get("csrf_token")
    if not viewer.session.accepts(token if isinstance(token, str) else None):
        raise CsrfRefusedError("the form's security token is missing or wrong; reload the page")
    return form


@dataclass(frozen=True)
class Posted:
    """A form of a live session whose CSRF token checked out."""

    viewer: Viewer
    form: FormData

    def text(self, name: str, *, default: str = "") -> str:
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default

    @property
    def actor(self) -> Actor:
        """The session's actor, with the reason the form gave (its ``reason`` field)."""
        return self.viewer.actor.because(self.text("reason") or None)


def customer_post(
    viewer: Annotated[Viewer, Depends(customer_viewer)],
    form: Annotated[FormData, Depends(posted_form)],
) -> Posted:
    return Posted(viewer, _checked(viewer, form))


def operator_post(
    viewer: Annotated[Viewer, Depends(operator_viewer)],
    form: Annotated[FormData, Depends(posted_form)],
) -> Posted:
    return Posted(viewer, _checked(viewer, form))


CustomerViewer = Annotated[Viewer, Depends(customer_viewer)]
OperatorViewer = Annotated[Viewer, Depends(operator_viewer)]
CustomerPost = Annotated[Posted, Depends(customer_post)]
OperatorPost = Annotated[Posted, Depends(operator_post)]
Form = Annotated[FormData, Depends(posted_form)]
EngineDep = Annotated[Engine, Depends(engine_of)]


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or dashboard_settings(request).cookie_secure


def set_session_cookie(
    response: Response, request: Request, started: StartedSession, kind: str
) -> None:
    name, path = (
        (CUSTOMER_COOKIE, CUSTOMER_HOME) if kind == CUSTOMER else (OPERATOR_COOKIE, OPERATOR_HOME)
    )
    response.set_cookie(
        name,
        started.cookie,
        max_age=int((started.session.expires_at - _now(request)).total_seconds()),
        path=path,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def clear_session_cookie(response: Response, request: Request, kind: str) -> None:
    name, path = (
        (CUSTOMER_COOKIE, CUSTOMER_HOME) if kind == CUSTOMER else (OPERATOR_COOKIE, OPERATOR_HOME)
    )
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=secure(request))


def _now(request: Request) -> datetime:
    return engine_of_sync(request).clock.now()


def sign_in_token(request: Request) -> str:
    """The sign-in form's token: the cookie's when the browser has one, else a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def set_sign_in_cookie(response: Response, request: Request, token: str, path: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path=path,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def check_sign_in_form(request: Request, form: FormData) -> None:
    """A sign-in form must carry the token its page set as a cookie (login CSRF)."""
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    given = form.get("csrf_token")
    if not (
        expected
        and isinstance(given, str)
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise CsrfRefusedError("the form's security token is missing or wrong; reload the page")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def local_path(target: str, home: str) -> str:
    """A ``next`` page to return to after sign-in: a path under ``home``, nothing else (no
    open redirect to another site)."""
    if target.startswith(home) and not target.startswith("//") and "\\" not in target:
        return target
    return home


__all__ = ["CUSTOMER", "OPERATOR"]
