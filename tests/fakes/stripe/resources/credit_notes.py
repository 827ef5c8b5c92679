"""Credit notes: reduce what an open invoice asks for, or give back part of a paid one.

On an ``open`` invoice a credit note is ``pre_payment`` and lowers ``amount_due`` (an invoice
credited to zero is paid). On a ``paid`` invoice it is ``post_payment`` and its amount must be
split, exactly, into ``refund_amount`` (a Refund of the invoice's charge), ``credit_amount`` (the
customer's balance) and ``out_of_band_amount``.
"""

from __future__ import annotations

from stripe.params import (
    CreditNoteCreateParams,
    CreditNoteListParams,
    CreditNoteRetrieveParams,
    CreditNoteVoidCreditNoteParams,
)

from .. import listing
from ..errors import invalid, missing_parameter, wrong_state
from ..routing import Call, Params, Routes
from ..state import JsonObject, State, merge_metadata, new_id, private
from . import charges, invoice_collection
from .invoice_items import retotal

routes = Routes()


@routes.add("post", "/v1/credit_notes", CreditNoteCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(params["invoice"], "invoice", param="invoice")
    if invoice["status"] not in ("open", "paid"):
        raise wrong_state(
            f"You can only create credit notes on open or paid invoices; this "
            f"one is {invoice['status']}.",
            param="invoice",
        )
    lines = [_line(line, index) for index, line in enumerate(params.get("lines", []))]
    amount = params.get("amount", sum(line["amount"] for line in lines))
    if amount <= 0:
        raise invalid("The credit note amount must be positive.", param="amount")
    post_payment = invoice["status"] == "paid"
    limit = (
        invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
        if post_payment
        else invoice["amount_remaining"]
    )
    if amount > limit:
        raise invalid(
            f"The credit note amount ({amount}) cannot exceed the invoice's "
            f"remaining creditable amount ({limit}).",
            param="amount",
        )
    refund_id = _settle(call, invoice, params, amount) if post_payment else None
    note = _note(call.state, invoice, params, amount, lines, post_payment, refund_id)
    call.state.add(note)
    if post_payment:
        invoice["post_payment_credit_notes_amount"] += amount
    else:
        invoice["pre_payment_credit_notes_amount"] += amount
        retotal(invoice)
    call.state.touch(invoice)
    call.emit("credit_note.created", note)
    call.emit("invoice.updated", invoice)
    if not post_payment and invoice["amount_remaining"] == 0:
        invoice_collection.cancel_and_mark_paid(call, invoice)
    return note


def _line(line: Params, index: int) -> JsonObject:
    where = f"lines[{index}]"
    if line.get("type") == "invoice_line_item" and "invoice_line_item" not in line:
        raise missing_parameter(f"{where}[invoice_line_item]")
    amount = line.get("amount", line.get("unit_amount", 0) * line.get("quantity", 1))
    return {
        "id": new_id("cnli"),
        "object": "credit_note_line_item",
        "amount": amount,
        "description": line.get("description"),
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": line.get("invoice_line_item"),
        "livemode": False,
        "metadata": dict(line.get("metadata", {})),
        "pretax_credit_amounts": [],
        "quantity": line.get("quantity", 1),
        "tax_rates": [],
        "taxes": [],
        "type": line.get("type", "custom_line_item"),
        "unit_amount": line.get("unit_amount", amount),
        "unit_amount_decimal": str(line.get("unit_amount", amount)),
    }


def _settle(call: Call, invoice: JsonObject, params: Params, amount: int) -> str | None:
    refund_amount = params.get("refund_amount", 0)
    credit_amount = params.get("credit_amount", 0)
    out_of_band = params.get("out_of_band_amount", 0)
    if refund_amount + credit_amount + out_of_band != amount:
        raise invalid(
            f"The sum of credit_amount, refund_amount and out_of_band_amount "
            f"({refund_amount + credit_amount + out_of_band}) must equal the credit note amount "
            f"({amount}).",
            param="refund_amount",
        )
    if credit_amount:
        customer = call.state.get(invoice["customer"], "customer")
        customer["balance"] -= credit_amount
    if not refund_amount:
        return None
    payment = call.state.get(private(invoice)["payment"], "invoice_payment")
    intent = call.state.get(payment["payment"]["payment_intent"], "payment_intent")
    charge = call.state.get(intent["latest_charge"], "charge")
    refund = charges.refund(call, charge, refund_amount, None, {})
    return str(refund["id"])


def _note(
    state: State,
    invoice: JsonObject,
    params: Params,
    amount: int,
    lines: list[JsonObject],
    post_payment: bool,
    refund_id: str | None,
) -> JsonObject:
    sequence = state.next_number(f"credit_notes:{invoice['id']}")
    refunds = (
        []
        if refund_id is None
        else [
            {
                "amount_refunded": params.get("refund_amount", 0),
                "payment_record_refund": None,
                "refund": refund_id,
                "type": "refund",
            }
        ]
    )
    return {
        "id": new_id("cn"),
        "object": "credit_note",
        "amount": amount,
        "amount_shipping": 0,
        "created": state.clock.now(),
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "customer_balance_transaction": None,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": state.clock.now(),
        "invoice": invoice["id"],
        "lines": listing.embedded_list(lines, "/v1/credit_notes/lines"),
        "livemode": False,
        "memo": params.get("memo"),
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "number": f"{invoice['number']}-CN-{sequence:02d}",
        "out_of_band_amount": params.get("out_of_band_amount"),
        "pdf": f"{state.base_url}/cn/{invoice['id']}/{sequence}/pdf",
        "post_payment_amount": amount if post_payment else 0,
        "pre_payment_amount": 0 if post_payment else amount,
        "pretax_credit_amounts": [],
        "reason": params.get("reason"),
        "refunds": refunds,
        "shipping_cost": None,
        "status": "issued",
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": amount,
        "total_excluding_tax": amount,
        "total_taxes": [],
        "type": "post_payment" if post_payment else "pre_payment",
        "voided_at": None,
    }


routes.retrieve("/v1/credit_notes/{id}", CreditNoteRetrieveParams, "credit_note")


routes.list("/v1/credit_notes", CreditNoteListParams, "credit_note", "customer", "invoice")


@routes.add("post", "/v1/credit_notes/{id}/void", CreditNoteVoidCreditNoteParams)
def void(call: Call, params: Params) -> JsonObject:
    note = call.state.get(call.ids["id"], "credit_note")
    if note["status"] != "issued" or note["type"] != "pre_payment":
        raise wrong_state("Only issued pre-payment credit notes can be voided here.")
    invoice = call.state.get(note["invoice"], "invoice")
    if invoice["status"] != "open":
        raise wrong_state("The credit note's invoice is no longer open.")
    invoice["pre_payment_credit_notes_amount"] -= note["amount"]
    retotal(invoice)
    note.update(status="void", voided_at=call.state.clock.now())
    call.emit("credit_note.voided", note)
    return note
