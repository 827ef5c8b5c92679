"""What every page shares: its frame (navigation, notice, CSRF token) and the form round trip.

A form that changes something answers with a redirect to the page it came from (post, redirect,
get), after leaving the outcome as a notice on the session: the notice is shown once, whether
the change was made or the engine refused it (with the engine's own message).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterstack.bounds import MAX_PAGE_NUMBER, whole_number
from meterstack.errors import InvalidInputError, MeterstackError
from meterstack.records.invoicing import Invoice
from meterstack.server.dashboard.rendering import render
from meterstack.server.dashboard.web import Viewer
from meterstack.services.invoicing.render import render_pdf

CUSTOMER_NAV = (
    ("/dashboard", "Overview"),
    ("/dashboard/plans", "Plans"),
    ("/dashboard/overage", "Overage and packs"),
    ("/dashboard/wallet", "Wallet"),
    ("/dashboard/usage", "Usage history"),
    ("/dashboard/alerts", "Alerts and budget"),
    ("/dashboard/invoices", "Invoices"),
    ("/dashboard/keys", "API keys"),
)
OPERATOR_NAV = (
    ("/console", "Accounts"),
    ("/console/plans", "Plans"),
    ("/console/invoices", "Invoices"),
    ("/console/close", "Period close"),
    ("/console/webhooks", "Webhook deliveries"),
)
_REFUSED = "refused:"


@dataclass(frozen=True)
class Notice:
    text: str
    refused: bool


def _notice(flash: str | None) -> Notice | None:
    if flash is None:
        return None
    if flash.startswith(_REFUSED):
        return Notice(flash.removeprefix(_REFUSED), True)
    return Notice(flash, False)


def customer_page(
    viewer: Viewer, template: str, path: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    return _page(viewer, template, path, CUSTOMER_NAV, "/dashboard", status, context)


def operator_page(
    viewer: Viewer, template: str, path: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    return _page(viewer, template, path, OPERATOR_NAV, "/console", status, context)


def _page(
    viewer: Viewer,
    template: str,
    path: str,
    nav: tuple[tuple[str, str], ...],
    home: str,
    status: int,
    context: dict[str, Any],
) -> HTMLResponse:
    catalog = viewer.engine.catalog
    return render(
        template,
        status=status,
        frame_ancestors=viewer.frame_ancestors,
        nav=nav,
        here=path,
        home=home,
        csrf_token=viewer.session.csrf_token,
        notice=_notice(viewer.session.flash),
        currency=catalog.currency,
        platform=catalog.name,
        account_id=viewer.session.account_id,
        **context,
    )


def outcome(action: Callable[[], str]) -> str:
    """Run a form's change; the notice saying what it did, or why the engine refused it."""
    try:
        return action()
    except MeterstackError as refused:
        return f"{_REFUSED}{refused.message}"


def refusal(message: str) -> str:
    """The notice of a change the engine refused with an answer rather than an error (a
    meter's decision): shown as a refusal, with the engine's message."""
    return f"{_REFUSED}{message}"


def act(viewer: Viewer, back: str, action: Callable[[], str]) -> RedirectResponse:
    """Run a form's change, leave its outcome as the next page's notice, and go ``back``."""
    notice = outcome(action)
    if notice:
        viewer.engine.access.leave_notice(viewer.cookie, notice)
    return RedirectResponse(back, status_code=303)


def page_number(text: str) -> int:
    """A list's ``?page=``: a whole number from 1 (422 otherwise, as every page's bad input)."""
    return whole_number(text, "page", low=1, high=MAX_PAGE_NUMBER)


#: An amount as people type it: digits, a point and decimals, a sign in front (no exponent).
_AMOUNT = re.compile(r"[+-]?[0-9]{1,18}(\.[0-9]{1,12})?")


def decimal_field(text: str, name: str) -> Decimal:
    """An amount typed in a form (``12.50``; a thousands comma or space is allowed) as a
    Decimal, never a float; anything else is 422 naming the field."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not _AMOUNT.fullmatch(cleaned):
        raise InvalidInputError(f"{name} must be an amount such as 10.00, got {text!r}", field=name)
    return Decimal(cleaned)


def pdf_response(invoice: Invoice) -> Response:
    """The invoice's PDF, as a download."""
    return Response(
        render_pdf(invoice),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="invoice-{invoice.number}.pdf"',
            "Cache-Control": "no-store",
        },
    )
