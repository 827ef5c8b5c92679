"""Invoice items and the lines they make on a draft invoice (``add_lines``, ``lines``)."""

from __future__ import annotations

from stripe.params import (
    InvoiceAddLinesParams,
    InvoiceItemCreateParams,
    InvoiceItemDeleteParams,
    InvoiceItemListParams,
    InvoiceItemRetrieveParams,
    InvoiceItemUpdateParams,
    InvoiceLineItemListParams,
)

from .. import listing
from ..errors import invalid, missing_parameter, wrong_state
from ..routing import Call, Params, Routes
from ..state import JsonObject, State, merge_metadata, new_id, private
from . import line_prices

routes = Routes()


def new_item(
    call: Call, params: Params, customer: str, invoice: JsonObject | None, where: str = ""
) -> JsonObject:
    """An invoice item from ``amount`` or ``price_data`` (and ``quantity``)."""
    quantity = params.get("quantity", 1)
    now = call.state.clock.now()
    if "price_data" in params:
        price = line_prices.inline_price(
            call.state,
            params["price_data"],
            f"{where}price_data" if not where else f"{where}[price_data]",
        )
        amount = line_prices.line_amount(price, quantity)
        currency = price["currency"]
    elif "amount" in params:
        currency = (params.get("currency") or (invoice or {}).get("currency") or "").lower()
        if not currency:
            raise missing_parameter("currency")
        amount = params["amount"]
        if quantity != 1:
            raise invalid(
                "You cannot specify `quantity` with `amount`; use `price_data` instead.",
                param="quantity",
            )
        price = line_prices.inline_price(
            call.state,
            {"currency": currency, "unit_amount": amount, "product_data": {"name": "item"}},
            where,
        )
    else:
        raise invalid(
            "You must specify either `amount`, `price_data` or `pricing`.",
            param=f"{where}[amount]" if where else "amount",
            code="parameter_missing",
        )
    if invoice is not None and currency != invoice["currency"]:
        raise invalid(
            f"The currency of the invoice item ({currency}) must match the currency "
            f"of the invoice ({invoice['currency']}).",
            param="currency",
        )
    period = params.get("period", {"start": now, "end": now})
    item: JsonObject = {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": now,
        "description": params.get("description")
        or line_prices.product_name(params.get("price_data", {})),
        "discountable": params.get("discountable", True),
        "discounts": [],
        "invoice": invoice["id"] if invoice else None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata", {})),
        "net_amount": amount,
        "parent": None,
        "period": period,
        "pricing": _pricing(price),
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }
    call.state.add(item)
    if invoice is not None:
        add_line(invoice, item)
    call.emit("invoiceitem.created", item)
    return item


def _pricing(price: JsonObject) -> JsonObject:
    return {
        "price_details": {"price": price["id"], "product": price["product"]},
        "type": "price_details",
        "unit_amount_decimal": price["unit_amount_decimal"],
    }


def add_line(invoice: JsonObject, item: JsonObject) -> None:
    line: JsonObject = {
        "id": new_id("il"),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": item["period"],
        "pretax_credit_amounts": [],
        "pricing": item["pricing"],
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }
    private(invoice)["lines"].append(line)
    private(item)["line"] = line["id"]


def retotal(invoice: JsonObject) -> None:
    """An invoice's totals and first page of lines, from its lines and credit notes."""
    lines: list[JsonObject] = private(invoice)["lines"]
    subtotal = sum(line["amount"] for line in lines)
    amount_due = max(0, subtotal - invoice["pre_payment_credit_notes_amount"])
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=amount_due,
        amount_remaining=max(0, amount_due - invoice["amount_paid"]),
        lines=listing.embedded_list(list(reversed(lines)), f"/v1/invoices/{invoice['id']}/lines"),
    )


def draft(state: State, invoice_id: str, param: str) -> JsonObject:
    invoice = state.get(invoice_id, "invoice", param=param)
    if invoice["status"] != "draft":
        raise wrong_state("You can only add invoice items to draft invoices.", param=param)
    return invoice


@routes.add("post", "/v1/invoiceitems", InvoiceItemCreateParams)
def create(call: Call, params: Params) -> JsonObject:
    invoice = draft(call.state, params["invoice"], "invoice") if "invoice" in params else None
    customer = params.get("customer") or (invoice or {}).get("customer")
    if customer is None:
        raise missing_parameter("customer")
    call.state.get(customer, "customer", param="customer")
    if invoice is not None and invoice["customer"] != customer:
        raise invalid(
            "The invoice item's customer must be the invoice's customer.", param="invoice"
        )
    item = new_item(call, params, customer, invoice)
    if invoice is not None:
        retotal(invoice)
    return item


routes.retrieve("/v1/invoiceitems/{invoiceitem}", InvoiceItemRetrieveParams, "invoiceitem")


@routes.add("post", "/v1/invoiceitems/{invoiceitem}", InvoiceItemUpdateParams)
def update(call: Call, params: Params) -> JsonObject:
    item = call.state.get(call.ids["invoiceitem"], "invoiceitem")
    if "metadata" in params:
        item["metadata"] = merge_metadata(item["metadata"], params["metadata"])
    if "description" in params:
        item["description"] = params["description"] or None
    call.emit("invoiceitem.updated", item)
    return item


@routes.add("delete", "/v1/invoiceitems/{invoiceitem}", InvoiceItemDeleteParams)
def delete(call: Call, params: Params) -> JsonObject:
    item = call.state.get(call.ids["invoiceitem"], "invoiceitem")
    if item["invoice"] is not None:
        invoice = draft(call.state, item["invoice"], "invoiceitem")
        lines = private(invoice)["lines"]
        lines[:] = [line for line in lines if line["id"] != private(item).get("line")]
        retotal(invoice)
    item["deleted"] = True
    call.emit("invoiceitem.deleted", item)
    return {"id": item["id"], "object": "invoiceitem", "deleted": True}


@routes.add("get", "/v1/invoiceitems", InvoiceItemListParams)
def list_items(call: Call, params: Params) -> JsonObject:
    filters = listing.matching(params, "customer", "invoice")
    if params.get("pending"):
        filters.append(lambda i: i["invoice"] is None)
    return listing.list_object(call.state.all("invoiceitem"), params, "/v1/invoiceitems", filters)


@routes.add("post", "/v1/invoices/{invoice}/add_lines", InvoiceAddLinesParams)
def add_lines(call: Call, params: Params) -> JsonObject:
    invoice = draft(call.state, call.ids["invoice"], "invoice")
    for index, line in enumerate(params["lines"]):
        where = f"lines[{index}]"
        if "invoice_item" in line:
            item = call.state.get(
                line["invoice_item"], "invoiceitem", param=f"{where}[invoice_item]"
            )
            if item["invoice"] is not None or item["customer"] != invoice["customer"]:
                raise invalid(
                    "The invoice item is already on an invoice or belongs to another customer.",
                    param=f"{where}[invoice_item]",
                )
            item["invoice"] = invoice["id"]
            add_line(invoice, item)
        else:
            new_item(call, line, invoice["customer"], invoice, where)
    retotal(invoice)
    call.emit("invoice.updated", invoice)
    return invoice


@routes.add("get", "/v1/invoices/{invoice}/lines", InvoiceLineItemListParams)
def list_lines(call: Call, params: Params) -> JsonObject:
    invoice = call.state.get(call.ids["invoice"], "invoice")
    return listing.list_object(
        reversed(private(invoice)["lines"]), params, f"/v1/invoices/{invoice['id']}/lines"
    )
