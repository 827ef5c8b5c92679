"""Charges (read-only: they come from PaymentIntents), refunds and SetupIntents."""

from __future__ import annotations

from stripe.params import (
    ChargeListParams,
    ChargeRetrieveParams,
    ChargeSearchParams,
    RefundCreateParams,
    RefundListParams,
    RefundRetrieveParams,
    SetupIntentListParams,
    SetupIntentRetrieveParams,
)

from .. import listing
from ..errors import invalid
from ..render import INCLUDERS
from ..routing import Call, Params, Routes
from ..state import JsonObject, State, merge_metadata, new_id

routes = Routes()


routes.retrieve("/v1/charges/{charge}", ChargeRetrieveParams, "charge")


routes.list(
    "/v1/charges", ChargeListParams, "charge", "customer", "payment_intent", "transfer_group"
)


routes.search("/v1/charges/search", ChargeSearchParams, "charge", "charges")


def _charge_refunds(state: State, charge: JsonObject) -> JsonObject:
    refunds = [r for r in state.all("refund") if r["charge"] == charge["id"]]
    return listing.embedded_list(refunds, f"/v1/charges/{charge['id']}/refunds")


INCLUDERS[("charge", "refunds")] = _charge_refunds


@routes.add("post", "/v1/refunds", RefundCreateParams)
def create_refund(call: Call, params: Params) -> JsonObject:
    charge = _refunded_charge(call.state, params)
    return refund(
        call, charge, params.get("amount"), params.get("reason"), params.get("metadata", {})
    )


def _refunded_charge(state: State, params: Params) -> JsonObject:
    if "charge" in params:
        return state.get(params["charge"], "charge", param="charge")
    if "payment_intent" not in params:
        raise invalid(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            param="charge",
            code="parameter_missing",
        )
    intent = state.get(params["payment_intent"], "payment_intent", param="payment_intent")
    if intent["status"] != "succeeded" or intent["latest_charge"] is None:
        raise invalid(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            param="payment_intent",
        )
    return state.get(intent["latest_charge"], "charge")


def refund(
    call: Call,
    charge: JsonObject,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, str],
) -> JsonObject:
    """Refund part or all of what a charge collected (refunds, credit notes use this)."""
    if charge["disputed"]:
        raise invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount} {charge['currency']}) is greater than unrefunded amount "
            f"on charge ({remaining} {charge['currency']})",
            param="amount",
            code="amount_too_large",
        )
    refund_object: JsonObject = {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "charge": charge["id"],
        "created": call.state.clock.now(),
        "currency": charge["currency"],
        "customer": charge["customer"],
        "destination_details": None,
        "failure_balance_transaction": None,
        "metadata": merge_metadata({}, metadata),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "pending_reason": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    call.state.add(refund_object)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    call.emit("refund.created", refund_object)
    call.emit("charge.refunded", charge, previous=previous)
    return refund_object


routes.retrieve("/v1/refunds/{refund}", RefundRetrieveParams, "refund")


routes.list("/v1/refunds", RefundListParams, "refund", "charge", "payment_intent")


routes.retrieve("/v1/setup_intents/{intent}", SetupIntentRetrieveParams, "setup_intent")


routes.list(
    "/v1/setup_intents", SetupIntentListParams, "setup_intent", "customer", "payment_method"
)


def new_setup_intent(call: Call, customer: str | None, method: str, usage: str) -> JsonObject:
    intent_id = new_id("seti")
    intent: JsonObject = {
        "id": intent_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{intent_id}_secret_{new_id('s')[2:]}",
        "created": call.state.clock.now(),
        "customer": customer,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": {},
        "on_behalf_of": None,
        "payment_method": method,
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "succeeded",
        "usage": usage,
    }
    call.state.add(intent)
    call.emit("setup_intent.created", intent)
    call.emit("setup_intent.succeeded", intent)
    return intent
