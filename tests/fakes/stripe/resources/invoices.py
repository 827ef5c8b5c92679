"""Invoices: draft, finalize, pay off-session, void, and Stripe's automatic advancement.

API-created invoices do not advance by themselves unless ``auto_advance`` is true; then a draft
is finalized an hour after creation and a ``charge_automatically`` invoice is charged an hour
after finalization, and a declined charge is retried every 3 days, 4 attempts in all (a fixed
stand-in for Smart Retries). A finalized invoice with an amount due has a PaymentIntent (reused by
every attempt) and a default InvoicePayment, as since API version 2025-03-31.
"""

from __future__ import annotations

from stripe.params import (
    InvoiceCreateParams,
    InvoiceDeleteParams,
    InvoiceFinalizeInvoiceParams,
    InvoiceListParams,
    InvoiceMarkUncollectibleParams,
    InvoicePaymentListParams,
    InvoicePaymentRetrieveParams,
    InvoicePayParams,
    InvoiceRetrieveParams,
    InvoiceSearchParams,
    InvoiceUpdateParams,
    InvoiceVoidInvoiceParams,
)

from .. import listing
from ..errors import invalid, missing_parameter
from ..render import INCLUDERS
from ..routing import Call, Params, Routes
from ..state import JsonObject, Origin, State, merge_metadata, new_id, private
from . import invoice_collection
from .invoice_items import retotal

routes = Routes()
HOUR = 60 * 60


@routes.add("post", "/v1/invoices", InvoiceCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    if "customer" not in params:
        raise missing_parameter("customer")
    customer = call.state.get(params["customer"], "customer", param="customer")
    method = params.get("collection_method", "charge_automatically")
    now = call.state.clock.now()
    due_date = params.get("due_date")
    if method == "send_invoice":
        if due_date is None and "days_until_due" not in params:
            raise invalid(
                "You must specify `due_date` or `days_until_due` when "
                "`collection_method` is `send_invoice`.",
                param="days_until_due",
            )
        due_date = due_date or now + params["days_until_due"] * 24 * HOUR
    elif "days_until_due" in params or due_date is not None:
        raise invalid(
            "`days_until_due` and `due_date` can only be set when "
            "`collection_method` is `send_invoice`.",
            param="days_until_due",
        )
    if "default_payment_method" in params:
        invoice_collection.owned_method(
            call.state, params["default_payment_method"], customer["id"], "default_payment_method"
        )
    auto_advance = params.get("auto_advance", False)
    invoice: JsonObject = {
        "id": new_id("in"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "Test account",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": now + HOUR if auto_advance else None,
        "billing_reason": "manual",
        "collection_method": method,
        "created": now,
        "currency": str(params.get("currency") or customer["currency"] or "usd").lower(),
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": customer["shipping"],
        "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": params.get("default_payment_method"),
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discounts": [],
        "due_date": due_date,
        "ending_balance": None,
        "footer": params.get("footer"),
        "issuer": {"type": "self"},
        "latest_revision": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "next_payment_attempt": None,
        "on_behalf_of": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "statement_descriptor": params.get("statement_descriptor"),
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "test_clock": None,
        "total_discount_amounts": [],
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
    }
    private(invoice)["lines"] = []
    call.state.add(invoice)
    if params.get("pending_invoice_items_behavior") == "include":
        invoice_collection.include_pending_items(call.state, invoice)
    retotal(invoice)
    call.emit("invoice.created", invoice)
    return invoice


routes.retrieve("/v1/invoices/{invoice}", InvoiceRetrieveParams, "invoice")


@routes.add("post", "/v1/invoices/{invoice}", InvoiceUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    previous = invoice_collection.apply_update(call.state, invoice, params)
    call.state.touch(invoice)
    call.emit("invoice.updated", invoice, previous=previous)
    return invoice


@routes.add("delete", "/v1/invoices/{invoice}", InvoiceDeleteParams)
def delete(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    invoice_collection.require_status(invoice, ("draft",), "You can only delete draft invoices.")
    invoice["deleted"] = True
    call.emit("invoice.deleted", invoice)
    return {"id": invoice["id"], "object": "invoice", "deleted": True}


@routes.add("post", "/v1/invoices/{invoice}/finalize", InvoiceFinalizeInvoiceParams)
def finalize(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    if "auto_advance" in params:
        invoice["auto_advance"] = params["auto_advance"]
    invoice_collection.finalize(call, invoice)
    return invoice


@routes.add("post", "/v1/invoices/{invoice}/pay", InvoicePayParams)
def pay(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    invoice_collection.pay(call, invoice, params)
    return invoice


@routes.add("post", "/v1/invoices/{invoice}/void", InvoiceVoidInvoiceParams)
def void(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    invoice_collection.void(call, invoice)
    return invoice


@routes.add("post", "/v1/invoices/{invoice}/mark_uncollectible", InvoiceMarkUncollectibleParams)
def mark_uncollectible(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    invoice_collection.require_status(
        invoice, ("open",), "You can only mark open invoices as uncollectible."
    )
    invoice.update(status="uncollectible", auto_advance=False, next_payment_attempt=None)
    invoice["status_transitions"]["marked_uncollectible_at"] = call.state.clock.now()
    call.state.touch(invoice)
    call.emit("invoice.marked_uncollectible", invoice)
    return invoice


@routes.add("get", "/v1/invoices", InvoiceListParams)
def list_invoices(call: Call, params: Params) -> JsonObject:
    filters = listing.matching(params, "customer", "status", "collection_method")
    if "due_date" in params:
        filters.append(listing.created_filter(params["due_date"], "due_date"))
    return listing.list_object(call.state.all("invoice"), params, "/v1/invoices", filters)


routes.search("/v1/invoices/search", InvoiceSearchParams, "invoice", "invoices")


def _payments(state: State, invoice: JsonObject) -> JsonObject:
    payments = [p for p in state.all("invoice_payment") if p["invoice"] == invoice["id"]]
    return listing.embedded_list(payments, f"/v1/invoice_payments?invoice={invoice['id']}")


INCLUDERS[("invoice", "payments")] = _payments


@routes.add("get", "/v1/invoice_payments", InvoicePaymentListParams)
def list_invoice_payments(call: Call, params: Params) -> JsonObject:
    """Invoice payments, filtered by ``invoice``, ``status`` and ``payment``: its ``type``
    (required with it) and the ``payment_intent`` or ``payment_record`` it names."""
    filters = listing.matching(params, "invoice", "status")
    wanted = params.get("payment")
    if wanted is not None:
        if "type" not in wanted:
            raise missing_parameter("payment[type]")
        named = {key: value for key, value in wanted.items() if key != "type"}

        def paid_by(obj: JsonObject) -> bool:
            payment = obj["payment"]
            return payment["type"] == wanted["type"] and all(
                payment.get(key) == value for key, value in named.items()
            )

        filters.append(paid_by)
    return listing.list_object(
        call.state.all("invoice_payment"), params, "/v1/invoice_payments", filters
    )


routes.retrieve(
    "/v1/invoice_payments/{invoice_payment}", InvoicePaymentRetrieveParams, "invoice_payment"
)


def tick(state: State) -> None:
    """Automatic advancement: finalize drafts, then charge, then retry, when they are due."""
    now = state.clock.now()
    call = Call(state, Origin())
    for invoice in list(state.all("invoice")):
        if not invoice["auto_advance"]:
            continue
        due_at = invoice["automatically_finalizes_at"]
        if invoice["status"] == "draft" and due_at is not None and due_at <= now:
            invoice_collection.finalize(call, invoice)
        attempt_at = invoice["next_payment_attempt"]
        if invoice["status"] == "open" and attempt_at is not None and attempt_at <= now:
            invoice_collection.attempt_automatically(call, invoice)
