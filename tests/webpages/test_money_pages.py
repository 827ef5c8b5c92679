"""The wallet, usage history, period close and webhook pages in a real browser, on a live server:
what the customer and the operator do there, and what the engine then holds."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterstack import Engine, ManualClock
from meterstack.rules.alerts import AlertSource
from meterstack.server.dashboard.rendering import money
from webpages.dashboard_pages import console, receiving, signed_in

SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
Service = Callable[..., Any]
Browser = Callable[..., Any]
Screenshot = Callable[[Any, str], Path]

pytestmark = [SQLITE_ONLY, pytest.mark.xdist_group("browser")]


def _engine(service: Any) -> Engine:
    engine: Engine = service.app.state.engine
    return engine


def test_a_wallet_deposit_through_checkout_shows_in_the_balance(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    account = engine.create_account(plan="free")
    page = signed_in(browser(), service, account.id)

    page.get_by_role("link", name="Wallet").click()
    assert page.locator("#balance").inner_text() == "0.00 USD"
    assert "at least 5.00 USD" in page.inner_text("main")
    page.get_by_label("Amount in USD").fill("25.00")
    page.get_by_role("button", name="Deposit").click()
    page.wait_for_url(re.compile(r"/billing/checkout/"))
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r"/dashboard/wallet\?deposit=paid$"))

    assert "Payment received" in page.locator(".notice").inner_text()
    assert page.locator("#balance").inner_text() == "25.00 USD"
    assert engine.wallet(account.id).balance == Decimal("25")
    row = page.locator("table.ledger tbody tr").first
    assert "Deposit" in row.inner_text()
    assert "25.00 USD" in row.inner_text()
    row.locator("summary").click()
    (entry,) = engine.wallet_transactions(account.id).entries
    receipt = row.locator("details.receipt").inner_text()
    assert entry.id in receipt
    assert entry.reference is not None
    assert entry.reference in receipt, "the receipt names the checkout it settled"

    page.get_by_label("When the balance falls below (USD)").fill("5")
    page.get_by_label("Amount or target (USD)").fill("10")
    page.get_by_role("button", name="Save auto-reload").click()
    notice = page.locator(".notice").inner_text()
    assert "Auto-reload is on: below 5.00 USD, 10.00 USD is added." in notice
    settings = engine.wallet(account.id).settings
    assert (settings.threshold, settings.amount) == (Decimal(5), Decimal(10))
    screenshot(page, "wallet")

    page.get_by_label("Amount in USD").fill("4.999")
    page.get_by_role("button", name="Deposit").click()
    assert "Not done" in page.locator(".notice").inner_text()
    assert engine.wallet(account.id).balance == Decimal("25")


def test_the_usage_history_chart_shows_the_window_and_its_export_downloads(
    live_service: Service,
    browser: Browser,
    screenshot: Screenshot,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    service = live_service("agentstack")
    engine = _engine(service)
    account = engine.create_account(plan="free")  # 7 days of history, 1 export a month
    for day, calls in ((0, 1_000), (3, 200), (3, 40), (8, 50)):
        clock.set(clock.now().replace(day=1 + day, hour=9))
        assert engine.consume(account.id, "api_calls", calls).allowed
    clock.set(clock.now().replace(day=10, hour=12))
    page = signed_in(browser(), service, account.id)

    page.get_by_role("link", name="Usage history").click()
    page.get_by_label("Meter", exact=True).select_option("api_calls")
    page.get_by_role("button", name="Show").click()
    # The window is 7 whole days back: 3 to 10 January. The 1,000 calls of 1 January are out.
    assert (
        page.locator("#chart-heading").inner_text()
        == "API calls per day, 3 Jan 2026 to 10 Jan 2026"
    )
    assert page.locator("#history-total").inner_text() == "290 calls"
    assert page.locator("#history-peak").inner_text() == "240 on 4 Jan 2026"
    assert page.locator("svg rect.bar-used").count() == 2
    page.get_by_text("Every day as a table").click()
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 8
    assert rows.nth(1).inner_text().split("\t") == ["2026-01-04", "240", "0"]
    assert "Each export counts against your plan's exports: 0 of 1" in page.inner_text("main")
    totals = page.locator("#meter-totals tbody").inner_text().splitlines()
    assert totals == ["Logic engine calls\t0", "API calls\t290", "Analytics exports\t0"]
    screenshot(page, "usage-history")

    page.get_by_label("Per", exact=True).select_option("hour")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#history-total").inner_text() == "290 calls"
    assert page.locator("#history-peak").inner_text().startswith("240 on")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "usage.csv"
    download.value.save_as(str(saved))
    lines = saved.read_text().splitlines()
    assert lines[0] == "start,meter,used,byok"
    assert lines[1:] == [
        "2026-01-04T09:00:00+00:00,api_calls,240,0",
        "2026-01-09T09:00:00+00:00,api_calls,50,0",
    ]
    assert engine.usage(account.id)["analytics_exports"].used == 1

    with page.expect_response(re.compile(r"/dashboard/usage\?")):
        page.get_by_role("button", name="Download CSV").click()
    assert "No export" in page.locator(".notice.refused").inner_text()
    assert engine.usage(account.id)["analytics_exports"].used == 1


def test_an_operator_wallet_adjustment_shows_in_the_customer_s_balance(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    account = engine.create_account(plan="starter", name="Ada")
    customer = signed_in(browser(), service, account.id)
    customer.goto(f"{service.base_url}/dashboard/wallet")
    assert customer.locator("#balance").inner_text() == "0.00 USD"

    operator = console(browser(), service)
    operator.goto(f"{service.base_url}/console/accounts/{account.id}")
    operator.get_by_label("Amount in USD (negative takes money out)").fill("12.50")
    operator.get_by_label("Reason (kept in the ledger)").fill("Goodwill for the outage")
    operator.get_by_role("button", name="Adjust wallet").click()
    notice = operator.locator(".notice").inner_text()
    assert f"Wallet adjusted by 12.50 USD: the balance of {account.id} is 12.50 USD." in notice
    assert operator.locator("#wallet-balance").inner_text() == "12.50 USD"
    screenshot(operator, "console-wallet")

    operator.get_by_label("Amount in USD (negative takes money out)").fill("-20")
    operator.get_by_label("Reason (kept in the ledger)").fill("Too much")
    operator.get_by_role("button", name="Adjust wallet").click()
    assert "Not done" in operator.locator(".notice.refused").inner_text()
    assert engine.wallet(account.id).balance == Decimal("12.5")

    customer.reload()
    assert customer.locator("#balance").inner_text() == "12.50 USD"
    customer.get_by_role("link", name="Overview").click()
    assert customer.locator("#overview-balance").inner_text() == "12.50 USD"
    customer.go_back()
    row = customer.locator("table.ledger tbody tr").first.inner_text()
    assert "Adjustment — Goodwill for the outage" in row


def test_the_operator_closes_the_period_from_the_console(
    live_service: Service,
    browser: Browser,
    screenshot: Screenshot,
    clock: ManualClock,
    unratable: set[str],
) -> None:
    service = live_service("agentstack")
    engine = _engine(service)
    first, second = engine.create_account(plan="starter"), engine.create_account(plan="basic")
    unrated = engine.create_account(plan="starter", name="Unrated")
    unratable.add(unrated.id)  # a fault in this account's rating
    assert engine.consume(first.id, "logic_engine_calls", 1_200).allowed
    clock.advance(timedelta(days=31, hours=1))
    page = console(browser(), service)

    page.get_by_role("link", name="Period close").click()
    assert "None: every account's ended periods are closed." in page.inner_text("main")
    page.get_by_role("button", name="Close ended periods now").click()
    page.wait_for_url(re.compile(r"/console/close$"))
    assert page.locator("#run-heading").inner_text().startswith("Finished")
    status = page.locator("#close-status").inner_text()
    assert status == "3 of 3 accounts examined: 2 invoices created, 1 not closed."
    assert page.locator("#close-progress").get_attribute("value") == "100"
    created = page.locator("#close-invoices tbody").inner_text()
    for account in (first, second):
        (_, closing) = engine.invoices(account.id)
        assert closing.number is not None
        assert closing.number in created
        assert account.id in created
    assert unrated.id not in created
    failed = page.locator("#close-run tr.failed").inner_text()
    assert f"{unrated.id}\t2026-01\tArithmeticError: rating fault" in failed
    assert unrated.id in page.locator("#unclosed").inner_text()
    screenshot(page, "console-close")

    unratable.discard(unrated.id)  # fixed: the next close invoices it
    page.get_by_role("button", name="Close ended periods now").click()
    assert "1 invoices created, 0 not closed" in page.locator("#close-status").inner_text()
    assert [len(engine.invoices(a.id)) for a in (first, second, unrated)] == [2, 2, 2]
    assert "None: every account's ended periods are closed." in page.inner_text("main")


def test_the_operator_replays_a_webhook_delivery(
    live_service: Service,
    browser: Browser,
    screenshot: Screenshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METERSTACK_WEBHOOKS_ALLOW_PRIVATE", "1")  # a receiver on loopback
    with receiving() as bodies:
        service = live_service("agentstack")
        engine = _engine(service)
        engine.webhooks.endpoints.create(bodies.url, event_types=["invoice.created"])
        account = engine.create_account(plan="starter")  # its opening invoice
        assert engine.webhooks.deliver().succeeded == 1
        (delivery,) = engine.webhooks.deliveries()
        page = console(browser(), service)

        page.get_by_role("link", name="Webhook deliveries").click()
        row = page.locator("tbody tr").first.inner_text()
        assert "invoice.created" in row
        assert account.id in row
        assert "succeeded" in row
        changes = page.locator("section[aria-labelledby=endpoint-changes-heading]").inner_text()
        assert "webhook.endpoint_created" in changes
        assert "every account" in changes, "the endpoint receives every account's events"
        screenshot(page, "console-webhooks")
        page.get_by_role("link", name=delivery.id).click()
        assert page.locator("#delivery-status").inner_text() == "succeeded"
        assert page.locator("#attempts tbody tr").count() == 1
        page.get_by_role("button", name="Replay this delivery").click()
        assert "is queued to be sent again now" in page.locator(".notice").inner_text()
        assert page.locator("#delivery-status").inner_text() == "pending"

        assert engine.webhooks.deliver().succeeded == 1
        assert len(bodies) == 2
        assert bodies[0] == bodies[1], "the same event, byte for byte"
        page.reload()
        assert page.locator("#delivery-status").inner_text() == "succeeded"
        assert page.locator("#attempts tbody tr").count() == 2
        screenshot(page, "console-delivery")


def test_the_new_pages_fit_a_phone(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    account = engine.create_account(plan="free")
    assert engine.consume(account.id, "api_requests", 1_000).allowed
    phone = signed_in(browser(phone=True), service, account.id)
    for path in ("/dashboard/wallet", "/dashboard/usage"):
        phone.goto(f"{service.base_url}{path}")
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path}: nothing wider than a phone's screen"
    assert "1,000 requests" in phone.locator("#history-total").inner_text()
    screenshot(phone, "usage-history-phone")


def test_alerts_fire_on_the_page_and_the_budget_shows_its_projection(
    live_service: Service, browser: Browser, screenshot: Screenshot, clock: ManualClock
) -> None:
    service = live_service("flowstack")
    engine = _engine(service)
    account = engine.create_account(plan="hobbyist")  # 200 sessions; warned at 75/90/95 %
    clock.advance(timedelta(days=10))
    assert engine.consume(account.id, "sessions", 160).allowed  # 80 %: the 75 % alert fires
    page = signed_in(browser(), service, account.id)

    page.get_by_role("link", name="Alerts and budget").click()
    rows = page.locator("#alerts tbody").inner_text().splitlines()
    assert [row for row in rows if "the plan's default" in row] == [
        "Sessions: share of the limit used\t75%\tthe plan's default\ttriggered 11 Jan 2026, "
        "00:00 at 80%\t",
        "Sessions: share of the limit used\t90%\tthe plan's default\tarmed\t",
        "Sessions: share of the limit used\t95%\tthe plan's default\tarmed\t",
    ]

    page.get_by_label("When").select_option("usage_units")
    page.get_by_label("Meter (for usage alerts)").select_option("sessions")
    page.get_by_label("Threshold (a percentage, units or an amount in USD)").fill("170")
    page.get_by_role("button", name="Add alert").click()
    assert "Alert added: Sessions: units used." in page.locator(".notice").inner_text()
    (mine,) = [alert for alert in engine.alerts(account.id) if alert.source == AlertSource.ACCOUNT]
    assert "armed" in page.locator(f"#alert-{mine.id}").inner_text()
    assert engine.consume(account.id, "sessions", 10).allowed
    page.reload()
    assert "triggered" in page.locator(f"#alert-{mine.id}").inner_text()

    page.get_by_label("Maximum a month (USD, whole cents)").fill("20.00")
    page.get_by_label("warn me at 75, 90 and 100% (soft)").check()
    page.get_by_role("button", name="Save budget").click()
    assert "Budget set to 20.00 USD a month" in page.locator(".notice").inner_text()
    budget = engine.budget(account.id)
    assert (budget.amount, budget.mode) == (Decimal(20), "soft")
    assert page.locator("#budget-amount").inner_text() == "20.00 USD a month, soft"
    assert (
        page.locator("#budget-actual")
        .inner_text()
        .startswith(f"{money(budget.actual, 'USD')} ({budget.percent}% of the budget)")
    )
    insights = engine.usage(account.id).insights
    assert insights is not None
    assert insights.estimated_monthly_cost > 0
    projection = page.locator("#budget-projection").inner_text()
    assert projection.startswith(money(insights.estimated_monthly_cost, "USD"))
    screenshot(page, "alerts")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile(r"^Delete")).click()
    assert "Alert deleted." in page.locator(".notice").inner_text()
    assert [alert.source for alert in engine.alerts(account.id)] == [AlertSource.CATALOG] * 3
    page.get_by_role("button", name="Remove the budget").click()
    assert engine.budget(account.id).amount is None
