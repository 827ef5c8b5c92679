"""Server-side time of each dashboard page for a big account, beside a bare Jinja2 render.

The account has 50 projects and 10,000 invoices (written through the invoice repository; the
setup is not what is measured). Each page is requested through the ASGI application in-process
(routing, session lookup, engine calls, rendering: everything the server does, no network) and
timed over several runs; the baseline renders a bare Jinja2 template producing as many bytes as
the page, in the same run. Usage history (a year of hourly buckets) is not built yet: its row
says so. Target: at most 100 ms per page; printed, never enforced (times depend on the machine).

    python bench/dashboard.py [--runs 15] [--invoices 10000] [--projects 50]
"""

# ruff: noqa: E402

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# This folder holds bench/http.py, which would shadow the standard library's http package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import httpx
from jinja2 import Environment

from meterstack import Engine, ManualClock
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
from meterstack.services.invoicing.model import Invoice, InvoiceLine, InvoiceStatus
from meterstack.services.payments.local import LocalProvider

START = datetime(2026, 1, 1, tzinfo=UTC)
OPERATOR = "bench-operator-key"
TARGET_MS = 100
CHUNK = 500


def populate(engine: Engine, account_id: str, projects: int, invoices: int) -> str:
    """Projects through the engine, invoices straight through the repository; one number."""
    for index in range(projects):
        engine.create_project(account_id, name=f"project {index}")
    store = engine._ctx.store
    number = ""
    for first in range(0, invoices, CHUNK):
        batch = [
            Invoice(
                id=f"inv_bench{index:08d}",
                number=None,
                account_id=account_id,
                status=InvoiceStatus.DRAFT,
                currency="USD",
                period_key=f"b{index:08d}",
                period_start=START,
                period_end=START + timedelta(days=30),
                created_at=START + timedelta(minutes=index),
                lines=(
                    InvoiceLine(
                        1,
                        "overage",
                        "Logic engine calls beyond the limit",
                        "logic_engine_calls",
                        Decimal(1500),
                        Decimal("0.001"),
                        Decimal("1.50"),
                        {"note": "1,500 x 1.00 / 1,000 = 1.50"},
                    ),
                ),
                total=Decimal("1.50"),
                plan="premium",
                catalog="agentstack",
            )
            for index in range(first, min(first + CHUNK, invoices))
        ]
        with store.transaction() as tx:
            tx.invoices.insert(batch, "bench", "bench")
            numbered = [(invoice.id, f"BENCH-{invoice.id[-8:]}") for invoice in batch]
            tx.invoices.finalize(numbered, START)
        number = numbered[-1][1]
    return number


async def timed(client: httpx.AsyncClient, path: str, runs: int) -> tuple[float, int]:
    """Median milliseconds of ``runs`` requests (after one warm-up), and the page's size."""
    answer = await client.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return statistics.median(samples), len(answer.content)


def bare_render(size: int, runs: int) -> float:
    """Median milliseconds of a bare Jinja2 render of ``size`` bytes of rows."""
    template = Environment(autoescape=True).from_string(
        "<table>{% for row in rows %}<tr><td>{{ row }}</td><td>{{ row }}</td></tr>"
        "{% endfor %}</table>"
    )
    row = "x" * 20
    rows = [row] * max(1, size // (len("<tr><td></td><td></td></tr>") + 2 * len(row)))
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        template.render(rows=rows)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def measure(engine: Engine, invoice_number: str, account_id: str, runs: int) -> None:
    app = create_app(engine, ServerSettings(operator_key=OPERATOR, public_url="http://bench"))
    transport = httpx.ASGITransport(app=app)
    customer = engine.access.redeem_link(engine.access.mint_link(account_id).token)
    operator = engine.access.operator_sign_in(OPERATOR, OPERATOR, address="bench")
    pages = {
        "overview": "/dashboard",
        "plans": "/dashboard/plans",
        "overage and packs": "/dashboard/overage",
        "invoices (page 1)": "/dashboard/invoices",
        "invoices (page 500)": "/dashboard/invoices?page=500",
        "invoice": f"/dashboard/invoices/{invoice_number}",
        "API keys": "/dashboard/keys",
        "console: accounts": "/console",
        "console: account": f"/console/accounts/{account_id}",
        "console: plans": "/console/plans",
        "console: invoices": "/console/invoices",
    }
    cookies = {"meterstack_dashboard": customer.cookie, "meterstack_console": operator.cookie}
    print(f"{'page':24} {'ms':>8} {'bytes':>8} {'bare ms':>8} {'ratio':>7}  target")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies=cookies
    ) as client:
        for name, path in pages.items():
            took, size = await timed(client, path, runs)
            bare = bare_render(size, runs)
            verdict = "ok" if took <= TARGET_MS else f"over {TARGET_MS} ms"
            print(f"{name:24} {took:8.2f} {size:8d} {bare:8.3f} {took / bare:7.1f}  {verdict}")
    print(f"{'usage history (a year)':24} {'n/a':>8}  not built yet: no history page to time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine.open(
            f"sqlite:///{Path(folder) / 'bench.db'}",
            catalog="agentstack",
            clock=ManualClock(START),
            provider=LocalProvider("http://bench"),
        )
        account = engine.create_account(plan="premium", name="Big customer")
        for _ in range(3):
            engine.create_api_key(account.id)
        started = time.perf_counter()
        number = populate(engine, account.id, options.projects, options.invoices)
        print(
            f"setup: {options.projects} projects, {options.invoices:,} invoices in "
            f"{time.perf_counter() - started:.1f} s (SQLite; times are medians of {options.runs})"
        )
        asyncio.run(measure(engine, number, account.id, options.runs))
        engine.close()


if __name__ == "__main__":
    main()
