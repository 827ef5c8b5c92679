"""The wallet, usage history, period close and webhook pages over plain HTTP on every backend:
their forms' CSRF check, confinement to one account and one kind of session, bad input, paging."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fakes.faulty_store import OPENING, FaultyStore
from meterstack import ManualClock
from meterstack.server.dashboard.close_run import CLOSE_THREAD
from webpages.dashboard_pages import (
    csrf_token,
    customer_session,
    engine_of,
    operator_session,
)

Service = Callable[..., Any]
pytestmark = pytest.mark.xdist_group("dashboard-http")


def _notice(page: str) -> str:
    found = re.search(r'<div class="notice[^"]*"[^>]*>(.*?)</div>', page, re.S)
    assert found is not None, "a notice"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_the_wallet_and_console_forms_refuse_a_post_without_its_token(
    live_service: Service, clock: ManualClock
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    clock.advance(timedelta(days=31))
    forms = {
        "/dashboard/wallet/deposit": {"amount": "10.00"},
        "/dashboard/wallet/auto-reload": {"threshold": "5", "mode": "amount", "value": "10"},
        "/dashboard/usage/export": {"meter": "api_requests", "granularity": "day"},
    }
    console_forms = {
        f"/console/accounts/{account.id}": {"lever": "wallet", "amount": "5", "reason": "x"},
        "/console/close": {},
        "/console/webhooks/dlv_any/replay": {},
    }
    with customer_session(service, account.id) as customer, operator_session(service) as operator:
        for client, posts in ((customer, forms), (operator, console_forms)):
            token = csrf_token(
                client.get("/dashboard/wallet" if client is customer else "/console").text
            )
            for path, form in posts.items():
                for forged in ({}, {"csrf_token": token + "x"}):
                    refused = client.post(path, data={**form, **forged})
                    assert refused.status_code == 403, path
                    assert "csrf_token_invalid" in refused.text
        # The customer's session opens no console page, and posts no console form.
        assert customer.get("/console/close").status_code == 303
        assert customer.post("/console/close", data={"csrf_token": "x"}).status_code == 401
    wallet = engine.wallet(account.id)
    assert (wallet.balance, wallet.settings.threshold) == (Decimal(0), None)
    assert engine.wallet_transactions(account.id).entries == []
    assert len(engine.invoices(account.id)) == 1, "no close ran"


def test_a_customer_sees_only_its_own_wallet_and_history(live_service: Service) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    mine, theirs = engine.create_account(plan="starter"), engine.create_account(plan="starter")
    engine.adjust_wallet(theirs.id, Decimal("99"), "their credit")
    assert engine.consume(theirs.id, "api_requests", 777).allowed
    assert engine.consume(mine.id, "api_requests", 5).allowed
    with customer_session(service, mine.id) as client:
        wallet = client.get("/dashboard/wallet").text
        assert '<span id="balance">0.00 USD</span>' in wallet
        assert "their credit" not in wallet
        assert theirs.id not in wallet
        history = client.get("/dashboard/usage?meter=api_requests").text
        assert 'id="history-total">5 requests<' in history
        assert "777" not in history


def test_auto_reload_is_refused_politely_on_a_plan_without_payments(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account, _ = engine.create_anonymous_account()
    with customer_session(service, account.id) as client:
        page = client.get("/dashboard/wallet").text
        said = re.search(r'<p class="warning" id="payments-refused">(.*?)</p>', page, re.S)
        assert said is not None, "said before the forms"
        assert "not allowed on the ANONYMOUS plan" in said.group(1)
        form = {"csrf_token": csrf_token(page), "threshold": "5", "mode": "amount", "value": "10"}
        refused = client.post("/dashboard/wallet/auto-reload", data=form, follow_redirects=True)
        assert "Not done: deposits and reloads need payments" in _notice(refused.text)
    assert engine.wallet(account.id).settings.threshold is None


def test_wallet_transactions_are_paged_newest_first(
    live_service: Service, clock: ManualClock
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    for index in range(30):
        engine.adjust_wallet(account.id, Decimal("1.25"), f"credit number {index}")
        clock.advance(timedelta(minutes=1))
    with customer_session(service, account.id) as client:
        first = client.get("/dashboard/wallet").text
        assert '<span id="balance">37.50 USD</span>' in first
        memos = re.findall(r"credit number (\d+)", first)
        assert memos == [str(index) for index in range(29, 4, -1)]
        older = re.search(r'href="(/dashboard/wallet\?before=[^"]+)" rel="next"', first)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert re.findall(r"credit number (\d+)", second) == ["4", "3", "2", "1", "0"]
        assert 'rel="next"' not in second
        assert '<a href="/dashboard/wallet">Newest</a>' in second


def test_bad_input_on_the_new_pages_is_a_precise_refusal(live_service: Service) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with customer_session(service, account.id) as client:
        for path in (
            "/dashboard/usage?granularity=week",
            "/dashboard/usage?meter=nothing",
            "/dashboard/wallet?before=zzz",
        ):
            answer = client.get(path)
            assert answer.status_code == 422, path
            assert "invalid_input" in answer.text
        token = csrf_token(client.get("/dashboard/wallet").text)
        for amount in ("ten", "1e6", "NaN", "", "1" * 40):
            refused = client.post(
                "/dashboard/wallet/deposit",
                data={"csrf_token": token, "amount": amount},
                follow_redirects=True,
            )
            assert "amount must be an amount such as 10.00" in _notice(refused.text), amount
        moded = client.post(
            "/dashboard/wallet/auto-reload",
            data={"csrf_token": token, "threshold": "5", "mode": "fast", "value": "10"},
            follow_redirects=True,
        )
        assert "mode must be 'amount' or 'target'" in _notice(moded.text).replace("&#39;", "'")
    with operator_session(service) as operator:
        assert operator.get("/console/webhooks/dlv_nobody").status_code == 404
        assert operator.get("/console/webhooks?status=lost").status_code == 422
        token = csrf_token(operator.get("/console").text)
        page = f"/console/accounts/{account.id}"
        for form, message in (
            ({"amount": "5", "reason": ""}, "an adjustment needs a reason"),
            ({"amount": "-5", "reason": "take"}, "Not done"),
            ({"amount": "five", "reason": "x"}, "amount must be an amount"),
        ):
            answer = operator.post(
                page, data={"csrf_token": token, "lever": "wallet", **form}, follow_redirects=True
            )
            assert message in _notice(answer.text), form
    assert engine.wallet(account.id).balance == 0
    assert engine.wallet(account.id).settings.threshold is None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_running_period_close_shows_its_progress_until_it_is_done(
    live_service: Service, clock: ManualClock
) -> None:
    faults = FaultyStore()
    service = live_service("agentstack", wrap_store=faults.around, close_wait_seconds=0.05)
    engine = engine_of(service)
    accounts = [engine.create_account(plan="starter") for _ in range(3)]
    clock.advance(timedelta(days=31, hours=1))
    release = threading.Event()
    # The close waits before its first transaction, as a long one does between two chunks.
    faults.hold(OPENING, release, when=lambda: threading.current_thread().name == CLOSE_THREAD)
    with operator_session(service) as operator:
        token = csrf_token(operator.get("/console/close").text)
        started = operator.post("/console/close", data={"csrf_token": token})
        assert (started.status_code, started.headers["location"]) == (303, "/console/close")
        running = operator.get("/console/close").text
        assert '<meta http-equiv="refresh" content="2">' in running
        assert "Running: the close started" in running
        assert "0 of 3 accounts examined; this page refreshes until it is done" in running
        assert '<button type="submit" disabled>Close ended periods now</button>' in running
        again = operator.post("/console/close", data={"csrf_token": token}, follow_redirects=True)
        assert "A period close is running already" in _notice(again.text)

        release.set()
        run = service.app.state.period_closes.latest
        assert run.done.wait(30)
        done = operator.get("/console/close").text
        assert 'http-equiv="refresh"' not in done
        assert "3 of 3 accounts examined: 3 invoices created, 0 not closed." in done
    assert all(len(engine.invoices(account.id)) == 2 for account in accounts)


def test_the_alert_and_budget_forms_check_their_token_their_input_and_their_account(
    live_service: Service,
) -> None:
    service = live_service("flowstack")
    engine = engine_of(service)
    mine, theirs = engine.create_account(plan="hobbyist"), engine.create_account(plan="hobbyist")
    their_alert = engine.create_alert(theirs.id, "usage_units", meter="sessions", threshold=5)
    with customer_session(service, mine.id) as client:
        page = client.get("/dashboard/alerts").text
        assert their_alert.id not in page
        token = csrf_token(page)
        forms = {
            "/dashboard/alerts": {"kind": "limit_reached", "meter": "sessions"},
            "/dashboard/alerts/budget": {"amount": "10", "mode": "hard"},
            f"/dashboard/alerts/{their_alert.id}/delete": {},
        }
        for path, form in forms.items():
            for forged in ({}, {"csrf_token": token + "x"}):
                assert client.post(path, data={**form, **forged}).status_code == 403, path
        for form, message in (
            ({"kind": "sometimes", "meter": "sessions"}, "unknown alert kind 'sometimes'"),
            ({"kind": "usage_units", "meter": "sessions", "threshold": "lots"}, "threshold must"),
            ({"kind": "usage_percent", "meter": "nothing", "threshold": "50"}, "Not done"),
        ):
            answer = client.post(
                "/dashboard/alerts", data={"csrf_token": token, **form}, follow_redirects=True
            )
            assert message in _notice(answer.text).replace("&#39;", "'"), form
        for form, message in (
            ({"amount": "ten", "mode": "hard"}, "amount must be an amount"),
            ({"amount": "10", "mode": "furious"}, "mode must be 'soft' or 'hard'"),
        ):
            answer = client.post(
                "/dashboard/alerts/budget",
                data={"csrf_token": token, **form},
                follow_redirects=True,
            )
            assert message in _notice(answer.text).replace("&#39;", "'"), form
        gone = client.post(
            f"/dashboard/alerts/{their_alert.id}/delete",
            data={"csrf_token": token},
            follow_redirects=True,
        )
        assert "Not done" in _notice(gone.text)
    assert [alert.id for alert in engine.alerts(theirs.id)][-1] == their_alert.id
    assert [alert.source for alert in engine.alerts(mine.id)] == ["catalog"] * 3
    assert engine.budget(mine.id).amount is None
