"""PaymentIntents and the card network behind them: charges that succeed or are declined.

An off-session confirmation with a saved card either succeeds (a succeeded Charge, the intent
``succeeded``) or is declined: a failed Charge, the intent back to ``requires_payment_method``
with ``last_payment_error``, and a 402 ``card_error`` carrying the intent, as Stripe answers.
A card declines when it is one of Stripe's declining test cards, or when the control API queued a
decline for its customer's next off-session charge.
"""

from __future__ import annotations

import secrets

from stripe.params import (
    PaymentIntentCancelParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
    PaymentIntentListParams,
    PaymentIntentRetrieveParams,
    PaymentIntentSearchParams,
    PaymentIntentUpdateParams,
)

from ..errors import StripeError, invalid, wrong_state
from ..routing import Call, Params, Routes
from ..state import JsonObject, State, merge_metadata, new_id, private, public
from . import customers

routes = Routes()

#: Stripe's minimum charge amounts, in each currency's minor unit (JPY has none: yen).
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "cad": 50, "aud": 50, "chf": 50}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


def new_intent(call: Call, params: Params) -> JsonObject:
    currency = params["currency"].lower()
    amount = params["amount"]
    minimum = MINIMUM_AMOUNTS.get(currency, 1)
    if amount < minimum:
        raise invalid(
            f"Amount must be at least {minimum} in the currency's smallest unit ({currency}).",
            param="amount",
            code="amount_too_small",
        )
    customer = params.get("customer")
    if customer is not None:
        call.state.get(customer, "customer", param="customer")
    intent_id = new_id("pi")
    intent: JsonObject = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "capture_method": params.get("capture_method", "automatic_async"),
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": params.get("confirmation_method", "automatic"),
        "created": call.state.clock.now(),
        "currency": currency,
        "customer": customer,
        "description": params.get("description"),
        "latest_charge": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_types": params.get("payment_method_types", ["card"]),
        "payment_record": None,
        "review": None,
        "setup_future_usage": params.get("setup_future_usage"),
        "source": None,
        "status": "requires_payment_method",
        "transfer_group": params.get("transfer_group"),
    }
    call.state.add(intent)
    if "payment_method" in params:
        _use_method(call.state, intent, params["payment_method"])
    call.emit("payment_intent.created", intent)
    return intent


def _use_method(state: State, intent: JsonObject, method_id: str) -> None:
    method = customers.attach_source(state, method_id, "payment_method")
    if intent["customer"] is not None and method["customer"] not in (None, intent["customer"]):
        raise invalid(
            f"The provided PaymentMethod {method['id']} belongs to another customer.",
            param="payment_method",
        )
    intent["payment_method"] = method["id"]
    intent["status"] = "requires_confirmation"


@routes.add("post", "/v1/payment_intents", PaymentIntentCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    if params.get("off_session") is not None and not params.get("confirm"):
        raise invalid("off_session can only be used when confirm=true.", param="off_session")
    intent = new_intent(call, params)
    if params.get("confirm"):
        confirm_intent(call, intent, off_session=bool(params.get("off_session")))
    return intent


@routes.add("post", "/v1/payment_intents/{intent}/confirm", PaymentIntentConfirmParams)
def confirm(call: Call, params: Params) -> JsonObject:
    intent = call.state.get(call.ids["intent"], "payment_intent")
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise wrong_state(
            "This PaymentIntent's status is "
            f"{intent['status']}, but it must be requires_confirmation or "
            "requires_payment_method to be confirmed.",
        )
    if "payment_method" in params:
        _use_method(call.state, intent, params["payment_method"])
    confirm_intent(call, intent, off_session=bool(params.get("off_session")))
    return intent


def confirm_intent(call: Call, intent: JsonObject, *, off_session: bool) -> None:
    """Charge the intent's payment method; raise Stripe's 402 if the card is declined."""
    if intent["payment_method"] is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "To confirm the PaymentIntent with a saved payment method, provide its id in "
            "`payment_method`.",
            code="payment_intent_unexpected_state",
        )
    method = call.state.get(intent["payment_method"], "payment_method")
    decline = _decline_for(call.state, method, intent["customer"], off_session=off_session)
    charge = new_charge(call, intent, method, "succeeded" if decline is None else "failed", decline)
    if decline is None:
        succeed(call, intent, charge)
        return
    fail(call, intent, charge, decline)
    raise card_error(intent, method, charge, decline)


def _decline_for(
    state: State, method: JsonObject, customer_id: str | None, *, off_session: bool
) -> str | None:
    if private(method).get("declines"):
        return "generic_decline"
    if off_session and customer_id is not None:
        queued: list[str] = private(state.get(customer_id, "customer")).get("declines", [])
        if queued:
            return queued.pop(0)
    return None


def new_charge(
    call: Call, intent: JsonObject, method: JsonObject, status: str, decline: str | None = None
) -> JsonObject:
    """A charge of the intent's amount: ``succeeded``, ``failed`` (declined) or ``pending``."""
    succeeded = status != "failed"
    outcome = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if succeeded else "declined_by_network",
        "reason": None if succeeded else decline,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": "Payment complete."
        if succeeded
        else "The bank did not return any further details with this decline.",
        "type": "authorized" if succeeded else "issuer_declined",
    }
    charge: JsonObject = {
        "id": new_id("ch"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if status == "succeeded" else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "balance_transaction": new_id("txn") if status == "succeeded" else None,
        "billing_details": method["billing_details"],
        "calculated_statement_descriptor": "METERSTACK",
        "captured": succeeded,
        "created": call.state.clock.now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else _code(decline),
        "failure_message": None if succeeded else DECLINE_MESSAGES.get(str(decline)),
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": status == "succeeded",
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": method_details(method),
        "refunded": False,
        "review": None,
        "source": None,
        "source_transfer": None,
        "status": status,
        "transfer": None,
        "transfer_group": intent["transfer_group"],
    }
    return call.state.add(charge)


def method_details(method: JsonObject) -> JsonObject:
    """``payment_method_details`` of a charge made with ``method``."""
    if method["type"] == "us_bank_account":
        account = method["us_bank_account"]
        details = {
            "account_holder_type": account["account_holder_type"],
            "account_type": account["account_type"],
            "bank_name": account["bank_name"],
            "fingerprint": account["fingerprint"],
            "last4": account["last4"],
            "routing_number": account["routing_number"],
        }
        return {"type": "us_bank_account", "us_bank_account": details}
    card = method["card"]
    return {
        "type": "card",
        "card": {
            "brand": card["brand"],
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "last4": card["last4"],
            "network": card["brand"],
        },
    }


def _code(decline: str | None) -> str:
    return decline if decline in ("expired_card", "authentication_required") else "card_declined"


def succeed(call: Call, intent: JsonObject, charge: JsonObject) -> None:
    if charge["status"] != "succeeded":
        charge.update(
            status="succeeded",
            paid=True,
            amount_captured=charge["amount"],
            balance_transaction=new_id("txn"),
        )
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        latest_charge=charge["id"],
        last_payment_error=None,
    )
    if intent["setup_future_usage"] and intent["customer"]:
        method = call.state.get(charge["payment_method"], "payment_method")
        if method["customer"] is None:
            customers.attach(call, method, call.state.get(intent["customer"], "customer"))
    call.emit("charge.succeeded", charge)
    call.emit("payment_intent.succeeded", intent)


def fail(call: Call, intent: JsonObject, charge: JsonObject, decline: str) -> None:
    method = call.state.get(charge["payment_method"], "payment_method")
    if charge["status"] != "failed":
        charge.update(
            status="failed",
            paid=False,
            failure_code=_code(decline),
            failure_message=DECLINE_MESSAGES.get(decline, "Your card was declined."),
        )
    intent.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        last_payment_error={
            "advice_code": None,
            "charge": charge["id"],
            "code": _code(decline),
            "decline_code": decline,
            "doc_url": f"https://docs.stripe.com/error-codes/{_code(decline).replace('_', '-')}",
            "message": DECLINE_MESSAGES.get(decline, "Your card was declined."),
            "network_advice_code": None,
            "network_decline_code": None,
            "param": None,
            "payment_method": public(method),
            "type": "card_error",
        },
    )
    call.emit("charge.failed", charge)
    call.emit("payment_intent.payment_failed", intent)


def card_error(
    intent: JsonObject, method: JsonObject, charge: JsonObject, decline: str
) -> StripeError:
    return StripeError(
        402,
        DECLINE_MESSAGES.get(decline, "Your card was declined."),
        type_="card_error",
        code=_code(decline),
        extra={
            "charge": charge["id"],
            "decline_code": decline,
            "payment_intent": public(intent),
            "payment_method": public(method),
        },
    )


routes.retrieve("/v1/payment_intents/{intent}", PaymentIntentRetrieveParams, "payment_intent")


@routes.add("post", "/v1/payment_intents/{intent}", PaymentIntentUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    intent = call.state.get(call.ids["intent"], "payment_intent")
    if "metadata" in params:
        intent["metadata"] = merge_metadata(intent["metadata"], params["metadata"])
    for name in ("description", "transfer_group", "setup_future_usage"):
        if name in params:
            intent[name] = params[name] or None
    call.state.touch(intent)
    return intent


@routes.add("post", "/v1/payment_intents/{intent}/cancel", PaymentIntentCancelParams)
def cancel(call: Call, params: Params) -> JsonObject:
    intent = call.state.get(call.ids["intent"], "payment_intent")
    if intent["status"] in ("succeeded", "canceled"):
        raise wrong_state(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            "be canceled: requires_payment_method, requires_capture, requires_confirmation, "
            "requires_action, processing.",
        )
    cancel_intent(call, intent, params.get("cancellation_reason", "requested_by_customer"))
    return intent


def cancel_intent(call: Call, intent: JsonObject, reason: str) -> None:
    intent.update(status="canceled", cancellation_reason=reason, canceled_at=call.state.clock.now())
    call.emit("payment_intent.canceled", intent)


routes.list("/v1/payment_intents", PaymentIntentListParams, "payment_intent", "customer")


routes.search(
    "/v1/payment_intents/search", PaymentIntentSearchParams, "payment_intent", "payment_intents"
)
