"""Customers and their saved payment methods (cards)."""

from __future__ import annotations

import secrets

from stripe.params import (
    CustomerCreateParams,
    CustomerListParams,
    CustomerPaymentMethodListParams,
    CustomerRetrieveParams,
    CustomerSearchParams,
    CustomerUpdateParams,
    PaymentMethodAttachParams,
    PaymentMethodDetachParams,
    PaymentMethodListParams,
    PaymentMethodRetrieveParams,
)

from .. import listing
from ..errors import StripeError, invalid, missing_parameter
from ..routing import Call, Params, Routes
from ..state import JsonObject, State, merge_metadata, new_id, private

routes = Routes()

#: Stripe's test payment methods (``pm_card_visa``...) and how their cards behave.
TEST_CARDS: dict[str, dict[str, str]] = {
    "visa": {"brand": "visa", "last4": "4242"},
    "mastercard": {"brand": "mastercard", "last4": "4444"},
    # Attaches, then every charge is declined (Stripe's 4000 0000 0000 0341).
    "chargeCustomerFail": {"brand": "visa", "last4": "0341", "declines": "card_declined"},
    # Declined when attached or charged (Stripe's 4000 0000 0000 0002).
    "chargeDeclined": {
        "brand": "visa",
        "last4": "0002",
        "declines": "card_declined",
        "refuses_attach": "yes",
    },
}

_UPDATABLE = ("address", "description", "email", "name", "phone", "preferred_locales", "shipping")


@routes.add("post", "/v1/customers", CustomerCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    now = call.state.clock.now()
    customer: JsonObject = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": params.get("address") or None,
        "balance": params.get("balance", 0),
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": params.get("invoice_prefix") or secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "name": params.get("name"),
        "next_invoice_sequence": params.get("next_invoice_sequence", 1),
        "phone": params.get("phone"),
        "preferred_locales": params.get("preferred_locales", []),
        "shipping": params.get("shipping") or None,
        "tax_exempt": params.get("tax_exempt", "none"),
        "test_clock": None,
    }
    call.state.add(customer)
    if "payment_method" in params:
        _attach(
            call, attach_source(call.state, params["payment_method"], "payment_method"), customer
        )
    _set_default_method(call.state, customer, params.get("invoice_settings", {}))
    call.emit("customer.created", customer)
    return customer


routes.retrieve("/v1/customers/{customer}", CustomerRetrieveParams, "customer")


@routes.add("post", "/v1/customers/{customer}", CustomerUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    customer = call.state.get(call.ids["customer"], "customer")
    previous: JsonObject = {}
    for name in (*_UPDATABLE, "metadata", "invoice_settings", "balance"):
        if name in params:
            previous[name] = customer[name]
    for name in _UPDATABLE:
        if name in params:
            customer[name] = params[name] or None
    if "balance" in params:
        customer["balance"] = params["balance"]
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    if "invoice_settings" in params:
        customer["invoice_settings"] = dict(customer["invoice_settings"])
        _set_default_method(call.state, customer, params["invoice_settings"])
    call.state.touch(customer)
    call.emit("customer.updated", customer, previous=previous)
    return customer


def _set_default_method(state: State, customer: JsonObject, settings: Params) -> None:
    method_id = settings.get("default_payment_method")
    if method_id is None:
        return
    if method_id == "":
        customer["invoice_settings"]["default_payment_method"] = None
        return
    method = state.get(
        method_id, "payment_method", param="invoice_settings[default_payment_method]"
    )
    if method["customer"] != customer["id"]:
        raise invalid(
            f"No such PaymentMethod: '{method_id}'; It's possible this PaymentMethod exists on "
            "one of your connected accounts, in which case you should retry this request on "
            "that connected account.",
            param="invoice_settings[default_payment_method]",
            code="resource_missing",
        )
    customer["invoice_settings"]["default_payment_method"] = method_id


routes.list("/v1/customers", CustomerListParams, "customer", "email")


routes.search("/v1/customers/search", CustomerSearchParams, "customer", "customers")


def new_card(state: State, card: str, customer: str | None = None) -> JsonObject:
    """A card payment method as Stripe's test tokens make them (``pm_card_visa``)."""
    spec = TEST_CARDS.get(card)
    if spec is None:
        raise invalid(f"No such test card: {card}", param="card")
    method: JsonObject = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _empty_billing_details(),
        "card": {
            "brand": spec["brand"],
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": spec["brand"],
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": secrets.token_hex(8),
            "funding": "credit",
            "generated_from": None,
            "last4": spec["last4"],
            "networks": {"available": [spec["brand"]], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": state.clock.now(),
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    state.add(method)
    for behaviour in ("declines", "refuses_attach"):
        if behaviour in spec:
            private(method)[behaviour] = spec[behaviour]
    return method


def new_bank_account(state: State) -> JsonObject:
    """A US bank account (ACH debit): its payments settle days later, success or failure."""
    method: JsonObject = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _empty_billing_details(),
        "created": state.clock.now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": "individual",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "financial_connections_account": None,
            "fingerprint": secrets.token_hex(8),
            "last4": "6789",
            "networks": {"preferred": "ach", "supported": ["ach"]},
            "routing_number": "110000000",
            "status_details": {},
        },
    }
    return state.add(method)


def _empty_billing_details() -> JsonObject:
    return {
        "address": dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state")),
        "email": None,
        "name": None,
        "phone": None,
        "tax_id": None,
    }


def attach_source(state: State, method_id: str, param: str) -> JsonObject:
    """An existing payment method, or a fresh one for a test token such as ``pm_card_visa``."""
    if method_id.startswith("pm_card_"):
        return new_card(state, method_id.removeprefix("pm_card_"))
    return state.get(method_id, "payment_method", param=param)


def _attach(call: Call, method: JsonObject, customer: JsonObject) -> None:
    if method["customer"] not in (None, customer["id"]):
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    if private(method).get("refuses_attach"):
        raise StripeError(
            402,
            "Your card was declined.",
            type_="card_error",
            code="card_declined",
            param="",
            extra={"decline_code": "generic_decline"},
        )
    method["customer"] = customer["id"]
    call.emit("payment_method.attached", method)


def attach(call: Call, method: JsonObject, customer: JsonObject) -> None:
    """Attach a payment method to a customer (checkout completion, the control API)."""
    _attach(call, method, customer)


@routes.add("post", "/v1/payment_methods/{payment_method}/attach", PaymentMethodAttachParams)
def attach_method(call: Call, params: Params) -> JsonObject:
    method = attach_source(call.state, call.ids["payment_method"], "payment_method")
    if "customer" not in params:
        raise missing_parameter("customer")
    customer = call.state.get(params["customer"], "customer", param="customer")
    _attach(call, method, customer)
    return method


@routes.add("post", "/v1/payment_methods/{payment_method}/detach", PaymentMethodDetachParams)
def detach_method(call: Call, params: Params) -> JsonObject:
    method = call.state.get(call.ids["payment_method"], "payment_method")
    if method["customer"] is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so "
            "detachment is impossible."
        )
    customer = call.state.get(method["customer"], "customer")
    if customer["invoice_settings"]["default_payment_method"] == method["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
    method["customer"] = None
    call.emit("payment_method.detached", method, previous={"customer": customer["id"]})
    return method


routes.retrieve(
    "/v1/payment_methods/{payment_method}", PaymentMethodRetrieveParams, "payment_method"
)


@routes.add("get", "/v1/payment_methods", PaymentMethodListParams)
def list_methods(call: Call, params: Params) -> JsonObject:
    filters = [lambda m: m["type"] == params.get("type", m["type"])]
    if "customer" in params:
        call.state.get(params["customer"], "customer", param="customer")
        filters.append(lambda m: m["customer"] == params["customer"])
    return listing.list_object(
        call.state.all("payment_method"), params, "/v1/payment_methods", filters
    )


@routes.add("get", "/v1/customers/{customer}/payment_methods", CustomerPaymentMethodListParams)
def list_customer_methods(call: Call, params: Params) -> JsonObject:
    customer = call.state.get(call.ids["customer"], "customer")
    return listing.list_object(
        call.state.all("payment_method"),
        params,
        f"/v1/customers/{customer['id']}/payment_methods",
        [
            lambda m: m["customer"] == customer["id"],
            lambda m: m["type"] == params.get("type", m["type"]),
        ],
    )
