"""Signing in and out: links the platform mints, its JWT, email and password, the operator key.

``POST /v1/accounts/{id}/dashboard-link`` (operator) answers a single-use link valid 10 minutes;
opening it signs the browser in and lands on the overview. A platform that embeds the pages
sends its user to ``/dashboard/embed?jwt=…`` (or with ``Authorization: Bearer <JWT>``), checked
with the API's JWT settings (D19). Every sign-in starts a new session and ends the browser's
previous one. A link is used by opening it (a GET, as a platform's redirect does), so the
answer strips it from the address bar and sends no referrer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from meterstack.errors import AuthenticationError, MeterstackError
from meterstack.server import auth
from meterstack.server.dashboard.rendering import PageRoute, error_page, render
from meterstack.server.dashboard.web import (
    CUSTOMER,
    CUSTOMER_COOKIE,
    CUSTOMER_HOME,
    OPERATOR,
    OPERATOR_COOKIE,
    OPERATOR_HOME,
    CustomerPost,
    EngineDep,
    Form,
    OperatorPost,
    Posted,
    check_sign_in_form,
    clear_session_cookie,
    client_address,
    dashboard_settings,
    local_path,
    set_session_cookie,
    set_sign_in_cookie,
    sign_in_token,
)
from meterstack.server.errors import ERROR_SCHEMA
from meterstack.services.access import StartedSession

LINK_PATH = "/dashboard/sign-in/link"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
api = APIRouter(prefix="/v1", responses=dict.fromkeys((401, 403, 404, 422, 503), ERROR_SCHEMA))


class DashboardLink(BaseModel):
    """A single-use sign-in link to the account's dashboard."""

    url: str
    expires_at: datetime


def link_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{LINK_PATH}?token={token}"


@api.post("/accounts/{account_id}/dashboard-link", status_code=201)
def dashboard_link(
    account_id: str, request: Request, _: auth.OperatorDep, engine: EngineDep
) -> DashboardLink:
    """A link that signs a browser in to the account's dashboard once, within 10 minutes."""
    link = engine.access.mint_link(account_id, actor=auth.operator_actor())
    base = auth.settings_of(request).public_url or str(request.base_url)
    return DashboardLink(url=link_url(base, link.token), expires_at=link.expires_at)


def _signed_in(request: Request, started: StartedSession, kind: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, started, kind)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(LINK_PATH)
def use_link(request: Request, engine: EngineDep, token: str = "") -> Response:
    started = engine.access.redeem_link(
        token, replacing=request.cookies.get(CUSTOMER_COOKIE) or None
    )
    return _signed_in(request, started, CUSTOMER, CUSTOMER_HOME)


@router.get("/dashboard/embed")
def embed(
    request: Request,
    credentials: auth.Credentials,
    engine: EngineDep,
    jwt: str = "",
    next: str = CUSTOMER_HOME,
) -> Response:
    """The platform's user, by its JWT in ``?jwt=`` or by ``Authorization: Bearer``."""
    if jwt:
        if jwt.count(".") != 2:
            raise AuthenticationError("jwt must be a JSON Web Token")
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=jwt)
    customer = auth.customer(request, credentials)
    started = engine.access.start_session(
        customer.account_id, replacing=request.cookies.get(CUSTOMER_COOKIE) or None
    )
    return _signed_in(request, started, CUSTOMER, local_path(next, CUSTOMER_HOME))


def _sign_in_form(
    request: Request, template: str, path: str, *, next_page: str, message: str | None = None
) -> HTMLResponse:
    token = sign_in_token(request)
    response = render(
        template,
        status=401 if message else 200,
        frame_ancestors=dashboard_settings(request).frame_ancestors,
        csrf_token=token,
        next_page=next_page,
        message=message,
    )
    set_sign_in_cookie(response, request, token, path)
    return response


@router.get("/dashboard/sign-in")
def sign_in_page(request: Request, next: str = CUSTOMER_HOME) -> HTMLResponse:
    return _sign_in_form(
        request, "sign_in.html", "/dashboard/sign-in", next_page=local_path(next, CUSTOMER_HOME)
    )


def _field(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Door:
    """A sign-in form: its kind of session, template, path and home."""

    kind: str
    template: str
    path: str
    home: str
    cookie: str


_CUSTOMER_DOOR = _Door(
    CUSTOMER, "sign_in.html", "/dashboard/sign-in", CUSTOMER_HOME, CUSTOMER_COOKIE
)
_OPERATOR_DOOR = _Door(
    OPERATOR, "console_sign_in.html", "/console/sign-in", OPERATOR_HOME, OPERATOR_COOKIE
)


def _attempt(
    request: Request, form: Form, door: _Door, start: Callable[[str | None], StartedSession]
) -> Response:
    """Check the form's token, try ``start`` (given the session to replace); a wrong credential
    shows the form again with the reason, any other refusal (429) its error page."""
    check_sign_in_form(request, form)
    next_page = local_path(_field(form, "next"), door.home)
    try:
        started = start(request.cookies.get(door.cookie) or None)
    except MeterstackError as refused:
        if refused.http_status != 401:
            return error_page(refused)
        return _sign_in_form(
            request, door.template, door.path, next_page=next_page, message=refused.message
        )
    return _signed_in(request, started, door.kind, next_page)


def _sign_out(request: Request, posted: Posted, door: _Door) -> Response:
    posted.viewer.engine.access.end_session(posted.viewer.cookie)
    response = RedirectResponse(door.path, status_code=303)
    clear_session_cookie(response, request, door.kind)
    return response


@router.post("/dashboard/sign-in")
def sign_in(request: Request, form: Form, engine: EngineDep) -> Response:
    """Email and password; attempts are counted per account and per address (429 past them)."""
    return _attempt(
        request,
        form,
        _CUSTOMER_DOOR,
        lambda replacing: engine.access.sign_in(
            _field(form, "email").strip(),
            _field(form, "password"),
            address=client_address(request),
            replacing=replacing,
        ),
    )


@router.post("/dashboard/sign-out")
def sign_out(request: Request, posted: CustomerPost) -> Response:
    return _sign_out(request, posted, _CUSTOMER_DOOR)


@router.get("/console/sign-in")
def console_sign_in_page(request: Request, next: str = OPERATOR_HOME) -> HTMLResponse:
    return _sign_in_form(
        request,
        "console_sign_in.html",
        "/console/sign-in",
        next_page=local_path(next, OPERATOR_HOME),
    )


@router.post("/console/sign-in")
def console_sign_in(request: Request, form: Form, engine: EngineDep) -> Response:
    """The operator key; attempts are counted per address."""
    return _attempt(
        request,
        form,
        _OPERATOR_DOOR,
        lambda replacing: engine.access.operator_sign_in(
            _field(form, "key").strip(),
            auth.settings_of(request).operator_key,
            address=client_address(request),
            replacing=replacing,
        ),
    )


@router.post("/console/sign-out")
def console_sign_out(request: Request, posted: OperatorPost) -> Response:
    return _sign_out(request, posted, _OPERATOR_DOOR)


@router.get("/")
def front() -> Response:
    return RedirectResponse(CUSTOMER_HOME, status_code=303)
