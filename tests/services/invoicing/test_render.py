"""The invoice of record (D10) rendered for people: what a reader sees in the HTML and the PDF.

Money is the D15 decimal string followed by the currency code (``45.00 USD``) in both renderings.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.services.invoicing.render import render_html, render_pdf

D = Decimal
OVERAGE_NOTE = "60,000 used, 50,000 included: 10,000 over x 1.00 per 1,000 = 10.00"


def line(
    position: int,
    description: str,
    quantity: str,
    unit_price: str,
    amount: str,
    *,
    kind: str = "usage",
    item: str | None = "messages",
    derivation: dict[str, Any] | None = None,
) -> InvoiceLine:
    return InvoiceLine(
        position=position,
        kind=kind,
        description=description,
        item=item,
        quantity=D(quantity),
        unit_price=D(unit_price),
        amount=D(amount),
        derivation=derivation if derivation is not None else {},
    )


SUBSCRIPTION = line(
    1,
    "BASIC plan, January 2026",
    "1",
    "29",
    "29.00",
    kind="subscription",
    item=None,
    derivation={"note": "BASIC monthly fee, in advance"},
)
OVERAGE = line(
    2,
    "API calls over the included 50,000",
    "10",
    "1.00",
    "10.00",
    kind="overage",
    item="api_calls",
    derivation={"used": 60000, "included": 50000, "note": OVERAGE_NOTE},
)
MESSAGES = line(
    3,
    "Bot messages",
    "12000",
    "0.0005",
    "6.00",
    derivation={"used": D("12000"), "unit_price": D("0.0005"), "minimum_applied": False},
)


def invoice(*lines: InvoiceLine, **changes: Any) -> Invoice:
    lines = lines or (SUBSCRIPTION, OVERAGE, MESSAGES)
    base = Invoice(
        id="inv_01",
        number="INV-2026-000042",
        account_id="acct_7f3a",
        status=InvoiceStatus.FINALIZED,
        currency="USD",
        period_key="2026-01",
        period_start=datetime(2026, 1, 1, tzinfo=UTC),
        period_end=datetime(2026, 2, 1, tzinfo=UTC),
        created_at=datetime(2026, 2, 1, 0, 5, tzinfo=UTC),
        lines=lines,
        total=sum((item.amount for item in lines), D(0)),
        plan="BASIC",
        catalog="agentstack",
    )
    return dataclasses.replace(base, **changes)


def pdf_text(document: Invoice, **options: Any) -> str:
    """The uncompressed PDF as text, with the PDF string escapes of parentheses undone."""
    raw = render_pdf(document, compress=False, **options).decode("latin-1")
    return re.sub(r"\\([()\\])", r"\1", raw)


# --- HTML ----------------------------------------------------------------------------------------


def test_html_shows_the_invoice_a_reader_needs() -> None:
    html = render_html(invoice())

    for seen in (
        "<h1>Invoice INV-2026-000042</h1>",
        "<dd>finalized</dd>",
        "<dd>acct_7f3a</dd>",
        "<dd>BASIC</dd>",
        "<dd>agentstack</dd>",
        "<dd>January 2026</dd>",
        "<dd>2026-02-01</dd>",
        "Unit price (USD)",
        "Amount (USD)",
        '<td class="num">45.00 USD</td>',
    ):
        assert seen in html, seen


def test_html_lines_show_quantity_unit_price_amount_and_derivation() -> None:
    html = render_html(invoice())

    assert (
        '<td>API calls over the included 50,000</td><td class="num">10</td>'
        '<td class="num">1.00</td><td class="num">10.00</td>'
    ) in html
    assert f"<small>{OVERAGE_NOTE}</small>" in html
    # 12,000 messages at 0.0005: the quantity is grouped, the unit price keeps its decimals.
    assert '<td class="num">12,000</td><td class="num">0.0005</td><td class="num">6.00</td>' in html
    # A derivation without a sentence is shown as its facts.
    assert "<small>used: 12000; unit_price: 0.0005; minimum_applied: no</small>" in html


def test_html_is_a_self_contained_document() -> None:
    html = render_html(invoice())

    assert html.startswith("<!DOCTYPE html>\n<html")
    assert html.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in html
    assert "<style>" in html
    for external in ("<script", "<link", "src=", "http://", "https://", "@import", "url("):
        assert external not in html, external


def test_draft_shows_draft_instead_of_a_number() -> None:
    draft = invoice(number=None, status=InvoiceStatus.DRAFT)

    html = render_html(draft)

    assert "<h1>Invoice DRAFT</h1>" in html
    assert "<dd>draft</dd>" in html
    assert "Invoice DRAFT" in pdf_text(draft)


def test_html_escapes_every_text() -> None:
    hostile = line(1, "<script>alert('x')</script> & co", "1", "5", "5.00", derivation={})
    document = invoice(hostile, account_id='acct"><b>', plan="<i>PRO</i>")

    html = render_html(document, seller="Tom & Jerry <Ltd>")

    assert "<script>" not in html
    assert "<td>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co</td>" in html
    assert "<dd>acct&quot;&gt;&lt;b&gt;</dd>" in html
    assert "<dd>&lt;i&gt;PRO&lt;/i&gt;</dd>" in html
    assert '<p class="seller">Tom &amp; Jerry &lt;Ltd&gt;</p>' in html
    # A line without a derivation has no derivation row.
    assert 'class="derivation"' not in html


@pytest.mark.parametrize(
    ("currency", "unit_price", "shown"),
    [
        ("USD", "1", "1.00"),
        ("USD", "29.5", "29.50"),
        ("USD", "0.50000", "0.50"),
        ("USD", "0.0005", "0.0005"),
        ("USD", "0.00200", "0.002"),
        ("USD", "1250", "1250.00"),
        ("JPY", "5", "5"),
        ("JPY", "0.5", "0.5"),
    ],
)
def test_unit_prices_keep_their_decimals_but_at_least_the_minor_unit(
    currency: str, unit_price: str, shown: str
) -> None:
    priced = line(1, "Seats", "4", unit_price, "0", derivation={})

    html = render_html(invoice(priced, currency=currency))

    assert f'<td class="num">4</td><td class="num">{shown}</td>' in html


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_is_a_pdf_with_the_same_content_as_the_html() -> None:
    document = invoice()
    assert render_pdf(document).startswith(b"%PDF-")

    text = pdf_text(document)

    for seen in (
        "Invoice INV-2026-000042",
        "finalized",
        "acct_7f3a",
        "BASIC",
        "agentstack",
        "January 2026",
        "Unit price (USD)",
        "API calls over the included 50,000",
        "12,000",
        "0.0005",
        "6.00",
        "BASIC monthly fee, in advance",
        OVERAGE_NOTE,
        "used: 12000; unit_price: 0.0005; minimum_applied: no",
        "45.00 USD",
    ):
        assert f"({seen})" in text, seen


def test_pdf_is_deterministic_and_dated_by_the_invoice() -> None:
    document = invoice()

    assert render_pdf(document) == render_pdf(document)
    assert render_pdf(document, compress=False) == render_pdf(document, compress=False)
    assert "/CreationDate (D:20260201000500Z)" in pdf_text(document)
    later = invoice(created_at=datetime(2026, 2, 2, tzinfo=UTC))
    assert render_pdf(later) != render_pdf(document)


def test_pdf_spells_out_characters_the_core_font_cannot_show() -> None:
    document = invoice(
        line(1, "Tokens → billed in € – ≥ 1,000", "1", "5", "5.00", derivation={"note": "ā…"})
    )

    text = pdf_text(document, seller="Ünïcødé – Ltd")

    assert "(Tokens -> billed in EUR - >= 1,000)" in text
    assert "(a...)" in text
    assert "(Ünïcødé - Ltd)" in text  # latin-1 letters stay as they are


def test_pdf_escapes_parentheses_in_text() -> None:
    document = invoice(line(1, "Storage (GB) \\ month", "1", "5", "5.00", derivation={}))

    raw = render_pdf(document, compress=False)

    assert rb"(Storage \(GB\) \\ month)" in raw
