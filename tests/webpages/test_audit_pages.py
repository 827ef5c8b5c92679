"""The audit log through the dashboard's forms, over plain HTTP: a customer's form and an
operator's console lever each write exactly one entry naming the session that sent it (and the
reason the lever's form gave); a form refused by its CSRF check writes none; the console's
account page shows the account's log."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from meterstack import Engine
from meterstack.records.audit import AuditEntry
from webpages.dashboard_pages import OPERATOR, csrf_token, engine_of, link_for

Service = Callable[..., Any]


def _client(service: Any) -> httpx.Client:
    return httpx.Client(base_url=str(service.base_url), follow_redirects=False, timeout=30)


def _log(engine: Engine, account_id: str) -> list[AuditEntry]:
    return engine.audit(account_id=account_id, limit=200).entries


def test_a_customer_dashboard_form_writes_one_entry_naming_its_session(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    with _client(service) as client:
        assert client.get(link_for(service, account.id)).status_code == 303
        known = len(_log(engine, account.id))  # the link's minting is recorded: count from here
        token = csrf_token(client.get("/dashboard/overage").text)

        forged = client.post("/dashboard/overage", data={"enabled": "on"})
        assert forged.status_code == 403
        assert len(_log(engine, account.id)) == known

        sent = client.post(
            "/dashboard/overage",
            data={"csrf_token": token, "enabled": "on", "meter": "api_calls"},
        )
        assert sent.status_code == 303
        cancelled = client.post("/dashboard/plans/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 303

    log = _log(engine, account.id)
    assert [entry.kind for entry in log[:2]] == ["subscription.cancelled", "overage.switched"]
    assert len(log) == known + 2
    switched = log[1]
    assert switched.actor.kind == "dashboard"
    assert switched.actor.id is not None
    assert re.fullmatch(r"session:[0-9a-f]{16}", switched.actor.id)
    assert log[0].actor == switched.actor, "one session, one name"
    assert switched.after == {"meter": "api_calls", "project_id": None, "enabled": True}

    with _client(service) as other:
        other.get(link_for(service, account.id))
        token = csrf_token(other.get("/dashboard/plans").text)
        other.post("/dashboard/plans/resume", data={"csrf_token": token})
    resumed = _log(engine, account.id)[0]
    assert resumed.kind == "subscription.resumed"
    assert resumed.actor.kind == "dashboard"
    assert resumed.actor.id != switched.actor.id, "another browser, another session"


def test_a_console_lever_writes_one_entry_with_its_reason_and_the_page_shows_it(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    known = len(_log(engine, account.id))
    path = f"/console/accounts/{account.id}"
    with _client(service) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        page = client.get(path)
        assert page.status_code == 200
        assert 'id="audit-heading"' in page.text
        assert 'name="reason"' in page.text
        token = csrf_token(page.text)

        pulled = client.post(
            path,
            data={
                "csrf_token": token,
                "lever": "limit",
                "item": "api_calls",
                "limit": "123456",
                "reason": "<b>pilot</b> extension",
            },
        )
        assert pulled.status_code == 303
        refused = client.post(
            path, data={"csrf_token": token, "lever": "limit", "item": "nope", "limit": "1"}
        )
        assert refused.status_code == 303
        shown = client.get(path).text

    log = _log(engine, account.id)
    assert len(log) == known + 1
    entry = log[0]
    assert (entry.kind, entry.actor.kind, entry.reason) == (
        "limit.set",
        "operator",
        "<b>pilot</b> extension",
    )
    assert entry.actor.id is not None
    assert entry.actor.id.startswith("console:")
    audit_section = shown[shown.index('id="audit-heading"') :]
    assert "limit.set" in audit_section
    assert "123456" in audit_section
    assert "&lt;b&gt;pilot&lt;/b&gt; extension" in audit_section
    assert "<b>pilot</b>" not in shown


def test_the_console_pages_through_an_accounts_log(live_service: Service) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    for limit in range(1, 26):
        engine.set_limit(account.id, "api_calls", limit)
    path = f"/console/accounts/{account.id}"
    with _client(service) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        first = client.get(path).text
        older = re.search(r'href="([^"]+audit_before=[0-9]+)"', first)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert client.get(path, params={"audit_before": "x"}).status_code == 422

    def shown(page: str) -> list[str]:
        section = page[page.index('id="audit-heading"') :]
        return re.findall(
            r'→ \{"grace_percent": null, "limit": ([0-9]+)\}', section.replace("&#34;", '"')
        )

    assert shown(first) == [str(limit) for limit in range(25, 5, -1)], "20 a page, newest first"
    assert shown(second) == [str(limit) for limit in range(5, 0, -1)]
    assert "account.created" not in first
    assert "account.created" in second
    assert "audit_before" not in second[second.index('id="audit-heading"') :]


def test_a_console_sign_in_link_and_endpoint_changes_are_logged_and_shown(
    live_service: Service,
) -> None:
    service = live_service("agentstack")
    engine = engine_of(service)
    account = engine.create_account(plan="starter")
    engine.webhooks.endpoints.create("http://10.0.0.5/every-account")
    engine.webhooks.endpoints.create("http://10.0.0.6/one-account", account_id=account.id)
    path = f"/console/accounts/{account.id}"
    with _client(service) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        token = csrf_token(client.get(path).text)
        forged = client.post(f"{path}/link", data={})
        minted = client.post(f"{path}/link", data={"csrf_token": token})
        shown = client.get(path).text
        webhooks = client.get("/console/webhooks").text
        assert client.get("/console/webhooks", params={"changes_before": "x"}).status_code == 422

    assert (forged.status_code, minted.status_code) == (403, 200)
    [entry] = engine.audit(kind="dashboard.link_minted").entries
    assert entry.account_id == account.id
    assert entry.actor.id is not None
    assert re.fullmatch(r"console:[0-9a-f]{16}", entry.actor.id)
    link_token = re.search(r"token=([A-Za-z0-9_-]+)", minted.text)
    assert link_token is not None
    assert link_token.group(1) not in shown, "the account's log never shows the link's token"
    assert "dashboard.link_minted" in shown[shown.index('id="audit-heading"') :]

    changes = webhooks[webhooks.index('id="endpoint-changes-heading"') :]
    assert changes.count("webhook.endpoint_created") == 2
    assert "every account" in changes
    assert f"/console/accounts/{account.id}" in changes
    assert "http://10.0.0.5/every-account" in changes
