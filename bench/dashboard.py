"""Server-side time of each dashboard page for a big account, beside a bare Jinja2 render.

The account has 50 projects, 10,000 invoices and a year of hourly usage history on every meter,
spread over its projects (invoices and buckets written through the store's repositories; the
setup is not what is measured), a wallet ledger of 500 entries, 45 alerts and a budget; 120
other accounts' opening invoices left webhook deliveries. Each page is requested through the
ASGI application in-process (routing, session lookup, engine calls, rendering: everything the
server does, no network) and timed over several runs; the baseline renders a bare Jinja2
template producing as many bytes as the page, in the same run. Target: at most 100 ms per
page; printed, never enforced (times depend on the machine).

    python bench/dashboard.py [--runs 15] [--invoices 10000] [--projects 50] [--days 365]
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
from typing import Any

# This folder holds bench/http.py, which would shadow the standard library's http package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import httpx
from jinja2 import Environment

from meterstack import Engine, ManualClock
from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.records.webhooks import WebhookPolicy
from meterstack.rules.history import UsageMark
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
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


def history(engine: Engine, account_id: str, days: int, now: datetime) -> int:
    """A bucket per hour and meter for ``days`` up to ``now``, each on one of the account's
    projects in turn; how many buckets."""
    store = engine._ctx.store
    projects: list[str | None] = [found.id for found in engine.resources(account_id, "projects")]
    projects = projects or [None]
    meters = list(engine.catalog.meters)
    written = 0
    first = now - timedelta(days=days)
    hours = days * 24
    for chunk in range(0, hours, 24 * 30):
        with store.transaction() as tx:
            # The SQL store's bucket writer, which admissions reach through Counters.apply.
            writer: Any = tx.history
            for hour in range(chunk, min(chunk + 24 * 30, hours)):
                at = first + timedelta(hours=hour)
                for index, meter in enumerate(meters):
                    project = projects[(hour + index) % len(projects)]
                    writer.add(account_id, [UsageMark(meter, project, 1 + hour % 97)], at)
                    written += 1
    return written


def ledger(engine: Engine, account_id: str, entries: int) -> None:
    for index in range(entries):
        engine.adjust_wallet(account_id, Decimal("1.25"), f"credit {index}")


def deliveries(engine: Engine, accounts: int) -> str:
    """Other accounts, whose opening invoices are announced to an endpoint that refuses
    connections: a delivery each, attempted once. The id of one of them."""
    engine.webhooks.endpoints.create("http://127.0.0.1:9/hooks", event_types=["invoice.created"])
    for index in range(accounts):
        engine.create_account(plan="starter", name=f"other {index}")
    engine.webhooks.deliver()
    return engine.webhooks.deliveries(limit=1)[0].id


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


async def measure(
    engine: Engine, invoice_number: str, account_id: str, delivery_id: str, runs: int
) -> None:
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
        "wallet": "/dashboard/wallet",
        "usage history (days)": "/dashboard/usage?meter=api_calls",
        "usage history (hours)": "/dashboard/usage?meter=api_calls&granularity=hour",
        "alerts and budget": "/dashboard/alerts",
        "console: accounts": "/console",
        "console: account": f"/console/accounts/{account_id}",
        "console: plans": "/console/plans",
        "console: invoices": "/console/invoices",
        "console: period close": "/console/close",
        "console: webhooks": "/console/webhooks",
        "console: a delivery": f"/console/webhooks/{delivery_id}",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = ManualClock(START)
        engine = Engine.open(
            f"sqlite:///{Path(folder) / 'bench.db'}",
            catalog="agentstack",
            clock=clock,
            provider=LocalProvider("http://bench"),
            webhooks=WebhookPolicy(allow_private_targets=True),
        )
        account = engine.create_account(plan="premium", name="Big customer")
        for _ in range(3):
            engine.create_api_key(account.id)
        started = time.perf_counter()
        number = populate(engine, account.id, options.projects, options.invoices)
        clock.advance(timedelta(days=options.days))
        buckets = history(engine, account.id, options.days, clock.now())
        ledger(engine, account.id, 500)
        for threshold in range(10, 100, 2):  # 45 alerts of the 50 an account may have
            engine.create_alert(account.id, "usage_percent", meter="api_calls", threshold=threshold)
        engine.set_budget(account.id, Decimal("500.00"), mode="soft")
        delivery = deliveries(engine, 120)
        print(
            f"setup: {options.projects} projects, {options.invoices:,} invoices, {buckets:,} "
            f"hourly buckets ({options.days} days), 500 wallet entries, 120 deliveries in "
            f"{time.perf_counter() - started:.1f} s (SQLite; times are medians of {options.runs})"
        )
        asyncio.run(measure(engine, number, account.id, delivery, options.runs))
        engine.close()


if __name__ == "__main__":
    main()
