"""Checkout Sessions in ``payment`` and ``setup`` mode, with ``price_data`` line items.

A session stays ``open`` until the buyer acts, which here is the control API: paid at once (a
card), or completed unpaid and settled later (a bank debit, whose outcome arrives as
``checkout.session.async_payment_succeeded`` or ``..._failed``). As on Stripe, the PaymentIntent
exists only once the buyer pays (``payment_intent`` is null before), the payment method is saved
to the customer when ``payment_intent_data[setup_future_usage]`` asks for it, and a session no one
completes expires at ``expires_at`` (24 hours by default).
"""

from __future__ import annotations

from stripe.params.checkout import (
    SessionCreateParams,
    SessionExpireParams,
    SessionLineItemListParams,
    SessionListParams,
    SessionRetrieveParams,
)

from .. import listing
from ..errors import invalid, missing_parameter, wrong_state
from ..render import INCLUDERS
from ..routing import Call, Params, Routes
from ..state import JsonObject, Origin, State, merge_metadata, new_id, private
from . import line_prices

routes = Routes()

DAY = 24 * 60 * 60


@routes.add("post", "/v1/checkout/sessions", SessionCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    mode = params.get("mode")
    if mode is None:
        raise missing_parameter("mode")
    if mode == "subscription":
        raise invalid("The fake Stripe does not serve subscription mode.", param="mode")
    _check_mode_params(mode, params)
    if "customer" in params:
        call.state.get(params["customer"], "customer", param="customer")
        if "customer_email" in params:
            raise invalid(
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
    now = call.state.clock.now()
    expires_at = params.get("expires_at", now + DAY)
    if not now + 30 * 60 <= expires_at <= now + DAY:
        raise invalid(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours "
            "from Checkout Session creation.",
            param="expires_at",
        )
    session_id = new_id("cs_test", 58)
    items = [
        _line_item(call.state, item, index, mode)
        for index, item in enumerate(params.get("line_items", []))
    ]
    currencies = {item["currency"] for item in items} | (
        {params["currency"].lower()} if "currency" in params else set()
    )
    if len(currencies) > 1:
        raise invalid("All line items must use the same currency.", param="line_items")
    total = sum(item["amount_total"] for item in items)
    session: JsonObject = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": total if mode == "payment" else None,
        "amount_total": total if mode == "payment" else None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "created": now,
        "currency": next(iter(currencies), None),
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_creation": None
        if "customer" in params
        else params.get("customer_creation", "if_required"),
        "customer_details": {"email": params["customer_email"]}
        if "customer_email" in params
        else None,
        "customer_email": params.get("customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required" if mode == "payment" else "always",
        "payment_method_types": params.get("payment_method_types", ["card"]),
        "payment_status": "unpaid" if mode == "payment" else "no_payment_required",
        "redirect_on_completion": None,
        "setup_intent": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
        if mode == "payment"
        else None,
        "ui_mode": params.get("ui_mode", "hosted_page"),
        "url": f"{call.state.base_url}/c/pay/{session_id}",
    }
    call.state.add(session)
    private(session).update(
        line_items=items,
        payment_intent_data=params.get("payment_intent_data", {}),
        setup_intent_data=params.get("setup_intent_data", {}),
    )
    return session


def _check_mode_params(mode: str, params: Params) -> None:
    if mode == "payment":
        if not params.get("line_items"):
            raise invalid("`line_items` is required in `payment` mode.", param="line_items")
        if "setup_intent_data" in params:
            raise invalid(
                "`setup_intent_data` can only be used in `setup` mode.", param="setup_intent_data"
            )
        return
    if "line_items" in params:
        raise invalid("You cannot pass `line_items` in `setup` mode.", param="line_items")
    if "payment_intent_data" in params:
        raise invalid(
            "`payment_intent_data` can only be used in `payment` mode.", param="payment_intent_data"
        )
    if "currency" not in params and "payment_method_types" not in params:
        raise invalid(
            "`currency` is required in `setup` mode when `payment_method_types` is not passed.",
            param="currency",
            code="parameter_missing",
        )


def _line_item(state: State, item: Params, index: int, mode: str) -> JsonObject:
    where = f"line_items[{index}]"
    if "quantity" not in item:
        raise invalid(
            f"Quantity is required. Add `quantity` to `{where}`.",
            param=f"{where}[quantity]",
            code="parameter_missing",
        )
    if "price" in item:
        raise invalid(
            f"No such price: '{item['price']}'", param=f"{where}[price]", code="resource_missing"
        )
    if "price_data" not in item:
        raise invalid(
            f"You must specify either `price` or `price_data` in `{where}`.",
            param=where,
            code="parameter_missing",
        )
    data = item["price_data"]
    if "recurring" in data and mode == "payment":
        raise invalid(
            "You specified `payment` mode but passed a recurring price. Either "
            "switch to `subscription` mode or use only one-time prices.",
            param=f"{where}[price_data][recurring]",
        )
    price = line_prices.inline_price(state, data, f"{where}[price_data]")
    amount = line_prices.line_amount(price, item["quantity"])
    return {
        "id": new_id("li"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": line_prices.product_name(data),
        "metadata": {},
        "price": price,
        "quantity": item["quantity"],
    }


def _line_items(state: State, session: JsonObject) -> JsonObject:
    items: list[JsonObject] = private(session)["line_items"]
    return listing.embedded_list(items, f"/v1/checkout/sessions/{session['id']}/line_items")


INCLUDERS[("checkout.session", "line_items")] = _line_items


routes.retrieve("/v1/checkout/sessions/{session}", SessionRetrieveParams, "checkout.session")


@routes.add("get", "/v1/checkout/sessions/{session}/line_items", SessionLineItemListParams)
def list_line_items(call: Call, params: Params) -> JsonObject:
    session = call.state.get(call.ids["session"], "checkout.session")
    return listing.list_object(
        reversed(private(session)["line_items"]),
        params,
        f"/v1/checkout/sessions/{session['id']}/line_items",
    )


routes.list(
    "/v1/checkout/sessions",
    SessionListParams,
    "checkout.session",
    "customer",
    "payment_intent",
    "status",
)


@routes.add("post", "/v1/checkout/sessions/{session}/expire", SessionExpireParams)
def expire(call: Call, params: Params) -> JsonObject:
    session = call.state.get(call.ids["session"], "checkout.session")
    if session["status"] != "open":
        raise wrong_state('Only Checkout Sessions with a status in ["open"] can be expired.')
    _expire(call, session)
    return session


def _expire(call: Call, session: JsonObject) -> None:
    session.update(status="expired", url=None)
    call.state.touch(session)
    call.emit("checkout.session.expired", session)


def tick(state: State) -> None:
    """Sessions nobody completed expire at ``expires_at``."""
    now = state.clock.now()
    for session in list(state.all("checkout.session")):
        if session["status"] == "open" and session["expires_at"] <= now:
            _expire(Call(state, Origin()), session)
