"""Inputs that broke the dashboard and the console: page numbers past the store's range,
digits that are not ASCII (``²``, ``①``, ``٣``), a cursor that is not one, an export format
nobody offers. Each is a 4xx with its message and changes nothing, on every backend."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from meterstack import Engine
from meterstack.errors import InvalidInputError, OutOfRangeError
from webpages.dashboard_pages import (
    csrf_token,
    customer_session,
    engine_of,
    operator_session,
)

Service = Callable[..., Any]
pytestmark = pytest.mark.xdist_group("dashboard-http")

#: Whole numbers a person may type that ``str.isdigit`` took and ``int`` then refused (or
#: read although they are not digits 0-9), and numbers past every bound.
NOT_ASCII = ("²", "①", "٣", "１２")
TOO_LARGE = ("9223372036854775808", str(10**40), "9" * 5000)


def _notice(page: str) -> str:
    found = re.search(r'<div class="notice refused"[^>]*>(.*?)</div>', page, re.S)
    assert found is not None, "a refusal notice"
    text = " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())
    return text.replace("&#39;", "'")


def _state(engine: Engine, account_id: str) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the audit trail, keys, wallet, plan,
    invoices and every counter and limit."""
    usage = engine.usage(account_id)
    return (
        [entry.id for entry in engine.audit(account_id=account_id, limit=200).entries],
        [key.id for key in engine.api_keys(account_id, revoked=True)],
        engine.wallet(account_id).balance,
        engine.subscription(account_id).plan,
        len(engine.invoices(account_id)),
        {item: (found.used, found.limit) for item, found in usage.items.items()},
    )


def test_a_page_number_past_the_stores_range_or_not_in_ascii_digits_is_422(
    live_service: Service,
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with customer_session(service, account.id) as customer, operator_session(service) as operator:
        # Signing in by link is itself recorded (who minted it): the state is taken after.
        before = _state(engine, account.id)
        for client, path in (
            (customer, "/dashboard/invoices"),
            (operator, "/console"),
            (operator, "/console/invoices"),
        ):
            for page in (*TOO_LARGE, *NOT_ASCII, "0", "-1", "1.0", "1_000", " 1", "1\x00"):
                answer = client.get(path, params={"page": page})
                assert answer.status_code == 422, (path, page, answer.text[:200])
                assert "page must be" in answer.text, (path, page)
                assert answer.headers["content-type"].startswith("text/html")
            assert client.get(path, params={"page": "1000000000"}).status_code == 200, path
    assert _state(engine, account.id) == before


def test_the_directory_refuses_a_page_whose_offset_would_not_fit_64_bits(
    open_engine: Callable[..., Engine],
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter")
    for page in (2**62, 2**63, 10**9 + 1):
        with pytest.raises(OutOfRangeError, match="page must be at least 1 and at most"):
            engine.directory.invoices(account.id, page=page)
        with pytest.raises(OutOfRangeError, match="page must be at least 1 and at most"):
            engine.directory.accounts(page=page)
    with pytest.raises(InvalidInputError, match="a page number is a whole number"):
        engine.directory.accounts(page=True)
    last = engine.directory.invoices(account.id, page=10**9, size=200)
    assert (last.entries, last.number, last.total) == ([], 10**9, 1)


def test_a_key_quota_in_digits_that_are_not_ascii_is_refused_with_its_message(
    live_service: Service,
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with customer_session(service, account.id) as customer:
        # Signing in by link is itself recorded (who minted it): the state is taken after.
        before = _state(engine, account.id)
        token = csrf_token(customer.get("/dashboard/keys").text)
        for quota in (*NOT_ASCII, *TOO_LARGE, "-5", "5 000", "1_000"):
            answer = customer.post(
                "/dashboard/keys",
                data={"csrf_token": token, "name": "capped", "quota_api_requests": quota},
                follow_redirects=True,
            )
            assert answer.status_code == 200, quota  # the keys page again, with the refusal
            assert "the quota of api_requests must be" in _notice(answer.text), quota
    assert _state(engine, account.id) == before


def test_the_console_limit_lever_refuses_digits_that_are_not_ascii(
    live_service: Service,
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    before = _state(engine, account.id)
    page = f"/console/accounts/{account.id}"
    with operator_session(service) as operator:
        token = csrf_token(operator.get(page).text)
        lever = {"csrf_token": token, "lever": "limit", "item": "api_requests"}
        for limit in (*NOT_ASCII, *TOO_LARGE, "-1", "ten"):
            answer = operator.post(
                page,
                data={**lever, "limit": limit},
                follow_redirects=True,
            )
            assert answer.status_code == 200, limit
            assert "limit must be" in _notice(answer.text), limit
        assert _state(engine, account.id) == before
        done = operator.post(
            page,
            data={**lever, "limit": "7,000"},
            follow_redirects=True,
        )
        assert "api_requests limit set to 7,000" in done.text
    assert engine.usage(account.id)["api_requests"].limit == 7000


def test_a_cursor_that_is_not_one_is_422_on_the_wallet_and_the_audit_trail(
    live_service: Service,
) -> None:
    service = live_service("aerostack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with customer_session(service, account.id) as customer, operator_session(service) as operator:
        for cursor in (*NOT_ASCII, *TOO_LARGE, "-1", "zzz", "1_000"):
            wallet = customer.get("/dashboard/wallet", params={"before": cursor})
            assert wallet.status_code == 422, cursor
            assert "before must be" in wallet.text, cursor
            audit = operator.get(f"/console/accounts/{account.id}", params={"audit_before": cursor})
            assert audit.status_code == 422, cursor
            assert "before must be" in audit.text, cursor
        assert customer.get("/dashboard/wallet", params={"before": "1"}).status_code == 200


def test_the_usage_export_refuses_a_format_it_does_not_offer_and_counts_nothing(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="pro")
    engine.consume(account.id, "api_calls", 12)
    with customer_session(service, account.id) as customer:
        # Signing in by link is itself recorded (who minted it): the state is taken after.
        before = _state(engine, account.id)
        token = csrf_token(customer.get("/dashboard/usage").text)
        form = {"csrf_token": token, "meter": "api_calls", "granularity": "day"}
        for unknown in ("xml", "CSV", "csv\x00", "x" * 5000):
            refused = customer.post("/dashboard/usage/export", data={**form, "format": unknown})
            assert refused.status_code == 422, unknown
            assert "format must be one of csv, json" in refused.text.replace("&#39;", "'")
        assert _state(engine, account.id) == before

        as_json = customer.post("/dashboard/usage/export", data={**form, "format": "json"})
        assert as_json.headers["content-type"] == "application/json"
        assert sum(bucket["used"] for bucket in json.loads(as_json.text)["buckets"]) == 12
        as_csv = customer.post("/dashboard/usage/export", data=form)
        assert as_csv.headers["content-type"].startswith("text/csv")
    assert engine.usage(account.id)["analytics_exports"].used == 2
