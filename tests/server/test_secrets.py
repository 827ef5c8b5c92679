"""What a leaked secret gets: a revoked key learns nothing, a portal link stops working after its
lifetime, and no link's token is written to the access log."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from fakes.serving import start_server
from meterstack import Engine, ManualClock
from meterstack.server import create_app, provider_of
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider

OPERATOR = {"Authorization": "Bearer operator-secret"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _customer(client: Any, plan: str = "starter") -> tuple[str, str]:
    created = client.post("/v1/accounts", json={"plan": plan}, headers=OPERATOR).json()
    return created["id"], created["user_api_key"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_revoked_key_is_refused_exactly_like_an_unknown_one(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account_id, key = _customer(client)
    second = client.post(f"/v1/accounts/{account_id}/keys", json={}, headers=OPERATOR).json()
    client.delete(f"/v1/accounts/{account_id}/keys/{second['id']}", headers=OPERATOR)
    revoked = second["key"]
    # A key of the right form that was never issued: same prefix, another secret.
    unknown = revoked[:-6] + ("a" if revoked[-6] != "a" else "b") + revoked[-5:]

    answers = [
        client.get("/api/billing", headers={"Authorization": f"Bearer {text}"})
        for text in (revoked, unknown)
    ]
    converted = [
        client.post(
            "/api/auth/convert-anonymous",
            json={
                "user_api_key": text,
                "name": "N",
                "email": "n@example.com",
                "password": "p" * 12,
            },
        )
        for text in (revoked, unknown)
    ]

    for pair in (answers, converted):
        assert [answer.status_code for answer in pair] == [401, 401]
        assert pair[0].json() == pair[1].json()
        assert pair[0].headers.get("www-authenticate") == pair[1].headers.get("www-authenticate")
    error = answers[0].json()["error"]
    assert error == {"code": "invalid_api_key", "message": "invalid API key", "details": {}}
    assert "revoked" not in answers[0].text
    assert second["id"] not in answers[0].text
    assert client.get("/api/billing", headers={"Authorization": f"Bearer {key}"}).status_code == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_portal_links_expire_after_an_hour_by_default(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("agentstack")
    _, key = _customer(client)
    customer = {"Authorization": f"Bearer {key}"}
    link = client.get("/api/billing/portal", headers=customer).json()["url"]
    engine: Engine = client.app.state.engine

    assert engine.clock is clock
    clock.advance(timedelta(minutes=59))
    assert client.get(link).status_code == 200
    clock.advance(timedelta(minutes=1))
    expired = client.get(link)
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "not_found"
    # A new link opens it again; a token made for another expiry (tampered) does not.
    fresh = client.get("/api/billing/portal", headers=customer).json()["url"]
    assert client.get(fresh).status_code == 200
    expires, _, signature = fresh.split("token=")[1].partition(".")
    later = fresh.replace(f"token={expires}.", f"token={int(expires) + 3600}.")
    assert client.get(later).status_code == 404
    assert signature


def test_portal_links_last_as_long_as_configured() -> None:
    settings = ServerSettings(
        operator_key="k", public_url="http://127.0.0.1:1", payments="local", portal_link_seconds=60
    )
    provider = provider_of(settings)
    assert isinstance(provider, LocalProvider)
    clock = ManualClock()
    link = provider.portal_link("acct_1", clock.now())
    token = link.split("token=")[1]

    assert provider.accepts_portal_token("acct_1", token, clock.now() + timedelta(seconds=59))
    assert not provider.accepts_portal_token("acct_1", token, clock.now() + timedelta(seconds=60))
    assert not provider.accepts_portal_token("acct_2", token, clock.now())
    assert ServerSettings().portal_link_seconds == 3600


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_no_token_appears_in_any_access_log_line(
    open_engine: Callable[..., Engine], caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    engine = open_engine("agentstack", provider=LocalProvider(base))
    settings = ServerSettings(operator_key="operator-secret", public_url=base, payments="local")
    app = create_app(engine, settings)
    # The access log on, as a deployment may turn it on (``meterstack serve`` keeps it off).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="info", access_log=True
    )
    running = start_server(config)
    secrets: list[str] = []
    try:
        with (
            caplog.at_level(logging.INFO, logger="uvicorn.access"),
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            account_id, key = _customer(client)
            customer = {"Authorization": f"Bearer {key}"}
            portal = client.get("/api/billing/portal", headers=customer).json()["url"]
            checkout = client.post(
                "/api/billing/checkout", json={"tier": "basic"}, headers=customer
            ).json()["url"]
            signin = client.post(
                f"/v1/accounts/{account_id}/dashboard-link", headers=OPERATOR
            ).json()["url"]
            for link in (portal, checkout, signin):
                client.get(link)
                secrets.append(link.split("=", 1)[1])
            client.get(f"/billing/portal/{account_id}?token=guessed-secret-value")
            secrets.append("guessed-secret-value")
    finally:
        running.stop()

    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert any("/billing/portal/" in line and "token=[redacted]" in line for line in lines)
    assert any("/billing/checkout/" in line and "secret=[redacted]" in line for line in lines)
    for secret in secrets:
        assert all(secret not in line for line in lines), secret
    assert all(key not in line for line in lines)
