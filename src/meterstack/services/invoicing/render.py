"""Invoices for people: the invoice of record (D10) as an HTML page and as a PDF.

Both renderings show the same things: the number (``DRAFT`` until the invoice is finalized), the
status, the account, the plan and catalog, the period (as a person names it: ``April 2026``) and
issue date, one row per line with its derivation beneath it, and the total; a period close's
invoice then shows what the prepaid wallet paid during the period, by operation, as a section
of its own (not lines: the wallet paid it as it happened, and the total stays the lines' sum).
Money is the D15 decimal string followed by the currency code (``10.00 USD``); a unit price
keeps every decimal it has (``0.0005``) but never fewer than the currency's minor unit
(``1.00``); quantities carry thousands separators (``60,000``).

The PDF uses the core Helvetica font, which only knows latin-1: other characters are spelled out
(``→`` becomes ``->``, ``€`` becomes ``EUR``) or replaced by ``?``, never a crash.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from meterstack.money import format_money, minor_units, quantum
from meterstack.records.invoicing import Invoice, InvoiceLine

__all__ = ["render_html", "render_pdf"]

# --- text shared by both renderings ------------------------------------------------------------


def _number(invoice: Invoice) -> str:
    return invoice.number if invoice.number is not None else "DRAFT"


def _money(amount: Decimal, currency: str) -> str:
    return f"{format_money(amount, currency)} {currency}"


def _unit_price(price: Decimal, currency: str) -> str:
    """``1`` -> ``1.00``, ``0.0005`` -> ``0.0005``, ``0.50000`` -> ``0.50`` (for USD)."""
    rounded = price.quantize(quantum(minor_units(currency)))
    return f"{rounded:f}" if rounded == price else f"{price.normalize():f}"


def _quantity(quantity: Decimal) -> str:
    return f"{quantity.normalize():,f}"


def _date(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _derivation(derivation: Mapping[str, Any]) -> str:
    """The derivation's sentence when it has one, else its facts as ``key: value; ...``."""
    note = derivation.get("note")
    if note:
        return str(note)
    return "; ".join(f"{key}: {_plain(value)}" for key, value in derivation.items())


def _facts(invoice: Invoice) -> list[tuple[str, str]]:
    return [
        ("Status", invoice.status.value),
        ("Account", invoice.account_id),
        ("Plan", invoice.plan or "-"),
        ("Catalog", invoice.catalog or "-"),
        ("Period", invoice.period_name),
        ("Issue date", _date(invoice.created_at)),
    ]


def _headings(currency: str) -> tuple[str, str, str, str]:
    return ("Description", "Quantity", f"Unit price ({currency})", f"Amount ({currency})")


def _cells(line: InvoiceLine, currency: str) -> tuple[str, str, str, str]:
    return (
        line.description,
        _quantity(line.quantity),
        _unit_price(line.unit_price, currency),
        format_money(line.amount, currency),
    )


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 2rem; }
main { max-width: 48rem; margin: 0 auto; }
.seller { font-size: 1.1rem; font-weight: bold; margin: 0; }
h1 { font-size: 1.6rem; margin: 0.25rem 0 1rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; margin: 0 0 1.5rem; }
dt { color: #666; }
dd { margin: 0; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #222; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.derivation td { padding-top: 0; border-bottom: 1px solid #ddd; color: #666; }
tfoot th, tfoot td { border-top: 2px solid #222; font-weight: bold; }
""".strip()


#: The wallet section's title and its note: the wallet paid these as they happened.
WALLET_TITLE = "Paid from your prepaid wallet"
WALLET_NOTE = "Already paid from the wallet balance; not part of this invoice's total."


def _wallet_rows(invoice: Invoice) -> list[tuple[str, str, str]]:
    """The statement's wallet section: operation, quantity, amount (six places, D17)."""
    return [
        (
            spent.operation.replace("_", " "),
            f"{spent.quantity:,}",
            f"{spent.amount} {invoice.currency}",
        )
        for spent in invoice.wallet_spend
    ]


def _html_wallet(invoice: Invoice) -> str:
    if not invoice.wallet_spend:
        return ""
    rows = "\n".join(
        f'<tr class="line"><td>{escape(operation)}</td><td class="num">{escape(quantity)}</td>'
        f'<td class="num">{escape(amount)}</td></tr>'
        for operation, quantity, amount in _wallet_rows(invoice)
    )
    return f"""<h2>{escape(WALLET_TITLE)}</h2>
<table class="wallet">
<thead><tr><th scope="col">Operation</th><th scope="col" class="num">Quantity</th>
<th scope="col" class="num">Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p><small>{escape(WALLET_NOTE)}</small></p>
"""


def _html_line(line: InvoiceLine, currency: str) -> str:
    description, quantity, unit_price, amount = (escape(cell) for cell in _cells(line, currency))
    rows = [
        f'<tr class="line"><td>{description}</td><td class="num">{quantity}</td>'
        f'<td class="num">{unit_price}</td><td class="num">{amount}</td></tr>'
    ]
    if line.derivation:
        note = escape(_derivation(line.derivation))
        rows.append(f'<tr class="derivation"><td colspan="4"><small>{note}</small></td></tr>')
    return "\n".join(rows)


def render_html(invoice: Invoice, *, seller: str = "meterstack") -> str:
    """A complete HTML5 document for ``invoice``: inline CSS, no scripts, no external assets."""
    number = escape(_number(invoice))
    facts = "\n".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in _facts(invoice)
    )
    description, *numeric = (escape(text) for text in _headings(invoice.currency))
    headings = f'<th scope="col">{description}</th>' + "".join(
        f'<th scope="col" class="num">{text}</th>' for text in numeric
    )
    lines = "\n".join(_html_line(line, invoice.currency) for line in invoice.lines)
    total = escape(_money(invoice.total, invoice.currency))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invoice {number} · {escape(seller)}</title>
<style>
{_CSS}
</style>
</head>
<body>
<main>
<p class="seller">{escape(seller)}</p>
<h1>Invoice {number}</h1>
<dl>
{facts}
</dl>
<table>
<thead><tr>{headings}</tr></thead>
<tbody>
{lines}
</tbody>
<tfoot><tr><th scope="row" colspan="3">Total</th><td class="num">{total}</td></tr></tfoot>
</table>
{_html_wallet(invoice)}</main>
</body>
</html>
"""


# --- PDF ---------------------------------------------------------------------------------------

#: Spellings, in latin-1, of characters the core fonts cannot show.
_LATIN1_SPELLINGS = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "−": "-",
        "→": "->",
        "←": "<-",
        "≥": ">=",
        "≤": "<=",
        "≠": "!=",
        "€": "EUR",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "•": "*",
    }
)

_WIDTHS = (84, 28, 34, 34)  # millimetres; together the A4 width between 14 mm margins


def _latin1(text: str) -> str:
    """``text`` in characters the core fonts can show (see the module docstring)."""
    shown = []
    for char in text.translate(_LATIN1_SPELLINGS):
        if ord(char) < 256:
            shown.append(char)
            continue
        # Accented letters outside latin-1 keep their base letter ("ā" -> "a").
        folded = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        shown.append(folded or "?")
    return "".join(shown)


def _pdf_header(pdf: FPDF, invoice: Invoice, seller: str) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(text=_latin1(seller), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(h=10, text=_latin1(f"Invoice {_number(invoice)}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    for label, value in _facts(invoice):
        pdf.set_font("Helvetica", "", 10)
        pdf.set_text_color(100)
        pdf.cell(w=28, h=5.5, text=label)
        pdf.set_text_color(0)
        pdf.cell(h=5.5, text=_latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _pdf_lines(pdf: FPDF, invoice: Invoice) -> None:
    small = FontFace(size_pt=8, color=100)
    bold = FontFace(emphasis="BOLD")
    pdf.set_font("Helvetica", "", 10)
    with pdf.table(
        col_widths=_WIDTHS,
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout=TableBordersLayout.NONE,
        headings_style=bold,
        line_height=5.5,
        padding=(1, 1.5),
        first_row_as_headings=True,
    ) as table:
        table.row([_latin1(text) for text in _headings(invoice.currency)])
        for line in invoice.lines:
            table.row([_latin1(text) for text in _cells(line, invoice.currency)])
            if line.derivation:
                row = table.row()
                row.cell(_latin1(_derivation(line.derivation)), style=small, colspan=4, align="L")
        total = table.row()
        total.cell("Total", style=bold, colspan=3, align="L")
        total.cell(_latin1(_money(invoice.total, invoice.currency)), style=bold, align="R")


def _pdf_wallet(pdf: FPDF, invoice: Invoice) -> None:
    if not invoice.wallet_spend:
        return
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(h=8, text=_latin1(WALLET_TITLE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    with pdf.table(
        col_widths=(_WIDTHS[0] + _WIDTHS[1], _WIDTHS[2], _WIDTHS[3]),
        text_align=("LEFT", "RIGHT", "RIGHT"),
        borders_layout=TableBordersLayout.NONE,
        headings_style=FontFace(emphasis="BOLD"),
        line_height=5.5,
        padding=(1, 1.5),
        first_row_as_headings=True,
    ) as table:
        table.row(["Operation", "Quantity", "Amount"])
        for row in _wallet_rows(invoice):
            table.row([_latin1(text) for text in row])
    pdf.set_font("Helvetica", "", 8)
    pdf.set_text_color(100)
    pdf.cell(h=6, text=_latin1(WALLET_NOTE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)


def render_pdf(invoice: Invoice, *, seller: str = "meterstack", compress: bool = True) -> bytes:
    """``invoice`` as an A4 PDF; the same invoice always gives the same bytes.

    ``compress=False`` leaves the page content readable in the bytes (for tests and debugging).
    """
    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    created = invoice.created_at
    # The creation date also seeds the file identifier, so fixing it fixes the whole file.
    pdf.set_creation_date(created if created.tzinfo is not None else created.replace(tzinfo=UTC))
    pdf.set_title(_latin1(f"Invoice {_number(invoice)}"))
    pdf.set_author(_latin1(seller))
    pdf.set_creator(_latin1(seller))
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    _pdf_header(pdf, invoice, seller)
    _pdf_lines(pdf, invoice)
    _pdf_wallet(pdf, invoice)
    return bytes(pdf.output())
