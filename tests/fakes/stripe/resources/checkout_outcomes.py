"""What the buyer does on a Checkout page, driven by the control API.

``complete(..., outcome="paid")`` pays by card at once; ``outcome="processing"`` completes the
session unpaid with a bank debit whose result ``settle`` delivers later, as
``checkout.session.async_payment_succeeded`` or ``checkout.session.async_payment_failed``.
The events carry no request id: on Stripe they come from the buyer, not from an API call.
"""

from __future__ import annotations

from ..errors import wrong_state
from ..routing import Call
from ..state import JsonObject, Origin, State, private
from . import charges, customers, payments


def complete(state: State, session_id: str, *, outcome: str, card: str) -> JsonObject:
    call = Call(state, Origin())
    session = state.get(session_id, "checkout.session")
    if session["status"] != "open":
        raise wrong_state(
            f"This Checkout Session is {session['status']}; only an open one can be completed."
        )
    customer = _customer(call, session)
    if session["mode"] == "setup":
        _complete_setup(call, session, customer, card)
    else:
        _complete_payment(call, session, customer, outcome, card)
    session.update(
        status="complete",
        url=None,
        customer=customer["id"] if customer else None,
        customer_details=_customer_details(session, customer),
    )
    state.touch(session)
    call.emit("checkout.session.completed", session)
    return session


def _customer(call: Call, session: JsonObject) -> JsonObject | None:
    if session["customer"] is not None:
        return call.state.get(session["customer"], "customer")
    saving = private(session)["payment_intent_data"].get("setup_future_usage")
    if session["mode"] == "setup" or session["customer_creation"] == "always" or saving:
        return customers.create(
            call, {"email": session["customer_email"]} if session["customer_email"] else {}
        )
    return None


def _customer_details(session: JsonObject, customer: JsonObject | None) -> JsonObject:
    email = customer["email"] if customer else session["customer_email"]
    return {
        "address": None,
        "business_name": None,
        "email": email or "buyer@example.com",
        "individual_name": None,
        "name": customer["name"] if customer else None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _complete_setup(
    call: Call, session: JsonObject, customer: JsonObject | None, card: str
) -> None:
    assert customer is not None  # setup mode always has one (``_customer``)
    method = customers.new_card(call.state, card)
    customers.attach(call, method, customer)
    usage = private(session)["setup_intent_data"].get("usage", "off_session")
    intent = charges.new_setup_intent(call, customer["id"], method["id"], usage)
    session["setup_intent"] = intent["id"]


def _complete_payment(
    call: Call, session: JsonObject, customer: JsonObject | None, outcome: str, card: str
) -> None:
    data = private(session)["payment_intent_data"]
    method = (
        customers.new_card(call.state, card)
        if outcome == "paid"
        else customers.new_bank_account(call.state)
    )
    intent = payments.new_intent(
        call,
        {
            "amount": session["amount_total"],
            "currency": session["currency"],
            **({"customer": customer["id"]} if customer else {}),
            "metadata": data.get("metadata", {}),
            **{
                name: data[name]
                for name in ("description", "setup_future_usage", "transfer_group")
                if name in data
            },
            "payment_method": method["id"],
        },
    )
    session["payment_intent"] = intent["id"]
    if outcome == "paid":
        payments.confirm_intent(call, intent, off_session=False)
        session["payment_status"] = "paid"
        return
    charge = payments.new_charge(call, intent, method, "pending")
    intent.update(status="processing", latest_charge=charge["id"])
    call.emit("charge.pending", charge)
    call.emit("payment_intent.processing", intent)


def settle(state: State, session_id: str, *, succeeded: bool) -> JsonObject:
    """The delayed outcome of a session completed unpaid."""
    call = Call(state, Origin())
    session = state.get(session_id, "checkout.session")
    intent = state.objects.get(session["payment_intent"] or "")
    if session["status"] != "complete" or intent is None or intent["status"] != "processing":
        raise wrong_state(
            "Only a completed Checkout Session whose payment is processing can settle."
        )
    charge = state.get(intent["latest_charge"], "charge")
    if succeeded:
        payments.succeed(call, intent, charge)
        session["payment_status"] = "paid"
        event = "checkout.session.async_payment_succeeded"
    else:
        payments.fail(call, intent, charge, "insufficient_funds")
        event = "checkout.session.async_payment_failed"
    state.touch(session)
    call.emit(event, session)
    return session
