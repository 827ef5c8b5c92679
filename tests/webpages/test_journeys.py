"""The dashboard's journeys in a real browser, on a live server: what a customer and the operator
see and do, and what the engine then holds. Each journey fails if a step of it breaks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meterstack import Engine
from webpages.dashboard_pages import OPERATOR, link_for, section, signed_in

SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
Service = Callable[..., Any]
Browser = Callable[..., Any]
Screenshot = Callable[[Any, str], Path]

pytestmark = [SQLITE_ONLY, pytest.mark.xdist_group("browser")]


def _engine(service: Any) -> Engine:
    engine: Engine = service.app.state.engine
    return engine


def test_flowstack_customer_at_20_of_25_sessions_sees_the_near_limit_warning(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("flowstack")
    engine = _engine(service)
    account = engine.create_account(plan="free")
    assert engine.consume(account.id, "sessions", 20).allowed

    page = signed_in(browser(), service, account.id)

    sessions = section(page, "sessions")
    assert "state-near_limit" in (sessions.get_attribute("class") or "")
    assert sessions.locator(".badge").inner_text() == "near limit"
    assert "20 of 25" in sessions.inner_text()
    warning = sessions.locator(".warning").inner_text()
    assert "20 of 25 used (80.00%), near the limit; 5 left" in warning
    # The script wrote the reset date in the viewer's locale (en-GB), the ISO date without it.
    end = engine.subscription(account.id).current_period.end
    reset = page.locator(".plan-summary time").last
    assert reset.get_attribute("datetime") == end.isoformat().replace("+00:00", "Z")
    assert reset.inner_text() == f"{end.day} {end:%b %Y}"
    screenshot(page, "overview-near-limit")

    phone = signed_in(browser(phone=True), service, account.id)
    assert "near the limit" in section(phone, "sessions").inner_text()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "nothing wider than a phone's screen"
    screenshot(phone, "overview-phone")


def test_aerostack_free_customer_in_the_grace_zone_upgrades_to_pro_through_checkout(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    account = engine.create_account(plan="free")
    assert engine.consume(account.id, "api_requests", 52_000).allowed
    page = signed_in(browser(), service, account.id)

    requests = section(page, "api_requests")
    assert "state-grace" in (requests.get_attribute("class") or "")
    assert requests.locator(".grace").is_visible(), "the grace zone is drawn as its own band"
    assert requests.locator(".badge").inner_text() == "grace zone"
    assert "52,000 of 50,000" in requests.inner_text()
    assert "grace zone up to 55,000" in requests.inner_text()
    assert "You are in the grace zone" in requests.locator(".warning").inner_text()
    screenshot(page, "overview-grace")

    page.goto(f"{service.base_url}/dashboard/plans")
    comparison = page.locator("table.comparison")
    for text in ("$49.00", "$441.00", "2,000,000", "Grace above limits", "20%"):
        assert text in comparison.inner_text()
    screenshot(page, "plans")
    page.select_option("#interval-pro", "monthly")
    page.get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(re.compile(r"/billing/checkout/"))
    assert "Pro plan" in page.inner_text("body")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r"/dashboard/plans\?checkout=paid"))
    assert "Payment received. You are on Pro" in page.inner_text("main")

    page.goto(f"{service.base_url}/dashboard")
    requests = section(page, "api_requests")
    assert "52,000 of 2,000,000" in requests.inner_text()
    assert "state-ok" in (requests.get_attribute("class") or "")
    assert page.locator("#plan-heading").inner_text() == "Your plan: Pro"
    assert engine.subscription(account.id).plan == "pro"


def test_agentstack_customer_turns_overage_on_for_one_meter_and_buys_a_pack(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("agentstack")
    engine = _engine(service)
    account = engine.create_account(plan="starter")
    page = signed_in(browser(), service, account.id)
    page.goto(f"{service.base_url}/dashboard/plans")
    plans = page.locator("table.comparison").inner_text()
    for text in ("Uptime SLA", "99.9%", "Support", "Dedicated", "Analytics retention", "90 days"):
        assert text in plans
    assert "Logic engine calls overage\t–\t$1.00 / 1,000" in plans
    packs = page.locator("table", has_text="Packs:").inner_text()
    assert "Logic engine package, small\t+10,000 Logic engine calls\t5.00 USD" in packs

    page.goto(f"{service.base_url}/dashboard/overage")
    page.get_by_role("button", name="Turn overage on for Logic engine calls").click()
    assert "Overage on for Logic engine calls." in page.locator(".notice").inner_text()
    assert page.locator("#overage-logic_engine_calls .switch-state").inner_text() == "on"
    assert page.locator("#overage-api_calls .switch-state").inner_text() == "off"
    over = engine.consume(account.id, "logic_engine_calls", 50_500)
    assert over.allowed
    assert over.overage_units == 500
    assert not engine.consume(account.id, "api_calls", 200_001).allowed

    page.get_by_role("button", name="Buy Logic engine package, small").click()
    notice = page.locator(".notice").inner_text()
    assert "Logic engine package, small bought: Logic engine calls limit is now 60,000" in notice
    calls = section(page, "logic_engine_calls")
    assert "50,500 of 60,000" in calls.inner_text()
    assert "includes 10,000 from packs" in calls.inner_text()
    assert engine.usage(account.id)["logic_engine_calls"].limit == 60_000
    screenshot(page, "overage")


def test_an_invoice_shows_its_lines_and_its_pdf_downloads(
    live_service: Service, browser: Browser, screenshot: Screenshot, tmp_path: Path
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    account = engine.create_account(plan="starter")
    (opening,) = engine.invoices(account.id)
    assert opening.number is not None
    page = signed_in(browser(), service, account.id)

    page.goto(f"{service.base_url}/dashboard/invoices")
    row = page.locator("tbody tr").first
    assert opening.number in row.inner_text()
    assert "19.00 USD" in row.inner_text()
    screenshot(page, "invoices")
    page.get_by_role("link", name=opening.number, exact=True).click()
    assert page.locator("h1").inner_text() == f"Invoice {opening.number}"
    fee = "Starter plan, monthly fee from January 2026, in advance"
    assert fee in page.inner_text("table.lines")
    assert page.locator("table.lines .total").inner_text() == "19.00 USD"
    screenshot(page, "invoice")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    saved = tmp_path / "invoice.pdf"
    download.value.save_as(str(saved))
    assert download.value.suggested_filename == f"invoice-{opening.number}.pdf"
    assert saved.read_bytes().startswith(b"%PDF")


def test_the_operator_raises_a_limit_and_the_customer_sees_it(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("flowstack")
    engine = _engine(service)
    account = engine.create_account(plan="free", name="Grace Hopper", email="grace@example.com")
    engine.create_account(plan="hobbyist", name="Someone else")
    assert engine.consume(account.id, "sessions", 25).allowed
    customer = signed_in(browser(), service, account.id)
    assert section(customer, "sessions").locator(".badge").inner_text() == "limit reached"

    console = browser().new_page()
    console.goto(f"{service.base_url}/console")
    console.wait_for_url(re.compile(r"/console/sign-in"))
    screenshot(console, "console-sign-in")
    console.get_by_label("Operator key").fill(OPERATOR)
    console.get_by_role("button", name="Sign in").click()
    console.get_by_label("Search id, email or name").fill("grace@")
    console.get_by_role("button", name="Filter").click()
    assert console.locator("caption").inner_text() == "1 accounts, newest first"
    screenshot(console, "console-accounts")
    console.get_by_role("link", name=account.id).click()
    console.get_by_label("Item").first.select_option("sessions")
    console.get_by_label("Limit (a number, or unlimited)").fill("100")
    console.get_by_role("button", name="Set limit").click()
    assert f"sessions limit set to 100 for {account.id}." in console.locator(".notice").inner_text()
    screenshot(console, "console-account")

    customer.reload()
    sessions = section(customer, "sessions")
    assert "25 of 100" in sessions.inner_text()
    assert "75 remaining" in sessions.inner_text()
    assert engine.consume(account.id, "sessions", 1).allowed


def test_a_sign_in_link_works_once(live_service: Service, browser: Browser) -> None:
    service = live_service("flowstack")
    account = _engine(service).create_account(plan="free")
    url = link_for(service, account.id)

    first = browser().new_page()
    first.goto(url)
    first.wait_for_url(re.compile(r"/dashboard$"))
    assert first.locator("h1").inner_text() == "Overview"

    second = browser().new_page()
    answer = second.goto(url)
    assert answer is not None
    assert answer.status == 401
    assert "was used already" in second.inner_text("main")
    second.goto(f"{service.base_url}/dashboard")
    second.wait_for_url(re.compile(r"/dashboard/sign-in\?next=/dashboard$"))


def test_a_session_reads_only_its_own_account_and_posts_only_with_its_token(
    live_service: Service, browser: Browser
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    mine, theirs = engine.create_account(plan="starter"), engine.create_account(plan="starter")
    (their_invoice,) = engine.invoices(theirs.id)
    their_key = engine.create_api_key(theirs.id)
    page = signed_in(browser(), service, mine.id)

    for path in (f"invoices/{their_invoice.number}", f"invoices/{their_invoice.number}/pdf"):
        assert page.request.get(f"{service.base_url}/dashboard/{path}").status == 404
    assert theirs.id not in page.content()

    # A form of this session naming the other account's key is refused by the engine.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"{service.base_url}/dashboard/keys/{their_key.id}/revoke",
        form={"csrf_token": token or ""},
    )
    assert answer.ok
    assert "Not done" in answer.text()
    assert engine.authenticate(their_key.key).account_id == theirs.id

    # The page's own form, its token taken out, is refused and changes nothing.
    page.goto(f"{service.base_url}/dashboard/keys")
    page.evaluate(
        "document.querySelector('form[action=\"/dashboard/keys\"] [name=csrf_token]').remove()"
    )
    with page.expect_response(re.compile(r"/dashboard/keys$")) as refused:
        page.get_by_role("button", name="Create key").click()
    assert refused.value.status == 403
    assert "security token is missing or wrong" in page.inner_text("main")
    assert engine.api_keys(mine.id) == []
    forged = page.request.post(
        f"{service.base_url}/dashboard/plans/cancel", form={"csrf_token": "forged"}
    )
    assert forged.status == 403
    assert engine.subscription(mine.id).pending is None


def test_a_new_key_is_shown_once_and_revoking_one_keeps_this_browser_signed_in(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("agentstack")
    engine = _engine(service)
    account = engine.create_account(plan="starter")
    page = signed_in(browser(), service, account.id)
    elsewhere = signed_in(browser(), service, account.id)

    page.goto(f"{service.base_url}/dashboard/keys")
    page.get_by_label("Name (optional)").fill("deploy")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret").input_value()
    assert secret.startswith("ask_")
    assert engine.authenticate(secret).account_id == account.id
    screenshot(page, "key-created")
    page.goto(f"{service.base_url}/dashboard/keys")
    assert secret not in page.content()
    screenshot(page, "keys")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile(r"^Revoke")).click()
    assert "is revoked" in page.locator(".notice").inner_text()
    assert engine.api_keys(account.id) == []
    page.goto(f"{service.base_url}/dashboard")
    assert page.locator("h1").inner_text() == "Overview"
    elsewhere.goto(f"{service.base_url}/dashboard")
    elsewhere.wait_for_url(re.compile(r"/dashboard/sign-in"))


def test_a_registered_customer_signs_in_with_email_and_password(
    live_service: Service, browser: Browser, screenshot: Screenshot
) -> None:
    service = live_service("agentstack")
    engine = _engine(service)
    account, key = engine.create_anonymous_account()
    engine.convert_anonymous(
        key.key, name="Ada", email="ada@example.com", password="correct horse battery"
    )
    page = browser().new_page()
    page.goto(f"{service.base_url}/dashboard/plans")
    page.wait_for_url(re.compile(r"/dashboard/sign-in\?next=/dashboard/plans"))
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "the email address or the password is wrong" in page.inner_text("main")
    screenshot(page, "sign-in")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard/plans$"))
    assert account.id in page.inner_text("footer")
