"""The customer's billing pages under ``/dashboard``: overview, plans, overage and packs,
wallet, usage history and its export, alerts and the budget, invoices, API keys. Routes only:
what each page shows comes from :mod:`.billing_views`, :mod:`.wallet_views`,
:mod:`.history_views` and :mod:`.alerts_views`."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterstack.bounds import whole_number
from meterstack.errors import InvalidInputError
from meterstack.server.dashboard import alerts_views, history_views, pages, wallet_views
from meterstack.server.dashboard import billing_views as views
from meterstack.server.dashboard.pages import (
    act,
    customer_page,
    outcome,
    page_number,
    pdf_response,
)
from meterstack.server.dashboard.rendering import PageRoute
from meterstack.server.dashboard.web import (
    CUSTOMER,
    CustomerPost,
    CustomerViewer,
    Posted,
    set_session_cookie,
)
from meterstack.server.settings import ServerSettings
from meterstack.services.keys import IssuedKey

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)


@router.get("")
def overview(viewer: CustomerViewer) -> HTMLResponse:
    page = views.overview(viewer.engine, viewer.account_id)
    return customer_page(viewer, "overview.html", "/dashboard", page=page)


@router.get("/plans")
def plans(viewer: CustomerViewer, checkout: str = "") -> HTMLResponse:
    page = views.plans(viewer.engine, viewer.account_id)
    return customer_page(
        viewer, "plans.html", "/dashboard/plans", page=page, paid=checkout == "paid"
    )


def _return_url(request: Request, path: str) -> str:
    settings: ServerSettings = request.app.state.settings
    base = settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{path}"


@router.post("/plans/checkout")
def checkout(request: Request, posted: CustomerPost) -> Response:
    """Upgrade: to the provider's hosted checkout; the plan changes once it is paid (B8)."""
    viewer = posted.viewer
    back = "/dashboard/plans"
    url: list[str] = []

    def start() -> str:
        url.append(
            views.start_checkout(
                viewer.engine,
                viewer.account_id,
                posted.text("plan"),
                posted.text("interval", default="monthly"),
                _return_url(request, back),
            )
        )
        return ""

    refused = act(viewer, back, start)
    return RedirectResponse(url[0], status_code=303) if url else refused


@router.post("/plans/downgrade")
def downgrade(posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/plans",
        lambda: views.downgrade(
            viewer.engine,
            viewer.account_id,
            posted.text("plan"),
            posted.text("interval") or None,
            actor=posted.actor,
        ),
    )


@router.post("/plans/cancel")
def cancel(posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/plans",
        lambda: views.cancel(viewer.engine, viewer.account_id, actor=posted.actor),
    )


@router.post("/plans/resume")
def resume(posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/plans",
        lambda: views.resume(viewer.engine, viewer.account_id, actor=posted.actor),
    )


@router.get("/overage")
def overage(viewer: CustomerViewer, project: str = "") -> HTMLResponse:
    page = views.overage(viewer.engine, viewer.account_id, project or None)
    return customer_page(viewer, "overage.html", "/dashboard/overage", page=page)


def _switch(posted: Posted) -> str:
    state = posted.text("enabled")
    if state not in {"on", "off"}:
        raise InvalidInputError(f"enabled must be 'on' or 'off', got {state!r}")
    return views.switch_overage(
        posted.viewer.engine,
        posted.viewer.account_id,
        state == "on",
        posted.text("meter") or None,
        posted.text("project") or None,
        actor=posted.actor,
    )


@router.post("/overage")
def switch_overage(posted: CustomerPost) -> Response:
    project = posted.text("project")
    back = f"/dashboard/overage?project={quote(project, safe='')}" if project else None
    return act(posted.viewer, back or "/dashboard/overage", lambda: _switch(posted))


@router.post("/packs")
def buy_pack(posted: CustomerPost) -> Response:
    """Buy a pack: at once on a provider that collects by itself, else through checkout."""
    viewer = posted.viewer
    url: list[str | None] = []

    def buy() -> str:
        checkout_url, notice = views.buy_pack(
            viewer.engine, viewer.account_id, posted.text("pack"), actor=posted.actor
        )
        url.append(checkout_url)
        return notice

    done = act(viewer, "/dashboard/overage", buy)
    return RedirectResponse(url[0], status_code=303) if url and url[0] else done


@router.get("/wallet")
def wallet(viewer: CustomerViewer, before: str = "", deposit: str = "") -> HTMLResponse:
    page = wallet_views.wallet(viewer.engine, viewer.account_id, before or None)
    return customer_page(
        viewer, "wallet.html", "/dashboard/wallet", page=page, paid=deposit == "paid"
    )


@router.post("/wallet/deposit")
def deposit(request: Request, posted: CustomerPost) -> Response:
    """A deposit: to the provider's hosted checkout; credited once it is paid (D24)."""
    viewer = posted.viewer
    back = "/dashboard/wallet"
    url: list[str] = []

    def start() -> str:
        url.append(
            wallet_views.start_deposit(
                viewer.engine, viewer.account_id, posted.text("amount"), _return_url(request, back)
            )
        )
        return ""

    refused = act(viewer, back, start)
    return RedirectResponse(url[0], status_code=303) if url else refused


@router.post("/wallet/auto-reload")
def auto_reload(posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/wallet",
        lambda: wallet_views.set_auto_reload(
            viewer.engine,
            viewer.account_id,
            threshold=posted.text("threshold"),
            mode=posted.text("mode", default="amount"),
            value=posted.text("value"),
            actor=posted.actor,
        ),
    )


@router.get("/usage")
def usage_history(
    viewer: CustomerViewer, meter: str = "", granularity: str = "day"
) -> HTMLResponse:
    page = history_views.usage_history(viewer.engine, viewer.account_id, meter, granularity)
    return customer_page(viewer, "usage.html", "/dashboard/usage", page=page)


@router.post("/usage/export")
def usage_export(posted: CustomerPost) -> Response:
    """The chart's window as a download (CSV, or JSON with ``format=json``), one of the plan's
    exports (A2); past them, the page again with the refusal. An unknown format is 422."""
    viewer = posted.viewer
    meter, granularity = posted.text("meter"), posted.text("granularity", default="day")
    file_format = history_views.export_format(posted.text("format") or "csv")
    back = (
        f"/dashboard/usage?meter={quote(meter, safe='')}&granularity={quote(granularity, safe='')}"
    )
    files: list[Response] = []

    def export() -> str:
        file, refusal = history_views.export(
            viewer.engine, viewer.account_id, meter, granularity, file_format
        )
        if refusal is not None:
            return pages.refusal(f"No export: {refusal.message}")
        assert file is not None
        file.headers["Cache-Control"] = "no-store"  # the account's data, as every page
        files.append(file)
        return ""

    refused = act(viewer, back, export)
    return files[0] if files else refused


@router.get("/alerts")
def alerts(viewer: CustomerViewer) -> HTMLResponse:
    page = alerts_views.alerts(viewer.engine, viewer.account_id)
    return customer_page(viewer, "alerts.html", "/dashboard/alerts", page=page)


@router.post("/alerts")
def create_alert(posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/alerts",
        lambda: alerts_views.create_alert(
            viewer.engine,
            viewer.account_id,
            posted.text("kind"),
            posted.text("meter"),
            posted.text("threshold"),
            actor=posted.actor,
        ),
    )


@router.post("/alerts/budget")
def set_budget(posted: CustomerPost) -> Response:
    """The budget guard (D26): a maximum a month, soft or hard; an empty amount removes it."""
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/alerts",
        lambda: alerts_views.set_budget(
            viewer.engine,
            viewer.account_id,
            posted.text("amount"),
            posted.text("mode", default="soft"),
            actor=posted.actor,
        ),
    )


@router.post("/alerts/{alert_id}/delete")
def delete_alert(alert_id: str, posted: CustomerPost) -> Response:
    viewer = posted.viewer
    return act(
        viewer,
        "/dashboard/alerts",
        lambda: alerts_views.delete_alert(
            viewer.engine, viewer.account_id, alert_id, actor=posted.actor
        ),
    )


@router.get("/invoices")
def invoices(viewer: CustomerViewer, page: str = "1") -> HTMLResponse:
    listed = views.invoices(viewer.engine, viewer.account_id, page_number(page))
    return customer_page(viewer, "invoices.html", "/dashboard/invoices", listing=listed)


@router.get("/invoices/{number}")
def invoice(viewer: CustomerViewer, number: str) -> HTMLResponse:
    found = views.invoice(viewer.engine, viewer.account_id, number)
    return customer_page(viewer, "invoice.html", "/dashboard/invoices", invoice=found)


@router.get("/invoices/{number}/pdf")
def invoice_pdf(viewer: CustomerViewer, number: str) -> Response:
    found = views.invoice(viewer.engine, viewer.account_id, number)
    return pdf_response(found)


@router.get("/keys")
def keys(viewer: CustomerViewer) -> HTMLResponse:
    page = views.keys(viewer.engine, viewer.account_id)
    return customer_page(viewer, "keys.html", "/dashboard/keys", page=page)


def _quotas(posted: Posted) -> dict[str, int] | None:
    quotas: dict[str, int] = {}
    for meter in posted.viewer.engine.catalog.meters:
        text = posted.text(f"quota_{meter}")
        if not text:
            continue
        quotas[meter] = whole_number(text, f"the quota of {meter}")
    return quotas or None


@router.post("/keys")
def create_key(posted: CustomerPost) -> Response:
    """A new key, its secret shown on this answer only (never stored, never shown again)."""
    viewer = posted.viewer
    modules = [value for value in posted.form.getlist("modules") if isinstance(value, str)]
    issued: list[IssuedKey] = []

    def create() -> str:
        issued.append(
            views.create_key(
                viewer.engine,
                viewer.account_id,
                name=posted.text("name") or None,
                project_id=posted.text("project") or None,
                modules=modules if posted.text("caps") == "on" else None,
                quotas=_quotas(posted),
                actor=posted.actor,
            )
        )
        return ""

    refused = act(viewer, "/dashboard/keys", create)
    if not issued:
        return refused
    return customer_page(viewer, "key_created.html", "/dashboard/keys", issued=issued[0])


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, posted: CustomerPost) -> Response:
    """Revoke a key. A revoked user key ends every session of the account that began before;
    this browser, which asked for it, is signed in again at once under a new session id."""
    viewer = posted.viewer
    engine = viewer.engine
    notice = outcome(
        lambda: views.revoke_key(engine, viewer.account_id, key_id, actor=posted.actor)
    )
    renewed = engine.access.renew_session(viewer.cookie)
    engine.access.leave_notice(renewed.cookie if renewed else viewer.cookie, notice)
    response = RedirectResponse("/dashboard/keys", status_code=303)
    if renewed is not None:
        set_session_cookie(response, request, renewed, CUSTOMER)
    return response
