"""The local provider's hosted pages: checkout and portal, plain HTML forms (B8, B10).

Both answer only through the link the account was given: the checkout's carries its pay secret,
the portal's a signed token that expires; anything else is 404, as for an unknown id.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from meterstack.money import format_money
from meterstack.server.auth import EngineDep

router = APIRouter(prefix="/billing", include_in_schema=False)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    "button{font-size:1rem;padding:.5rem 1.2rem}"
)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


@router.get("/checkout/{checkout_id}")
def checkout_page(checkout_id: str, engine: EngineDep, secret: str = "") -> HTMLResponse:
    """What is being bought, and a Pay button (no card: the embedded provider collects)."""
    checkout = engine.local_checkout(checkout_id, secret)
    if checkout.purpose == "plan":
        plan = engine.catalog.plan(checkout.plan_id or "")
        what = f"the {escape(plan.name)} plan, billed {escape(checkout.billing_interval or '')}"
    elif checkout.purpose == "deposit":
        amount = engine.deposit_amount(checkout_id) or Decimal(0)
        currency = engine.catalog.currency
        what = f"a wallet deposit of {escape(format_money(amount, currency))} {currency}"
    else:
        pack = engine.catalog.packs[checkout.pack_id or ""]
        what = f"{escape(pack.name)} ({escape(str(pack.price))} {engine.catalog.currency})"
    if checkout.status != "open":
        return _page("Checkout", f"<p>This checkout is {escape(checkout.status)}.</p>")
    action = f"/billing/checkout/{quote(checkout_id, safe='')}/pay?secret={quote(secret)}"
    # Return URLs were checked when the checkout was made (D30): http(s), allowed origins only.
    cancel = (
        f" <a href='{escape(checkout.cancel_url, quote=True)}'>Cancel</a>"
        if checkout.cancel_url
        else ""
    )
    return _page(
        "Checkout",
        f"<p>Account <code>{escape(checkout.account_id)}</code> is buying {what}.</p>"
        f"<form method='post' action='{escape(action, quote=True)}'>"
        f"<button type='submit'>Pay</button>{cancel}</form>",
    )


@router.post("/checkout/{checkout_id}/pay")
def pay(checkout_id: str, engine: EngineDep, secret: str = "") -> Response:
    """Pay the checkout: the same event a provider's webhook would send; then go back."""
    engine.pay_checkout(checkout_id, secret)
    success = engine.get_checkout(checkout_id).success_url
    if success:
        return RedirectResponse(success, status_code=303)
    return _page("Paid", "<p>Thank you: the payment went through.</p>")


@router.get("/portal/{account_id}")
def portal_page(account_id: str, engine: EngineDep, token: str = "") -> HTMLResponse:
    """The account's plan and invoices; only through the signed link the portal call gave."""
    engine.local_portal(account_id, token)
    subscription = engine.subscription(account_id)
    invoices = "".join(
        f"<li>{escape(invoice.number or 'draft')}: {escape(str(invoice.total))} "
        f"{escape(invoice.currency)} ({escape(str(invoice.status))})</li>"
        for invoice in engine.invoices(account_id)
    )
    return _page(
        "Billing portal",
        f"<p>Plan: <strong>{escape(subscription.plan)}</strong>, "
        f"{escape(subscription.billing_interval)}, {escape(subscription.status)}.</p>"
        f"<h2>Invoices</h2><ul>{invoices or '<li>none yet</li>'}</ul>",
    )
