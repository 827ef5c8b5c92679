"""Disputes: opened by the cardholder's bank (the control API), closed won or lost.

Opening one withdraws the disputed amount (``charge.dispute.created`` then
``charge.dispute.funds_withdrawn``); a lost dispute keeps the money with the cardholder
(``charge.dispute.closed``, status ``lost``), a won one reinstates it
(``charge.dispute.funds_reinstated``). Accepting one through the API (``close``) loses it.
"""

from __future__ import annotations

from stripe.params import (
    DisputeCloseParams,
    DisputeListParams,
    DisputeRetrieveParams,
    DisputeUpdateParams,
)

from ..errors import invalid, wrong_state
from ..routing import Call, Params, Routes
from ..state import JsonObject, Origin, State, merge_metadata, new_id

routes = Routes()
_EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def open_dispute(state: State, charge_id: str, *, reason: str, amount: int | None) -> JsonObject:
    call = Call(state, Origin())
    charge = state.get(charge_id, "charge", param="charge")
    if charge["status"] != "succeeded" or charge["disputed"]:
        raise wrong_state("Only a succeeded charge that is not already disputed can be.")
    amount = charge["amount_captured"] - charge["amount_refunded"] if amount is None else amount
    if not 0 < amount <= charge["amount_captured"]:
        raise invalid(
            "The disputed amount must be positive and at most the charge's.", param="amount"
        )
    now = state.clock.now()
    dispute: JsonObject = {
        "id": new_id("du"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": dict.fromkeys(_EVIDENCE_FIELDS) | {"enhanced_evidence": {}},
        "evidence_details": {
            "due_by": now + 7 * 24 * 60 * 60,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "case_type": "chargeback",
                "network": "visa",
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
    }
    state.add(dispute)
    charge["disputed"] = True
    call.emit("charge.dispute.created", dispute)
    call.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(state: State, dispute_id: str, *, won: bool) -> JsonObject:
    call = Call(state, Origin())
    dispute = state.get(dispute_id, "dispute")
    _close(call, dispute, won=won)
    return dispute


def _close(call: Call, dispute: JsonObject, *, won: bool) -> None:
    if dispute["status"] in ("won", "lost"):
        raise wrong_state(f"This dispute is already closed ({dispute['status']}).")
    dispute["status"] = "won" if won else "lost"
    call.state.touch(dispute)
    call.emit("charge.dispute.closed", dispute)
    if won:
        call.emit("charge.dispute.funds_reinstated", dispute)


routes.retrieve("/v1/disputes/{dispute}", DisputeRetrieveParams, "dispute")


@routes.add("post", "/v1/disputes/{dispute}", DisputeUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    dispute = call.state.get(call.ids["dispute"], "dispute")
    if "metadata" in params:
        dispute["metadata"] = merge_metadata(dispute["metadata"], params["metadata"])
    call.emit("charge.dispute.updated", dispute)
    return dispute


@routes.add("post", "/v1/disputes/{dispute}/close", DisputeCloseParams)
def close(call: Call, params: Params) -> JsonObject:
    """Accepting a dispute: the merchant gives up and loses it."""
    dispute = call.state.get(call.ids["dispute"], "dispute")
    _close(call, dispute, won=False)
    return dispute


routes.list("/v1/disputes", DisputeListParams, "dispute", "charge", "payment_intent")
