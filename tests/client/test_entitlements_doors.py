"""Entitlements through the SDK and the ASGI middleware (A8, A10, C3, D4): the same decisions as
the engine's, with the decision's own status and code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from meterstack import Engine
from meterstack.client import (
    AsyncClient,
    Client,
    ModuleNotAllowedError,
    NotAllowedError,
    UpgradeRequiredError,
)
from meterstack.middleware import MeteringMiddleware, Receive, Route, Scope, Send

OPERATOR_KEY = "operator-secret"


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    del scope, receive
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"answered"})


def _header(name: bytes) -> Callable[[Scope], str | None]:
    def read(scope: Scope) -> str | None:
        for key, value in scope["headers"]:
            if key == name:
                return str(value.decode())
        return None

    return read


def test_a8_a10_c3_the_sdk_checks_features_modules_and_payments(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("agentstack")
    engine: Engine = service.app.state.engine
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="starter")
        project = engine.create_project(account.id)
        key = engine.create_api_key(account.id, project_id=project.id, modules=["analytics"])
        allowed = operator.check_feature(account.id, "webhooks")
        with pytest.raises(UpgradeRequiredError) as audit:
            operator.check_feature(account.id, "audit_logs")
        with pytest.raises(ModuleNotAllowedError) as module:
            operator.check_module(key.id, "payments")
        payment = operator.check_payment(account.id)
        with pytest.raises(ModuleNotAllowedError):
            operator.check_payment(account.id, api_key_id=key.id)
        granted = operator.entitlements(account.id)
        with pytest.raises(UpgradeRequiredError):
            operator.consume(account.id, "api_calls", 1, requires=["audit_logs"])
        with pytest.raises(UpgradeRequiredError):
            operator.reserve(account.id, "api_calls", 1, requires=["audit_logs"])
        after = operator.account_usage(account.id)["api_calls"]

    assert (allowed.allowed, allowed.meter) == (True, "webhooks")
    assert audit.value.decision is not None
    assert audit.value.decision.extra["upgrade_to"] == "pro"
    assert module.value.status == 403
    assert isinstance(module.value, NotAllowedError)
    assert payment.allowed
    assert granted.limits["user_api_keys"].limit == 3
    assert (granted.support, str(granted.uptime_sla_percent)) == ("Priority", "99.5")
    assert granted.features["audit_logs"].granted is False
    assert (after.used, after.held) == (0, 0)


def test_c3_the_async_sdk_refuses_a_managed_session_on_free_with_403(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("flowstack")
    base = str(service.base_url)

    async def scenario() -> tuple[str, int, int]:
        async with AsyncClient(base, OPERATOR_KEY) as operator:
            account = await operator.create_account(plan="free")
            with pytest.raises(NotAllowedError) as refused:
                await operator.consume(account.id, "sessions", requires=["managed_models"])
            byok = await operator.consume(account.id, "sessions")
            granted = await operator.entitlements(account.id)
            assert granted.features["managed_models"].granted is False
            return refused.value.code, refused.value.status or 0, byok.used

    assert anyio.run(scenario) == ("not_allowed_for_tier", 403, 1)


@pytest.mark.parametrize("backend", ["engine", "client"])
def test_a8_c3_the_middleware_declares_per_route_meter_features_and_module(
    live_service: Callable[..., Any], backend: str
) -> None:
    service = live_service("agentstack")
    engine: Engine = service.app.state.engine
    base = str(service.base_url)
    starter = engine.create_account(plan="starter")
    pro = engine.create_account(plan="pro")
    project = engine.create_project(pro.id)
    capped = engine.create_api_key(pro.id, project_id=project.id, modules=["scheduler"])
    free_key = engine.create_api_key(pro.id, project_id=project.id, modules=["payments"])
    routes = {
        "/logic": Route(meter="logic_engine_calls"),
        "/audit": Route(meter="api_calls", requires=("audit_logs",)),
        "/audit/export": Route(requires=("audit_logs",)),
        "/pay": Route(module="payments"),
    }

    async def scenario() -> dict[str, list[httpx.Response]]:
        async with AsyncClient(base, OPERATOR_KEY) as remote:
            guarded = MeteringMiddleware(
                _ok,
                engine_or_client=engine if backend == "engine" else remote,
                account_of=_header(b"x-account"),
                key_of=_header(b"x-key"),
                routes=routes,
            )
            transport = httpx.ASGITransport(app=guarded)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:

                async def call(path: str, account: str, key: str | None = None) -> Any:
                    headers = {"x-account": account, **({"x-key": key} if key else {})}
                    return await http.post(path, headers=headers)

                return {
                    "starter": [
                        await call("/logic", starter.id),
                        await call("/audit", starter.id),
                        await call("/audit/export", starter.id),
                        await call("/elsewhere", starter.id),
                    ],
                    "pro": [
                        await call("/audit", pro.id),
                        await call("/audit/export", pro.id),
                        await call("/pay", pro.id, capped.id),
                        await call("/pay", pro.id, free_key.id),
                    ],
                }

    answers = anyio.run(scenario)

    logic, audit, export, elsewhere = answers["starter"]
    assert (logic.status_code, logic.headers["RateLimit-Limit"]) == (200, "50000")
    for refused in (audit, export):
        assert refused.status_code == 402
        assert refused.json()["error"]["code"] == "upgrade_required"
    assert elsewhere.status_code == 200  # no route, no default meter: not metered
    assert "RateLimit-Limit" not in elsewhere.headers
    pro_audit, pro_export, pay_capped, pay_allowed = answers["pro"]
    assert [pro_audit.status_code, pro_export.status_code] == [200, 200]
    assert (pay_capped.status_code, pay_capped.json()["error"]["code"]) == (
        403,
        "module_not_allowed",
    )
    assert pay_allowed.status_code == 200
    assert engine.usage(starter.id)["logic_engine_calls"].used == 1
    assert engine.usage(starter.id)["api_calls"].used == 0  # the refused route counted nothing
    assert engine.usage(pro.id)["api_calls"].used == 1
