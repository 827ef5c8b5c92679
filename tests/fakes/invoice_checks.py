"""An invoice check that fails the rating of the accounts a test names, as a price the rating
cannot compute would: ``METERSTACK_INVOICE_CHECK=fakes.invoice_checks:unratable`` (the
``unratable`` fixture sets it and empties :data:`UNRATABLE` after the test)."""

from __future__ import annotations

from meterstack.records.invoicing import Invoice

#: The accounts whose invoices the check refuses.
UNRATABLE: set[str] = set()
#: What ``METERSTACK_INVOICE_CHECK`` names to use the check below.
SPEC = "fakes.invoice_checks:unratable"


def unratable(invoice: Invoice) -> None:
    if invoice.account_id in UNRATABLE:
        raise ArithmeticError("rating fault")
