"""meterstack's invoices mirrored on Stripe, and collected there (D10, D29, B10).

The meterstack invoice is the invoice of record; its Stripe twin carries the same lines and
total and our number in its metadata (``meterstack_invoice``), so that Stripe's customer portal
shows the customer's invoices. The twin is made with ``auto_advance`` off: Stripe neither
finalizes it nor retries it on its own schedule, meterstack's dunning (D29) decides every
attempt. Each step has an idempotency key made of the number (and the attempt), and before
making anything the twin is looked for by its metadata, so a retry days after Stripe forgot the
keys finds the first twin and does not charge twice.
"""

from __future__ import annotations

from typing import Any

import stripe

from meterstack.errors import ConflictError
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import Collected, attempt_key
from meterstack.services.payments.stripe_amounts import stripe_currency, to_stripe_amount
from meterstack.services.payments.stripe_calls import (
    ACCOUNT_KEY,
    ATTEMPT_KEY,
    decline_reason,
    metadata_of,
    metadata_query,
    provider_call,
)

INVOICE_KEY = "meterstack_invoice"
POSITION_KEY = "meterstack_line"


def invoice_number(invoice: Invoice) -> str:
    if invoice.number is None:
        raise ConflictError("a draft invoice is not collected", invoice_id=invoice.id)
    return invoice.number


def find_twin(client: stripe.StripeClient, number: str) -> stripe.Invoice | None:
    """The Stripe invoice mirroring ``number``, when one was made (a voided one aside)."""
    query = metadata_query(INVOICE_KEY, number)
    found = provider_call(lambda: client.v1.invoices.search(params={"query": query, "limit": 10}))
    twins = [twin for twin in found.data if twin.status != "void"]
    return twins[0] if twins else None


def mirror(client: stripe.StripeClient, invoice: Invoice, customer_id: str) -> stripe.Invoice:
    """The invoice's finalized Stripe twin: found, or drafted with its lines and finalized."""
    number = invoice_number(invoice)
    twin = find_twin(client, number)
    if twin is None:
        params: Any = {
            "customer": customer_id,
            "currency": stripe_currency(invoice.currency),
            "auto_advance": False,
            "collection_method": "charge_automatically",
            "description": f"Invoice {number}",
            "metadata": {INVOICE_KEY: number, ACCOUNT_KEY: invoice.account_id},
        }
        twin = provider_call(
            lambda: client.v1.invoices.create(
                params=params, options={"idempotency_key": f"meterstack-invoice-{number}"}
            )
        )
    if twin.status == "draft":
        twin = _with_lines(client, twin, invoice)
        twin_id = str(twin.id)
        twin = provider_call(
            lambda: client.v1.invoices.finalize_invoice(
                twin_id,
                params={"auto_advance": False},
                options={"idempotency_key": f"meterstack-invoice-{number}-finalize"},
            )
        )
    expected = to_stripe_amount(invoice.total, invoice.currency)
    if twin.total != expected:
        raise ConflictError(
            f"the Stripe invoice of {number} totals {twin.total}, not {expected}: "
            "it is not collected",
            invoice=number,
        )
    return twin


def _with_lines(
    client: stripe.StripeClient, twin: stripe.Invoice, invoice: Invoice
) -> stripe.Invoice:
    """The draft twin with the lines it lacks (a first attempt may have stopped before)."""
    twin_id = str(twin.id)
    listed = provider_call(
        lambda: client.v1.invoices.line_items.list(twin_id, params={"limit": 100})
    )
    present = {metadata_of(line).get(POSITION_KEY) for line in listed.data}
    missing: list[Any] = [
        {
            "amount": to_stripe_amount(line.amount, invoice.currency),
            "description": line.description[:500],
            "metadata": {POSITION_KEY: str(line.position)},
        }
        for line in invoice.lines
        if str(line.position) not in present
    ]
    if not missing:
        return twin
    number = invoice_number(invoice)
    return provider_call(
        lambda: client.v1.invoices.add_lines(
            twin_id,
            params={"lines": missing},
            options={"idempotency_key": f"meterstack-invoice-{number}-lines-{len(present)}"},
        )
    )


def collect_invoice(
    client: stripe.StripeClient,
    invoice: Invoice,
    attempt: int,
    customer_id: str,
    payment_method: str | None,
) -> Collected:
    """Attempt ``attempt`` at collecting the invoice off-session with the saved card."""
    key = attempt_key(invoice_number(invoice), attempt)
    twin = mirror(client, invoice, customer_id)
    if twin.status == "paid":
        return Collected(True, key)
    if twin.status != "open":
        return Collected(False, key, f"the Stripe invoice is {twin.status}")
    if payment_method is None:
        return Collected(False, key, "no payment method on file")
    twin_id = str(twin.id)
    provider_call(
        lambda: client.v1.invoices.update(
            twin_id,
            params={"metadata": {ATTEMPT_KEY: str(attempt)}},
            options={"idempotency_key": f"meterstack-invoice-{key}-mark"},
        )
    )
    try:
        paid = provider_call(
            lambda: client.v1.invoices.pay(
                twin_id,
                params={"payment_method": payment_method, "off_session": True},
                options={"idempotency_key": f"meterstack-invoice-{key}"},
            )
        )
    except stripe.CardError as declined:
        return Collected(False, key, decline_reason(declined))
    if paid.status != "paid":
        return Collected(False, key, f"the Stripe invoice is {paid.status}")
    return Collected(True, key)


def record_paid(
    client: stripe.StripeClient, invoice: Invoice, customer_id: str
) -> stripe.Invoice | None:
    """Mirror an invoice a checkout already paid, marked paid outside Stripe's invoice (the
    Checkout Session took the money): the portal shows it, nothing is charged again.

    An invoice with nothing due (an upgrade paid from credit) is not mirrored.
    """
    if invoice.total <= 0:
        return None
    twin = mirror(client, invoice, customer_id)
    if twin.status != "open":
        return twin
    number = invoice_number(invoice)
    twin_id = str(twin.id)
    return provider_call(
        lambda: client.v1.invoices.pay(
            twin_id,
            params={"paid_out_of_band": True},
            options={"idempotency_key": f"meterstack-invoice-{number}-paid"},
        )
    )
