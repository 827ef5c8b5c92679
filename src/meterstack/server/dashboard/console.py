"""The operator console under ``/console``: accounts (search, filters), an account's picture and
its levers (wallet adjustments among them), the catalog's plans, invoices, the period close with
its progress, webhook deliveries. Routes only; the engine calls are in :mod:`.console_views`
and :mod:`.close_run`."""

from __future__ import annotations

import threading
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterstack.errors import InvalidInputError
from meterstack.server.dashboard import console_views as views
from meterstack.server.dashboard.close_run import PeriodCloses
from meterstack.server.dashboard.pages import act, operator_page, page_number, pdf_response
from meterstack.server.dashboard.rendering import PageRoute
from meterstack.server.dashboard.signin import link_url
from meterstack.server.dashboard.web import OperatorPost, OperatorViewer, Posted, Viewer
from meterstack.server.settings import ServerSettings
from meterstack.services.directory import ACCOUNT_STATUSES

router = APIRouter(prefix="/console", route_class=PageRoute, include_in_schema=False)


@router.get("")
def accounts(
    viewer: OperatorViewer, q: str = "", plan: str = "", status: str = "", page: str = "1"
) -> HTMLResponse:
    listed = views.accounts(
        viewer.engine, query=q, plan=plan, status=status, page=page_number(page)
    )
    return operator_page(
        viewer,
        "console_accounts.html",
        "/console",
        listing=listed,
        query=q,
        plan=plan,
        status_filter=status,
        statuses=ACCOUNT_STATUSES,
        plans=viewer.engine.catalog.plans,
    )


def _account_path(account_id: str) -> str:
    return f"/console/accounts/{quote(account_id, safe='')}"


@router.get("/accounts/{account_id}")
def account(viewer: OperatorViewer, account_id: str, audit_before: str = "") -> HTMLResponse:
    picture = views.account(viewer.engine, account_id)
    audit = views.audit_trail(viewer.engine, account_id, audit_before)
    return operator_page(viewer, "console_account.html", "/console", picture=picture, audit=audit)


def _lever(posted: Posted, account_id: str) -> str:
    engine, lever, actor = posted.viewer.engine, posted.text("lever"), posted.actor
    if lever == "limit":
        return views.set_limit(
            engine,
            account_id,
            posted.text("item"),
            posted.text("limit"),
            posted.text("grace"),
            actor=actor,
        )
    if lever == "clear_limit":
        return views.clear_limit(engine, account_id, posted.text("item"), actor=actor)
    if lever == "plan":
        return views.change_plan(
            engine, account_id, posted.text("plan"), posted.text("interval") or None, actor=actor
        )
    if lever == "pack":
        return views.grant_pack(engine, account_id, posted.text("pack"), actor=actor)
    if lever == "wallet":
        return views.adjust_wallet(
            engine, account_id, posted.text("amount"), posted.text("reason"), actor=actor
        )
    if lever == "overage":
        enabled = posted.text("enabled")
        if enabled not in {"on", "off"}:
            raise InvalidInputError(f"enabled must be 'on' or 'off', got {enabled!r}")
        return views.set_overage(
            engine, account_id, enabled == "on", posted.text("meter") or None, actor=actor
        )
    raise InvalidInputError(f"unknown lever {lever!r}")


@router.post("/accounts/{account_id}")
def pull_lever(account_id: str, posted: OperatorPost) -> Response:
    """One of the operator's levers on the account (D14): limit, plan, pack, overage, wallet."""
    return act(posted.viewer, _account_path(account_id), lambda: _lever(posted, account_id))


@router.post("/accounts/{account_id}/link")
def sign_in_link(request: Request, account_id: str, posted: OperatorPost) -> HTMLResponse:
    """A single-use dashboard link for the account, shown on this answer only."""
    token = views.mint_link(posted.viewer.engine, account_id, actor=posted.actor)
    settings: ServerSettings = request.app.state.settings
    url = link_url(settings.public_url or str(request.base_url), token)
    return operator_page(
        posted.viewer, "console_link.html", "/console", account_id_shown=account_id, url=url
    )


@router.get("/plans")
def plans(viewer: OperatorViewer) -> HTMLResponse:
    page = views.plans(viewer.engine)
    return operator_page(viewer, "console_plans.html", "/console/plans", page=page)


@router.get("/invoices")
def invoices(viewer: OperatorViewer, status: str = "", page: str = "1") -> HTMLResponse:
    listed = views.invoices(viewer.engine, status=status, page=page_number(page))
    return operator_page(
        viewer, "console_invoices.html", "/console/invoices", listing=listed, status_filter=status
    )


@router.get("/invoices/{number}")
def invoice(viewer: OperatorViewer, number: str) -> HTMLResponse:
    found = views.invoice(viewer.engine, number)
    return operator_page(viewer, "invoice.html", "/console/invoices", invoice=found)


@router.get("/invoices/{number}/pdf")
def invoice_pdf(viewer: OperatorViewer, number: str) -> Response:
    found = views.invoice(viewer.engine, number)
    return pdf_response(found)


# --------------------------------------------------------------------------- period close

_closes_lock = threading.Lock()


def _closes(request: Request, viewer: Viewer) -> PeriodCloses:
    with _closes_lock:
        closes: PeriodCloses | None = getattr(request.app.state, "period_closes", None)
        if closes is None:
            closes = PeriodCloses(viewer.engine)
            request.app.state.period_closes = closes
    return closes


@router.get("/close")
def close(request: Request, viewer: OperatorViewer) -> HTMLResponse:
    run = _closes(request, viewer).latest
    return operator_page(
        viewer,
        "console_close.html",
        "/console/close",
        run=run,
        failures=views.close_failures(viewer.engine),
        now=viewer.engine.clock.now(),
    )


@router.post("/close")
def start_close(request: Request, posted: OperatorPost) -> Response:
    """Close every period that has ended (the engine's close, on a thread); to its progress."""
    run, started = _closes(request, posted.viewer).start()
    if not started:
        posted.viewer.engine.access.leave_notice(
            posted.viewer.cookie, "A period close is running already: its progress is below."
        )
    settings: ServerSettings = request.app.state.settings
    run.done.wait(settings.close_wait_seconds)
    return RedirectResponse("/console/close", status_code=303)


# --------------------------------------------------------------------------- webhooks


@router.get("/webhooks")
def webhooks(viewer: OperatorViewer, status: str = "", changes_before: str = "") -> HTMLResponse:
    """The latest deliveries, and the audit log of the endpoints' changes."""
    page = views.deliveries(viewer.engine, status=status)
    changes = views.endpoint_changes(viewer.engine, changes_before)
    return operator_page(
        viewer, "console_webhooks.html", "/console/webhooks", page=page, changes=changes
    )


@router.get("/webhooks/{delivery_id}")
def webhook_delivery(viewer: OperatorViewer, delivery_id: str) -> HTMLResponse:
    page = views.delivery(viewer.engine, delivery_id)
    return operator_page(viewer, "console_delivery.html", "/console/webhooks", page=page)


@router.post("/webhooks/{delivery_id}/replay")
def replay_delivery(delivery_id: str, posted: OperatorPost) -> Response:
    """Send a delivery again now, with a fresh retry schedule (D28)."""
    back = f"/console/webhooks/{quote(delivery_id, safe='')}"
    return act(posted.viewer, back, lambda: views.replay(posted.viewer.engine, delivery_id))
