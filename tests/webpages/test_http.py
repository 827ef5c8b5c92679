"""The dashboard over plain HTTP on every backend: cookies, sign-in doors, the CSRF check,
confinement to one account and one kind of session, escaping, pagination."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from meterstack.server.dashboard.web import DashboardSettings
from meterstack.services.access import ACCOUNT_ATTEMPTS
from webpages.dashboard_pages import OPERATOR, csrf_token, engine_of, link_for

Service = Callable[..., Any]
SECRET = "platform-jwt-secret-of-32-bytes!!"
pytestmark = pytest.mark.xdist_group("dashboard-http")


def _client(service: Any) -> httpx.Client:
    return httpx.Client(base_url=str(service.base_url), follow_redirects=False, timeout=30)


def _sign_in(client: httpx.Client, service: Any, account_id: str) -> httpx.Response:
    answer = client.get(link_for(service, account_id))
    assert answer.status_code == 303
    return answer


def test_the_session_cookie_is_opaque_httponly_lax_and_scoped(live_service: Service) -> None:
    service = live_service("flowstack")
    account = engine_of(service).create_account(plan="free")
    with _client(service) as client:
        cookie = _sign_in(client, service, account.id).headers["set-cookie"]
        assert re.match(r"meterstack_dashboard=[A-Za-z0-9_-]{43}; ", cookie)
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/dashboard" in cookie
        assert "Secure" not in cookie, "plain HTTP on loopback"
        assert account.id not in cookie

    service.app.state.dashboard_settings = DashboardSettings(cookie_secure=True)
    with _client(service) as client:
        assert "Secure" in _sign_in(client, service, account.id).headers["set-cookie"]


def test_the_platform_embeds_the_pages_behind_its_jwt(live_service: Service) -> None:
    service = live_service("aerostack", jwt_key=SECRET)
    account = engine_of(service).create_account(plan="free")
    token = jwt.encode({"account_id": account.id, "exp": time.time() + 60}, SECRET)
    with _client(service) as client:
        answer = client.get("/dashboard/embed", params={"jwt": token, "next": "/dashboard/plans"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard/plans"
        assert client.get("/dashboard/plans").status_code == 200
    with _client(service) as client:
        answer = client.get("/dashboard/embed", headers={"Authorization": f"Bearer {token}"})
        assert answer.headers["location"] == "/dashboard"
        assert "Your plan: Free" in client.get("/dashboard").text
    with _client(service) as client:
        forged = jwt.encode({"account_id": account.id, "exp": time.time() + 60}, "x" * 32)
        assert client.get("/dashboard/embed", params={"jwt": forged}).status_code == 401
        assert client.get("/dashboard/embed", params={"jwt": "ask_not_a_jwt"}).status_code == 401
        assert client.get("/dashboard").status_code == 303


def test_password_attempts_are_limited_over_http(live_service: Service) -> None:
    service = live_service("agentstack")
    account, key = engine_of(service).create_anonymous_account()
    engine_of(service).convert_anonymous(
        key.key, name="Ada", email="ada@example.com", password="correct horse battery"
    )
    with _client(service) as client:
        token = csrf_token(client.get("/dashboard/sign-in").text)
        form = {"csrf_token": token, "email": "ada@example.com", "password": "nope"}
        for _ in range(ACCOUNT_ATTEMPTS):
            assert client.post("/dashboard/sign-in", data=form).status_code == 401
        right = {**form, "password": "correct horse battery"}
        refused = client.post("/dashboard/sign-in", data=right)
        assert refused.status_code == 429
        assert "too many sign-in attempts" in refused.text
        assert client.get("/dashboard").status_code == 303
    del account


def test_a_sign_in_form_needs_the_token_its_page_set(live_service: Service) -> None:
    service = live_service("agentstack")
    with _client(service) as client:
        form = {"email": "ada@example.com", "password": "whatever", "csrf_token": "guess"}
        assert client.post("/dashboard/sign-in", data=form).status_code == 403
        assert client.post("/console/sign-in", data={"key": OPERATOR}).status_code == 403


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with _client(service) as client:
        _sign_in(client, service, account.id)
        token = csrf_token(client.get("/dashboard/overage").text)
        for form in ({"enabled": "on"}, {"enabled": "on", "csrf_token": token + "x"}):
            refused = client.post("/dashboard/overage", data=form)
            assert refused.status_code == 403
            assert "csrf_token_invalid" in refused.text
        assert not engine.usage(account.id)["logic_engine_calls"].overage_enabled
        done = client.post("/dashboard/overage", data={"enabled": "on", "csrf_token": token})
        assert done.status_code == 303
        assert engine.usage(account.id)["logic_engine_calls"].overage_enabled


def test_a_post_without_a_session_is_refused(live_service: Service) -> None:
    service = live_service("agentstack")
    with _client(service) as client:
        refused = client.post("/dashboard/plans/cancel", data={"csrf_token": "x"})
        assert refused.status_code == 401
        assert client.get("/dashboard/keys").headers["location"] == (
            "/dashboard/sign-in?next=/dashboard/keys"
        )


def test_sign_out_and_a_revoked_key_end_the_session(live_service: Service) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    key = engine.create_api_key(account.id)
    with _client(service) as client:
        _sign_in(client, service, account.id)
        stolen = dict(client.cookies)
        token = csrf_token(client.get("/dashboard").text)
        assert client.post("/dashboard/sign-out", data={"csrf_token": token}).status_code == 303
    with _client(service) as replay:
        replay.cookies.update(stolen)
        assert replay.get("/dashboard").status_code == 303

    with _client(service) as client:
        _sign_in(client, service, account.id)
        assert client.get("/dashboard").status_code == 200
        revoked = service.delete(
            f"/v1/accounts/{account.id}/keys/{key.id}",
            headers={"Authorization": f"Bearer {OPERATOR}"},
        )
        assert revoked.status_code == 204
        assert client.get("/dashboard").status_code == 303


def test_each_kind_of_session_opens_its_own_pages_only(live_service: Service) -> None:
    service = live_service("flowstack")
    account = engine_of(service).create_account(plan="free")
    with _client(service) as client:
        _sign_in(client, service, account.id)
        assert client.get("/console").headers["location"] == "/console/sign-in?next=/console"
    with _client(service) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        wrong = client.post("/console/sign-in", data={"csrf_token": token, "key": "guess"})
        assert wrong.status_code == 401
        signed = client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        assert signed.headers["location"] == "/console"
        assert client.get("/console").status_code == 200
        assert client.get("/dashboard").status_code == 303


def test_a_dashboard_link_needs_the_operator_and_a_real_account(live_service: Service) -> None:
    service = live_service("flowstack")
    account = engine_of(service).create_account(plan="free")
    key = engine_of(service).create_api_key(account.id)
    path = f"/v1/accounts/{account.id}/dashboard-link"
    assert service.post(path).status_code == 401
    assert service.post(path, headers={"Authorization": f"Bearer {key.key}"}).status_code == 403
    missing = service.post(
        "/v1/accounts/acct_nobody/dashboard-link", headers={"Authorization": f"Bearer {OPERATOR}"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_what_accounts_wrote_is_escaped(live_service: Service) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter", name="<script>alert(1)</script>")
    engine.create_api_key(account.id, name='"><img src=x onerror=alert(1)>')
    with _client(service) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        listing = client.get("/console").text
        assert "<script>alert(1)</script>" not in listing
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    with _client(service) as client:
        _sign_in(client, service, account.id)
        keys = client.get("/dashboard/keys")
        assert "<img src=x" not in keys.text
        assert "frame-ancestors 'self'" in keys.headers["content-security-policy"]
        assert keys.headers["cache-control"] == "no-store"


def test_invoices_are_shown_a_page_at_a_time_newest_first(live_service: Service) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    for _ in range(44):
        engine.buy_pack(account.id, "logic_engine_small")
    numbers = [invoice.number for invoice in engine.invoices(account.id)]
    assert len(numbers) == 45
    with _client(service) as client:
        _sign_in(client, service, account.id)
        first = client.get("/dashboard/invoices").text
        last = client.get("/dashboard/invoices", params={"page": "3"}).text
        assert "Page 1 of 3" in first
        assert f">{numbers[-1]}</a>" in first
        assert f">{numbers[0]}</a>" not in first
        shown = re.findall(r'/dashboard/invoices/([^"/]+)"', last)
        assert shown == list(reversed(numbers[:5]))
        assert client.get("/dashboard/invoices", params={"page": "0"}).status_code == 422


def test_overage_switches_for_one_project(live_service: Service) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id, name="checkout")
    with _client(service) as client:
        _sign_in(client, service, account.id)
        page = client.get("/dashboard/overage", params={"project": project.id}).text
        assert "Overage switches for project checkout" in page
        form = {"csrf_token": csrf_token(page), "enabled": "on", "meter": "api_calls"}
        done = client.post("/dashboard/overage", data={**form, "project": project.id})
        assert done.headers["location"] == f"/dashboard/overage?project={project.id}"
    assert engine.usage(account.id, project_id=project.id)["api_calls"].overage_enabled
    assert not engine.usage(account.id)["api_calls"].overage_enabled
    assert engine.consume(account.id, "api_calls", 200_001, project_id=project.id).allowed
    assert not engine.consume(account.id, "api_calls", 1).allowed
