"""Pages as HTML: the Jinja2 templates shipped with the package, their filters, and the route
class that turns every failure of a page into a page.

Output is escaped (autoescape on every template); a template that names a value its page does
not have fails loudly (``StrictUndefined``) instead of printing nothing. Money is the D15 decimal
string with the catalog's currency code (``49.00 USD``); a date is written as ISO 8601 inside a
``<time datetime>`` that the page's script rewrites in the viewer's locale, so that without
JavaScript the page still reads the ISO date.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from meterstack.catalog.render import format_limit
from meterstack.errors import MeterstackError
from meterstack.money import format_money, minor_units, quantum

_templates = Environment(
    loader=PackageLoader("meterstack.server.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

#: Sent with every page: nothing cached (pages show account data and one-time secrets), no
#: script or style from anywhere but this service, no MIME sniffing.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def money(amount: Decimal, currency: str) -> str:
    """``49.00 USD``: rounded by the one rule to the currency's minor unit (D15)."""
    return f"{format_money(amount, currency)} {currency}"


def unit_price(amount: Decimal, currency: str) -> str:
    """A unit price keeps every decimal it has (``0.002 USD``), never fewer than the minor unit."""
    rounded = amount.quantize(quantum(minor_units(currency)))
    text = f"{rounded:f}" if rounded == amount else f"{amount.normalize():f}"
    return f"{text} {currency}"


def when(moment: datetime | None, style: str = "date") -> Markup:
    """A ``<time>`` the page's script shows in the viewer's locale; ISO 8601 UTC without it."""
    if moment is None:
        return Markup("&ndash;")
    moment = moment.astimezone(UTC)
    iso = moment.isoformat().replace("+00:00", "Z")
    shown = moment.date().isoformat() if style == "date" else moment.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(iso, style, shown)


def number(value: int | Decimal | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def amount(value: Decimal, currency: str) -> str:
    """``49.00``: the money filter's figure without its code, for a form's field."""
    return format_money(value, currency)


_templates.filters.update(
    money=money,
    amount=amount,
    unit_price=unit_price,
    when=when,
    number=number,
    limit=lambda value, unit="unit": format_limit(value, unit),
)


def render(
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    frame_ancestors: str = "'self'",
    **context: Any,
) -> HTMLResponse:
    body = _templates.get_template(template).render(**context)
    policy = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={**_HEADERS, "Content-Security-Policy": policy, **(headers or {})},
    )


class SignInRequiredError(MeterstackError):
    """No live session of the page's kind: a page asks for one, a form is refused."""

    code = "sign_in_required"
    http_status = 401

    def __init__(self, sign_in_path: str) -> None:
        super().__init__("sign in to see this page")
        self.sign_in_path = sign_in_path


class CsrfRefusedError(MeterstackError):
    """A form without its session's token (or with another): refused before anything runs."""

    code = "csrf_token_invalid"
    http_status = 403


class PageRoute(APIRoute):
    """A route whose failures answer as a page, never the API's JSON.

    A missing session sends a page's reader to sign in (with the page to come back to); any
    other domain error (a 404, a refusal, bad input) is an error page with its status and
    message. Nothing else is caught: a bug is still a 500.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequiredError as missing:
                if request.method == "GET":
                    target = f"{missing.sign_in_path}?next={request.url.path}"
                    return RedirectResponse(target, status_code=303)
                return error_page(missing)
            except MeterstackError as error:
                return error_page(error)

        return page


def error_page(error: MeterstackError) -> HTMLResponse:
    return render(
        "error.html",
        status=error.http_status,
        title="Something went wrong" if error.http_status >= 500 else "Not possible",
        code=error.code,
        message=error.message,
    )
