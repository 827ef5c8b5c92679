"""Collecting an invoice: finalization, payment attempts, voiding.

An attempt charges the invoice's PaymentIntent with the method given to ``pay``, else the
invoice's ``default_payment_method``, else the customer's
``invoice_settings.default_payment_method``. A declined attempt counts in ``attempt_count``,
sends ``invoice.payment_failed`` and answers the 402 card error; the invoice stays ``open``.
"""

from __future__ import annotations

from ..errors import StripeError, invalid, wrong_state
from ..routing import Call, Params
from ..state import JsonObject, State, merge_metadata, new_id, private
from . import payments
from .invoice_items import add_line, retotal

HOUR = 60 * 60
RETRY_SECONDS = 3 * 24 * HOUR
MAX_AUTOMATIC_ATTEMPTS = 4
_DRAFT_FIELDS = ("collection_method", "description", "footer", "statement_descriptor", "due_date")


def require_status(invoice: JsonObject, allowed: tuple[str, ...], message: str) -> None:
    if invoice["status"] not in allowed:
        raise wrong_state(message)


def owned_method(state: State, method_id: str, customer_id: str, param: str) -> JsonObject:
    method = state.get(method_id, "payment_method", param=param)
    if method["customer"] != customer_id:
        raise invalid(
            f"The PaymentMethod {method_id} does not belong to the Customer {customer_id}. "
            "Please use a PaymentMethod that belongs to this Customer.",
            param=param,
        )
    return method


def include_pending_items(state: State, invoice: JsonObject) -> None:
    for item in reversed(list(state.all("invoiceitem"))):
        pending = item["invoice"] is None and item["customer"] == invoice["customer"]
        if pending and item["currency"] == invoice["currency"]:
            item["invoice"] = invoice["id"]
            add_line(invoice, item)


def apply_update(state: State, invoice: JsonObject, params: Params) -> JsonObject:
    """Change what Stripe lets change in the invoice's status; return the previous values."""
    require_status(
        invoice,
        ("draft", "open", "uncollectible"),
        f"This invoice is {invoice['status']} and can no longer be updated.",
    )
    editable = set(params) - {"expand"}
    if invoice["status"] != "draft":
        locked = editable - {"metadata", "auto_advance", "description", "footer"}
        if locked:
            raise invalid(
                f"You can only update {sorted(locked)[0]} on a draft invoice.",
                param=sorted(locked)[0],
            )
    previous = {name: invoice[name] for name in editable if name in invoice}
    if "metadata" in params:
        invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
    if "auto_advance" in params:
        invoice["auto_advance"] = params["auto_advance"]
        if invoice["status"] == "draft":
            invoice["automatically_finalizes_at"] = (
                invoice["created"] + HOUR if params["auto_advance"] else None
            )
    if "default_payment_method" in params:
        method = params["default_payment_method"]
        if method:
            owned_method(state, method, invoice["customer"], "default_payment_method")
        invoice["default_payment_method"] = method or None
    for name in _DRAFT_FIELDS:
        if name in params:
            invoice[name] = params[name] or None
    return previous


def finalize(call: Call, invoice: JsonObject) -> None:
    require_status(
        invoice,
        ("draft",),
        "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
    )
    state = call.state
    customer = state.get(invoice["customer"], "customer")
    now = state.clock.now()
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    invoice.update(
        status="open",
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        automatically_finalizes_at=None,
        effective_at=now,
        ending_balance=0,
        hosted_invoice_url=f"{state.base_url}/i/{invoice['id']}",
        invoice_pdf=f"{state.base_url}/i/{invoice['id']}/pdf",
    )
    invoice["status_transitions"]["finalized_at"] = now
    retotal(invoice)
    if invoice["amount_due"] > 0:
        _open_payment(call, invoice)
    if invoice["auto_advance"] and invoice["collection_method"] == "charge_automatically":
        invoice["next_payment_attempt"] = now + HOUR
    state.touch(invoice)
    call.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:
        _mark_paid(call, invoice)


def _open_payment(call: Call, invoice: JsonObject) -> None:
    intent = payments.new_intent(
        call,
        {
            "amount": invoice["amount_due"],
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "description": f"Invoice {invoice['number']}",
        },
    )
    payment: JsonObject = {
        "id": new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_due"],
        "created": call.state.clock.now(),
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {
            "charge": None,
            "payment_intent": intent["id"],
            "payment_record": None,
            "type": "payment_intent",
        },
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    call.state.add(payment)
    private(invoice)["payment"] = payment["id"]
    invoice["confirmation_secret"] = {
        "client_secret": intent["client_secret"],
        "type": "payment_intent",
    }


def pay(call: Call, invoice: JsonObject, params: Params) -> None:
    if invoice["status"] == "paid":
        raise wrong_state("Invoice is already paid", param="invoice")
    require_status(
        invoice,
        ("draft", "open", "uncollectible"),
        f"This invoice is {invoice['status']} and cannot be paid.",
    )
    if invoice["status"] == "draft":
        finalize(call, invoice)
        if invoice["status"] == "paid":
            return
    if params.get("paid_out_of_band"):
        invoice["amount_paid_off_stripe"] = invoice["amount_remaining"]
        invoice["amount_paid"] += invoice["amount_remaining"]
        _cancel_payment(call, invoice)
        _mark_paid(call, invoice)
        return
    method = _method_for(call.state, invoice, params.get("payment_method"))
    _attempt(call, invoice, method, off_session=params.get("off_session", True))


def _method_for(state: State, invoice: JsonObject, given: str | None) -> JsonObject:
    customer = state.get(invoice["customer"], "customer")
    method_id = (
        given
        or invoice["default_payment_method"]
        or customer["invoice_settings"]["default_payment_method"]
    )
    if method_id is None:
        raise invalid(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            param="payment_method",
        )
    return owned_method(state, method_id, customer["id"], "payment_method")


def _attempt(call: Call, invoice: JsonObject, method: JsonObject, *, off_session: bool) -> None:
    payment = call.state.get(private(invoice)["payment"], "invoice_payment")
    intent = call.state.get(payment["payment"]["payment_intent"], "payment_intent")
    intent["payment_method"] = method["id"]
    intent["amount"] = invoice["amount_remaining"]  # credit notes may have lowered it
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    try:
        payments.confirm_intent(call, intent, off_session=off_session)
    except StripeError:
        retry = invoice["auto_advance"] and invoice["attempt_count"] < MAX_AUTOMATIC_ATTEMPTS
        invoice["next_payment_attempt"] = call.state.clock.now() + RETRY_SECONDS if retry else None
        call.state.touch(invoice)
        call.emit("invoice.payment_failed", invoice)
        raise
    payment.update(status="paid", amount_paid=intent["amount"])
    payment["status_transitions"]["paid_at"] = call.state.clock.now()
    call.emit("invoice_payment.paid", payment)
    invoice["amount_paid"] += intent["amount"]
    _mark_paid(call, invoice)


def attempt_automatically(call: Call, invoice: JsonObject) -> None:
    """Stripe's own attempt (auto_advance): a decline is recorded, not raised."""
    try:
        _attempt(call, invoice, _method_for(call.state, invoice, None), off_session=True)
    except StripeError:
        return


def _mark_paid(call: Call, invoice: JsonObject) -> None:
    invoice.update(status="paid", amount_remaining=0, auto_advance=False, next_payment_attempt=None)
    invoice["status_transitions"]["paid_at"] = call.state.clock.now()
    call.state.touch(invoice)
    call.emit("invoice.paid", invoice)
    call.emit("invoice.payment_succeeded", invoice)


def _cancel_payment(call: Call, invoice: JsonObject) -> None:
    payment_id = private(invoice).get("payment")
    if payment_id is None:
        return
    payment = call.state.get(payment_id, "invoice_payment")
    intent = call.state.get(payment["payment"]["payment_intent"], "payment_intent")
    if intent["status"] != "canceled":
        payments.cancel_intent(call, intent, "void_invoice")
    payment["status"] = "canceled"
    payment["status_transitions"]["canceled_at"] = call.state.clock.now()


def cancel_and_mark_paid(call: Call, invoice: JsonObject) -> None:
    """An open invoice whose amount due a credit note took to zero: paid, nothing collected."""
    _cancel_payment(call, invoice)
    _mark_paid(call, invoice)


def void(call: Call, invoice: JsonObject) -> None:
    require_status(
        invoice,
        ("open", "uncollectible"),
        f"You can only void open or uncollectible invoices; this one is {invoice['status']}.",
    )
    _cancel_payment(call, invoice)
    invoice.update(status="void", auto_advance=False, next_payment_attempt=None)
    invoice["status_transitions"]["voided_at"] = call.state.clock.now()
    call.state.touch(invoice)
    call.emit("invoice.voided", invoice)
