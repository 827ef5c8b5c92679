"""Every operation declares exactly the error statuses it can return, and returns each one.

For each operation of the OpenAPI document, the statuses it declares must equal the statuses of
the refusals below: the ones every route of its kind meets (no credentials, the other side's
key, a body too large, a NUL character, the store down) and the ones of its own (an unknown id,
a limit, a conflict…). Each refusal is sent and must answer its status in the one error shape.
A route that declares a status no request reaches, or that reaches one it does not declare,
fails here; schemathesis (test_fuzz.py) checks that generated requests stay within them too.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn

from fakes.serving import Running, start_server
from meterstack import Engine, ManualClock
from meterstack.catalog.loader import LoadedCatalog, builtin_text, load_catalog, parse_catalog
from meterstack.errors import StoreUnavailableError
from meterstack.rules.alerts import MAX_ALERTS
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider
from meterstack.store.ports import Store, UnitOfWork
from meterstack.store.sql import SqlStore

OPERATOR = {"Authorization": "Bearer operator-secret"}
LIMIT = 1024 * 1024


class StoreThatCanFail:
    """The store port, or a database that cannot do the work (503) while ``down``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False

    @property
    def backend(self) -> str:
        return self.inner.backend

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        if self.down:
            raise StoreUnavailableError("the database is down (test)")
        return self.inner.transaction()

    def close(self) -> None:
        self.inner.close()


@dataclass
class Service:
    client: httpx.Client
    engine: Engine
    store: StoreThatCanFail
    provider: LocalProvider
    document: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who == "operator":
            return OPERATOR
        return {"Authorization": f"Bearer {self.ids[who]}"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    made: dict[str, Service] = {}
    servers: list[Running] = []
    for catalog in ("agentstack", "aerostack"):
        path = tmp_path_factory.mktemp(catalog) / "contract.db"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        store = StoreThatCanFail(SqlStore(f"sqlite:///{path}"))
        provider = LocalProvider(base)
        engine = Engine.on(store, catalog=_catalog(catalog), clock=ManualClock(), provider=provider)
        settings = ServerSettings(operator_key="operator-secret", public_url=base, payments="local")
        app = create_app(engine, settings)
        servers.append(
            start_server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        )
        client = httpx.Client(base_url=base, timeout=30)
        made[catalog] = Service(client, engine, store, provider, app.openapi())
        _populate(made[catalog])
    yield made
    for service in made.values():
        service.client.close()
    for running in servers:
        running.stop()
    for service in made.values():
        service.engine.close()


def _catalog(name: str) -> LoadedCatalog:
    """The builtin catalog; here Aerostack's agent runs also count gateway requests, so that a
    charge meets the refusal of the meter its operation counts too (as a catalog may declare)."""
    if name != "aerostack":
        return load_catalog(name)
    text = builtin_text(name)
    marker = '      price: "0.01"  # assumption\n      byok_free: true\n'
    assert marker in text
    return parse_catalog(text.replace(marker, marker + "      meter: gateway_requests\n", 1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _populate(service: Service) -> None:
    engine, ids = service.engine, service.ids
    plan = "starter"
    account = engine.create_account(plan)
    ids["account"] = account.id
    opening = engine.invoices(account.id)[0].number
    assert opening is not None
    ids["invoice"] = opening
    ids["customer"] = engine.create_api_key(account.id).key
    project = engine.create_project(account.id)
    ids["project"] = project.id
    project_key = engine.create_api_key(account.id, project_id=project.id)
    ids["project_key"] = project_key.key
    ids["key_id"] = project_key.id
    anonymous, key = engine.create_anonymous_account()
    ids["anonymous"] = anonymous.id
    ids["anonymous_key"] = key.key
    meter = "api_calls" if "api_calls" in engine.catalog.items else "api_requests"
    for outcome in ("released", "committed"):
        hold_id = engine.reserve(account.id, meter).id
        assert hold_id is not None
        if outcome == "released":
            engine.release(hold_id)
        else:
            engine.commit(hold_id)
        ids[outcome] = hold_id
    free = engine.create_account("free")
    ids["free"] = free.id
    ids["free_key"] = engine.create_api_key(free.id).key
    engine.create_account("free", email="taken@example.com")
    # An account whose cancellation waits, with an endpoint whose delivery of it is pending.
    cancelled = engine.create_account(plan)
    ids["cancelled"] = cancelled.id
    ids["cancelled_key"] = engine.create_api_key(cancelled.id).key
    registered = engine.webhooks.endpoints.create("https://1.1.1.1/hook", customer=cancelled.id)
    engine.cancel(cancelled.id)
    worker = engine.webhooks.worker()
    worker.fan_out()  # the delivery is made, and stays pending: no worker sends it here
    worker.close()
    ids["endpoint"] = registered.endpoint.id
    delivery = engine.webhooks.deliveries(endpoint_id=registered.endpoint.id)[0]
    ids["delivery"] = delivery.id
    if engine.catalog.wallet is not None:
        # An item of the account's own (calling it is refused), and a little money on another.
        ids["item"] = engine.create_item(account.id, "Search", Decimal("1.00")).id
        engine.adjust_wallet(free.id, Decimal("1.00"), "test funds")
        # A deposit of $10.00 of which $5.00 is spent: refunding all of it is refused.
        checkout = engine.deposit(free.id, Decimal("10.00"))
        engine.pay_checkout(checkout.id, service.provider.checkout_secret(checkout.id))
        ids["deposit"] = engine.wallet_transactions(free.id).entries[0].id
        engine.adjust_wallet(free.id, Decimal("-5.00"), "spent")
    ids["back"] = f"{service.client.base_url}/done"
    # Two paid invoices of packs, on an account of their own: one to void, one to credit
    # after voiding it.
    if "api_calls" in engine.catalog.items:
        buyer = engine.create_account(plan)
        pack = engine.pack_for(buyer.id, meter, "small")
        for name in ("paid_invoice", "voided_invoice"):
            invoice = engine.buy_pack(buyer.id, pack).invoice
            assert invoice is not None
            assert invoice.number is not None
            ids[name] = invoice.number


@dataclass(frozen=True)
class Refusal:
    """A request and the status it must answer."""

    status: int
    who: str | None = "operator"
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    raw: bytes | None = None
    catalog: str = "agentstack"
    store_down: bool = False
    #: Sent first (``(method, path, body)``), for a refusal that needs some state.
    before: tuple[tuple[Any, ...], ...] = ()


def _send(service: Service, method: str, path: str, refusal: Refusal) -> Any:
    params = {**_default_params(service), **refusal.params}
    for before_method, before_path, before_body, *before_who in refusal.before:
        service.client.request(
            before_method,
            _fill(before_path, params),
            json=before_body,
            headers=service.headers(before_who[0] if before_who else "operator"),
        )
    headers = service.headers(refusal.who)
    if refusal.raw is not None:
        headers = {**headers, "Content-Type": "application/json"}
    with _store(service, refusal.store_down):
        return service.client.request(
            method,
            _fill(path, params),
            params=refusal.query or None,
            json=refusal.body if refusal.raw is None else None,
            content=refusal.raw,
            headers=headers,
        )


@contextmanager
def _store(service: Service, down: bool) -> Iterator[None]:
    service.store.down = down
    try:
        yield
    finally:
        service.store.down = False


def _fill(path: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return path


def _default_params(service: Service) -> dict[str, str]:
    ids = service.ids
    return {
        "account_id": ids["account"],
        "key_id": ids["key_id"],
        "kind": "triggers",
        "gauge": "project_storage",
        "feature": "analytics",
        "module": "payments",
        "resource_id": "res_nope",
        "reservation_id": "res_nope",
        "lease_id": "lease_nope",
        "number": "INV-nope",
        "endpoint_id": "whe_nope",
        "delivery_id": "whd_nope",
        "event_id": "evt_nope",
        "entry_id": "wle_nope",
        "item_id": "item_nope",
        "alert_id": "alrt_nope",
    }


#: A body each operation accepts, for the refusals that need the request to pass validation.
BODIES: dict[str, Any] = {
    "POST /v1/accounts": {"plan": "starter"},
    "POST /v1/accounts/{account_id}/consume": {"meter": "api_calls"},
    "POST /v1/accounts/{account_id}/check": {"meter": "api_calls"},
    "POST /v1/usage/batch": {"events": [{"account_id": "acct_x", "meter": "api_calls"}]},
    "POST /v1/accounts/{account_id}/reserve": {"meter": "api_calls"},
    "POST /v1/reservations/{reservation_id}/commit": {},
    "POST /v1/accounts/{account_id}/projects": {},
    "POST /v1/accounts/{account_id}/resources/{kind}": {},
    "POST /v1/accounts/{account_id}/end-users": {},
    "POST /v1/accounts/{account_id}/gauges/{gauge}": {"level": 1},
    "POST /v1/accounts/{account_id}/leases": {"item": "realtime_connections"},
    "PUT /v1/accounts/{account_id}/limits": {"item": "api_calls", "limit": 5},
    "PUT /v1/accounts/{account_id}/overage": {"enabled": False},
    "POST /v1/accounts/{account_id}/keys": {},
    "POST /v1/accounts/{account_id}/subscription": {"plan": "basic"},
    "POST /v1/accounts/{account_id}/packs": {"pack": "api_calls_small"},
    "POST /v1/clock": {"advance_seconds": 1},
    "POST /v1/accounts/{account_id}/features/{feature}/check": {},
    "POST /v1/accounts/{account_id}/payments/check": {},
    "POST /v1/webhooks/endpoints": {"url": "https://example.com/hook"},
    "PATCH /v1/webhooks/endpoints/{endpoint_id}": {},
    "POST /v1/webhooks/endpoints/{endpoint_id}/rotate-secret": {},
    "POST /api/billing/checkout": {"tier": "basic"},
    "PUT /api/billing/overage": {"enabled": False},
    "POST /api/billing/downgrade": {"tier": "free"},
    "POST /api/billing/api-keys": {},
    "POST /api/auth/convert-anonymous": {
        "user_api_key": "anon_ask_nope",
        "name": "N",
        "email": "n@example.com",
        "password": "long enough password",
    },
    "POST /api/billing/webhooks": {"url": "https://1.1.1.1/hook"},
    "PATCH /api/billing/webhooks/{endpoint_id}": {},
    "POST /api/billing/webhooks/{endpoint_id}/rotate-secret": {},
    "POST /api/billing/wallet/deposit": {"amount": "10.00"},
    "PUT /api/billing/wallet/auto-reload": {"threshold": None},
    "POST /v1/accounts/{account_id}/wallet/charge": {"operation": "bot_message"},
    "POST /v1/accounts/{account_id}/wallet/adjust": {"amount": "1.00", "reason": "correction"},
    "POST /v1/marketplace/items": {"creator_id": "acct_x", "name": "Search", "price": "1.00"},
    "PUT /v1/marketplace/items/{item_id}/price": {"price": "1.00"},
    "POST /v1/marketplace/creators/{account_id}/onboarding-link": {
        "refresh_url": "{back}",
        "return_url": "{back}",
    },
    "POST /v1/wallet/deposits/{entry_id}/refund": {},
    "POST /v1/invoices/{number}/credit-notes": {"amount": "0.01", "reason": "goodwill"},
    "POST /api/billing/alerts": {"kind": "usage_percent", "meter": "api_calls", "threshold": "90"},
    "PUT /api/billing/budget": {"amount": "10.00"},
    "POST /v1/accounts/{account_id}/alerts": {"kind": "payment_failed"},
    "PUT /v1/accounts/{account_id}/budget": {"amount": "10.00", "mode": "soft"},
}
#: Queries the operations need to pass validation.
QUERIES: dict[str, dict[str, str]] = {
    "POST /api/billing/logic-engine-package": {"package_size": "small"},
    "POST /api/billing/api-calls-package": {"package_size": "small"},
    "POST /api/billing/storage-package": {"package_size": "5gb"},
}
#: Operations whose answer needs no store at all (static documents).
STORELESS = {"GET /v1/webhooks/event-types", "GET /api/billing/plans", "POST /v1/clock"}

AGENT = "agentstack"
AERO = "aerostack"
NOPE = {"account_id": "acct_nope"}
OVER = {"meter": "api_calls", "quantity": 200_001}
UPGRADE = {"meter": "api_calls", "requires": ["audit_logs"]}
ZERO_CONNECTIONS = {"item": "realtime_connections", "limit": 0}
#: Further back than the starter plan's 30 days of analytics (D9), from 2026-01-01.
LONG_AGO = {"from": "2025-11-01T00:00:00Z", "to": "2025-11-02T00:00:00Z"}
CHARGE = "/v1/accounts/{account_id}/wallet/charge"
ITEM_CALL = {"operation": "marketplace_tool_call"}

#: The refusals of each operation's own, beyond those of its kind.
OWN: dict[str, list[Refusal]] = {
    "GET /v1/accounts/{account_id}": [Refusal(404, params=NOPE)],
    "POST /v1/accounts/{account_id}/consume": [
        Refusal(402, body=UPGRADE),
        Refusal(404, params=NOPE, body={"meter": "api_calls"}),
        Refusal(
            409,
            body={"meter": "api_calls", "quantity": 2, "idempotency_key": "k1"},
            before=(
                (
                    "POST",
                    "/v1/accounts/{account_id}/consume",
                    {"meter": "api_calls", "idempotency_key": "k1"},
                ),
            ),
        ),
        Refusal(429, body=OVER),
    ],
    "POST /v1/accounts/{account_id}/check": [
        Refusal(402, body=UPGRADE),
        Refusal(404, params=NOPE, body={"meter": "api_calls"}),
        Refusal(429, body=OVER),
    ],
    "GET /v1/accounts/{account_id}/usage": [Refusal(404, params=NOPE)],
    "POST /v1/accounts/{account_id}/reserve": [
        Refusal(402, body=UPGRADE),
        Refusal(404, params=NOPE, body={"meter": "api_calls"}),
        Refusal(
            409,
            body={"meter": "api_calls", "quantity": 2, "idempotency_key": "h1"},
            before=(
                (
                    "POST",
                    "/v1/accounts/{account_id}/reserve",
                    {"meter": "api_calls", "idempotency_key": "h1"},
                ),
            ),
        ),
        Refusal(429, body=OVER),
    ],
    "POST /v1/reservations/{reservation_id}/commit": [
        Refusal(404, body={}),
        Refusal(409, params={"reservation_id": "{released}"}, body={}),
    ],
    "POST /v1/reservations/{reservation_id}/release": [
        Refusal(404),
        Refusal(409, params={"reservation_id": "{committed}"}),
    ],
    "POST /v1/accounts/{account_id}/projects": [
        Refusal(404, params=NOPE, body={}),
        Refusal(
            429,
            body={},
            before=(("POST", "/v1/accounts/{account_id}/projects", {}),) * 3,
        ),
    ],
    "POST /v1/accounts/{account_id}/resources/{kind}": [
        Refusal(404, params=NOPE, body={}),
        Refusal(
            429,
            params={"kind": "logic_pages"},
            body={},
            before=(("POST", "/v1/accounts/{account_id}/resources/logic_pages", {}),) * 5,
        ),
    ],
    "GET /v1/accounts/{account_id}/resources": [Refusal(404, params=NOPE)],
    "DELETE /v1/accounts/{account_id}/resources/{resource_id}": [Refusal(404)],
    "POST /v1/accounts/{account_id}/end-users": [Refusal(404, params=NOPE, body={})],
    "POST /v1/accounts/{account_id}/gauges/{gauge}": [
        Refusal(404, params=NOPE, body={"level": 1}),
        Refusal(429, body={"level": 10**12}),
    ],
    "POST /v1/accounts/{account_id}/leases": [
        Refusal(404, params=NOPE, body={"item": "realtime_connections"}, catalog=AERO),
        Refusal(
            429,
            catalog=AERO,
            body={"item": "realtime_connections"},
            before=(
                (
                    "PUT",
                    "/v1/accounts/{account_id}/limits",
                    {"item": "realtime_connections", "limit": 0},
                ),
            ),
        ),
    ],
    "POST /v1/leases/{lease_id}/release": [Refusal(404)],
    "PUT /v1/accounts/{account_id}/limits": [
        Refusal(404, params=NOPE, body={"item": "api_calls", "limit": 5})
    ],
    "PUT /v1/accounts/{account_id}/overage": [
        Refusal(404, params=NOPE, body={"enabled": True}),
        Refusal(402, params={"account_id": "{anonymous}"}, body={"enabled": True}),
    ],
    "POST /v1/accounts/{account_id}/keys": [
        Refusal(404, params=NOPE, body={}),
        Refusal(429, body={}, before=(("POST", "/v1/accounts/{account_id}/keys", {}),) * 2),
    ],
    "GET /v1/accounts/{account_id}/keys": [Refusal(404, params=NOPE)],
    "DELETE /v1/accounts/{account_id}/keys/{key_id}": [Refusal(404, params={"key_id": "key_nope"})],
    "POST /v1/accounts/{account_id}/subscription": [
        Refusal(404, params=NOPE, body={"plan": "basic"}),
    ],
    "POST /v1/accounts/{account_id}/subscription/cancel": [
        Refusal(404, params=NOPE),
        Refusal(422, params={"account_id": "{free}"}),
    ],
    "POST /v1/accounts/{account_id}/packs": [
        Refusal(404, params=NOPE, body={"pack": "api_calls_small"})
    ],
    "GET /v1/accounts/{account_id}/invoices": [Refusal(404, params=NOPE)],
    "GET /v1/invoices/{number}": [Refusal(404)],
    "GET /v1/accounts/{account_id}/collections": [Refusal(404, params=NOPE)],
    "POST /v1/invoices/{number}/collect": [
        Refusal(404),
        # Collected by the first request: nothing is owed any more.
        Refusal(
            409,
            params={"number": "{invoice}"},
            before=(("POST", "/v1/invoices/{number}/collect", None),),
        ),
    ],
    "POST /v1/accounts/{account_id}/features/{feature}/check": [
        Refusal(402, params={"feature": "audit_logs"}),
        Refusal(404, params=NOPE),
    ],
    "POST /v1/keys/{key_id}/modules/{module}/check": [Refusal(404, params={"key_id": "key_nope"})],
    "POST /v1/accounts/{account_id}/payments/check": [Refusal(404, params=NOPE)],
    "GET /v1/accounts/{account_id}/entitlements": [Refusal(404, params=NOPE)],
    "POST /v1/accounts/{account_id}/dashboard-link": [Refusal(404, params=NOPE)],
    "POST /v1/webhooks/endpoints": [
        Refusal(404, body={"url": "https://example.com/h", "account_id": "acct_nope"})
    ],
    "GET /v1/webhooks/endpoints/{endpoint_id}": [Refusal(404)],
    "PATCH /v1/webhooks/endpoints/{endpoint_id}": [Refusal(404, body={})],
    "DELETE /v1/webhooks/endpoints/{endpoint_id}": [Refusal(404)],
    "POST /v1/webhooks/endpoints/{endpoint_id}/rotate-secret": [Refusal(404)],
    "GET /v1/webhooks/events/{event_id}": [Refusal(404)],
    "GET /v1/webhooks/deliveries/{delivery_id}/attempts": [Refusal(404)],
    "POST /v1/webhooks/deliveries/{delivery_id}/replay": [
        Refusal(404),
        Refusal(409, params={"delivery_id": "{delivery}"}),
    ],
    "POST /api/billing/cancel": [Refusal(422, who="free_key")],
    "POST /api/billing/logic-engine-package": [
        Refusal(422, who="customer", query={"package_size": "huge"}),
    ],
    "POST /api/billing/api-calls-package": [
        Refusal(422, who="customer", query={"package_size": "huge"}),
    ],
    "POST /api/billing/storage-package": [
        Refusal(422, who="customer", query={"package_size": "huge"}),
    ],
    # Well formed, refused by the account's state: it is on starter already (D30), and moving
    # up is paid first, through a checkout.
    "POST /api/billing/checkout": [Refusal(409, who="customer", body={"tier": "starter"})],
    "POST /api/billing/downgrade": [Refusal(409, who="customer", body={"tier": "pro"})],
    "PUT /api/billing/overage": [
        Refusal(402, who="anonymous_key", body={"enabled": True}),
        Refusal(404, who="customer", body={"enabled": True, "project_id": "prj_nope"}),
    ],
    "GET /api/billing/invoices/{number}": [Refusal(404, who="customer")],
    "POST /api/billing/resume": [Refusal(409, who="customer")],
    "POST /api/billing/api-keys": [
        Refusal(
            429,
            who="customer",
            body={},
            before=(("POST", "/v1/accounts/{account_id}/keys", {}),) * 3,
        )
    ],
    "DELETE /api/billing/api-keys/{key_id}": [Refusal(404, who="customer")],
    "POST /api/auth/anonymous": [
        Refusal(429, who=None, before=(("POST", "/api/auth/anonymous", None),) * 10)
    ],
    "POST /api/auth/convert-anonymous": [
        Refusal(401, who=None, body=BODIES["POST /api/auth/convert-anonymous"]),
        Refusal(
            409,
            who=None,
            body={
                **BODIES["POST /api/auth/convert-anonymous"],
                "user_api_key": "{anonymous_key}",
                "email": "taken@example.com",
            },
        ),
    ],
    "POST /api/billing/webhooks": [
        Refusal(
            409,
            who="customer",
            body={"url": "https://1.1.1.1/h"},
            before=(("POST", "/api/billing/webhooks", {"url": "https://1.1.1.1/h"}, "customer"),)
            * 10,
        ),
    ],
    "GET /api/billing/webhooks/{endpoint_id}": [Refusal(404, who="customer")],
    "PATCH /api/billing/webhooks/{endpoint_id}": [Refusal(404, who="customer", body={})],
    "DELETE /api/billing/webhooks/{endpoint_id}": [Refusal(404, who="customer")],
    "POST /api/billing/webhooks/{endpoint_id}/rotate-secret": [Refusal(404, who="customer")],
    "GET /api/billing/webhooks/{endpoint_id}/deliveries": [Refusal(404, who="customer")],
    "GET /api/billing/webhooks/{endpoint_id}/deliveries/{delivery_id}/attempts": [
        Refusal(404, who="customer")
    ],
    "POST /api/billing/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay": [
        Refusal(404, who="customer"),
        Refusal(
            409,
            who="cancelled_key",
            params={"endpoint_id": "{endpoint}", "delivery_id": "{delivery}"},
        ),
    ],
    "GET /api/billing/usage/history": [
        Refusal(403, who="customer", query=LONG_AGO),
        Refusal(422, who="customer", query={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01"}),
    ],
    "GET /api/billing/usage/export": [
        Refusal(403, who="customer", query=LONG_AGO),
        # The starter plan's 5 exports a month (A2).
        Refusal(
            429,
            who="customer",
            before=(("GET", "/api/billing/usage/export", None, "customer"),) * 5,
        ),
    ],
    "GET /v1/accounts/{account_id}/usage/history": [Refusal(404, params=NOPE)],
    "POST /api/billing/wallet/deposit": [
        Refusal(403, who="anonymous_key", body={"amount": "10.00"}),
        Refusal(422, who="customer", catalog=AERO, body={"amount": "4.99"}),
    ],
    "PUT /api/billing/wallet/auto-reload": [
        Refusal(422, who="customer", catalog=AERO, body={"threshold": "5.00", "amount": "1.00"}),
    ],
    "POST /v1/accounts/{account_id}/wallet/charge": [
        Refusal(402, catalog=AERO, body={"operation": "bot_message"}),
        Refusal(403, catalog=AERO, body={**ITEM_CALL, "item_id": "{item}"}),
        Refusal(404, catalog=AERO, params=NOPE, body={"operation": "bot_message"}),
        Refusal(404, catalog=AERO, body={**ITEM_CALL, "item_id": "item_nope"}),
        Refusal(409, catalog=AERO, body={"operation": "agent_execution", "max_price": "0.001"}),
        Refusal(
            409,
            catalog=AERO,
            params={"account_id": "{free}"},
            body={"operation": "bot_message", "quantity": 2, "idempotency_key": "w1"},
            before=(("POST", CHARGE, {"operation": "bot_message", "idempotency_key": "w1"}),),
        ),
        Refusal(
            429,
            catalog=AERO,
            body={"operation": "agent_execution"},
            before=(
                (
                    "PUT",
                    "/v1/accounts/{account_id}/limits",
                    {"item": "gateway_requests", "limit": 0, "grace_percent": "0"},
                ),
            ),
        ),
    ],
    "GET /v1/accounts/{account_id}/wallet": [Refusal(404, params=NOPE)],
    "POST /v1/accounts/{account_id}/wallet/adjust": [
        Refusal(402, body={"amount": "-1000.00", "reason": "correction"}),
        Refusal(404, params=NOPE, body={"amount": "1.00", "reason": "correction"}),
    ],
    "POST /v1/wallet/charges/{entry_id}/refund": [Refusal(404)],
    "POST /v1/marketplace/items": [
        Refusal(404, body={"creator_id": "acct_nope", "name": "Search", "price": "1.00"}),
        Refusal(
            422,
            catalog=AERO,
            body={"creator_id": "{account}", "name": "Search", "price": "10.01"},
        ),
    ],
    "GET /v1/marketplace/items/{item_id}": [Refusal(404)],
    "PUT /v1/marketplace/items/{item_id}/price": [
        Refusal(404, body={"price": "1.00"}),
        Refusal(422, catalog=AERO, params={"item_id": "{item}"}, body={"price": "10.01"}),
    ],
    "GET /v1/marketplace/creators/{account_id}/items": [Refusal(404, params=NOPE)],
    "GET /v1/marketplace/creators/{account_id}/earnings": [Refusal(404, params=NOPE)],
    "POST /v1/marketplace/creators/{account_id}/onboarding-link": [
        Refusal(404, params=NOPE, body={"refresh_url": "{back}", "return_url": "{back}"}),
        # The local provider pays creators as they are: there is nothing to onboard.
        Refusal(409, body={"refresh_url": "{back}", "return_url": "{back}"}),
    ],
    "POST /v1/wallet/deposits/{entry_id}/refund": [
        Refusal(402, catalog=AERO, params={"entry_id": "{deposit}"}, body={}),
        Refusal(404, body={}),
        Refusal(
            409,
            catalog=AERO,
            params={"entry_id": "{deposit}"},
            body={"amount": "1.00"},
            before=(("POST", "/v1/wallet/deposits/{entry_id}/refund", {"amount": "1.00"}),),
        ),
    ],
    "POST /v1/invoices/{number}/void": [
        Refusal(404, params={"number": "INV-nope"}),
        Refusal(
            409,
            params={"number": "{paid_invoice}"},
            before=(("POST", "/v1/invoices/{number}/void", None),),
        ),
    ],
    "POST /v1/invoices/{number}/credit-notes": [
        Refusal(404, params={"number": "INV-nope"}, body={"amount": "0.01", "reason": "x"}),
        Refusal(
            409,
            params={"number": "{voided_invoice}"},
            body={"amount": "0.01", "reason": "x"},
            before=(("POST", "/v1/invoices/{number}/void", None),),
        ),
    ],
    "GET /v1/invoices/{number}/credit-notes": [Refusal(404, params={"number": "INV-nope"})],
    "GET /v1/accounts/{account_id}/disputes": [Refusal(404, params=NOPE)],
    "GET /v1/audit": [Refusal(404, query=NOPE)],
    "POST /api/billing/alerts": [
        Refusal(
            409,
            who="customer",
            body={"kind": "usage_units", "meter": "api_calls", "threshold": "5"},
            before=(("POST", "/api/billing/alerts", {"kind": "payment_failed"}, "customer"),)
            * MAX_ALERTS,
        ),
    ],
    "GET /api/billing/alerts/{alert_id}": [Refusal(404, who="customer")],
    "DELETE /api/billing/alerts/{alert_id}": [Refusal(404, who="customer")],
    "GET /v1/accounts/{account_id}/alerts": [Refusal(404, params=NOPE)],
    "POST /v1/accounts/{account_id}/alerts": [
        Refusal(404, params=NOPE, body={"kind": "payment_failed"}),
        Refusal(
            409,
            params={"account_id": "{free}"},
            body={"kind": "payment_failed"},
            before=(("POST", "/v1/accounts/{account_id}/alerts", {"kind": "payment_failed"}),)
            * MAX_ALERTS,
        ),
    ],
    "GET /v1/accounts/{account_id}/alerts/{alert_id}": [Refusal(404)],
    "DELETE /v1/accounts/{account_id}/alerts/{alert_id}": [Refusal(404)],
    "GET /v1/accounts/{account_id}/budget": [Refusal(404, params=NOPE)],
    "PUT /v1/accounts/{account_id}/budget": [
        Refusal(404, params=NOPE, body={"amount": "10.00"}),
    ],
}


def _kind_refusals(name: str, operation: dict[str, Any]) -> list[Refusal]:
    """The refusals every operation of its kind meets."""
    operator = name.split(" ", 1)[1].startswith("/v1")
    caller = "operator" if operator else "customer"
    authenticated = bool(operation.get("security"))
    parameters = operation.get("parameters", [])
    in_path = [p["name"] for p in parameters if p["in"] == "path"]
    in_query = [p["name"] for p in parameters if p["in"] == "query"]
    body = BODIES.get(name)
    query = QUERIES.get(name, {})
    found: list[Refusal] = []
    if authenticated:
        # Junk from an anonymous caller: 401, because the body is read after authentication.
        found.append(Refusal(401, who=None, raw=b"\xff\xfe not json", query=query))
        wrong = "customer" if operator else "project_key"
        found.append(Refusal(403, who=wrong, body=body, query=query))
    who = caller if authenticated else None
    if "requestBody" in operation:
        found.append(Refusal(413, who=who, raw=b" " * (LIMIT + 1), query=query))
        found.append(Refusal(422, who=who, body={**(body or {}), "unknown_field": 1}, query=query))
    elif in_path:
        found.append(Refusal(422, who=who, params={in_path[-1]: "x%00y"}, query=query))
    elif in_query:
        found.append(Refusal(422, who=who, query={**query, in_query[0]: "x\x00y"}))
    if name not in STORELESS:
        found.append(Refusal(503, who=who, body=body, query=query, store_down=True))
    return found


def _operations(services: dict[str, Service]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    document = services[AGENT].document
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", method.upper(), path, operation


def _declared(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"] if int(status) >= 400}


def _resolved(service: Service, refusal: Refusal) -> Refusal:
    """Placeholders such as ``{anonymous}`` in parameters and bodies, made real."""

    def real(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return service.ids.get(value[1:-1], value)
        if isinstance(value, dict):
            return {key: real(item) for key, item in value.items()}
        return value

    return Refusal(
        refusal.status,
        refusal.who,
        real(refusal.params),
        refusal.query,
        real(refusal.body),
        refusal.raw,
        refusal.catalog,
        refusal.store_down,
        refusal.before,
    )


def test_every_operation_declares_exactly_the_errors_its_refusals_reach(
    services: dict[str, Service],
) -> None:
    problems: list[str] = []
    for name, method, path, operation in _operations(services):
        refusals = _kind_refusals(name, operation) + OWN.get(name, [])
        declared = _declared(operation)
        reached = {refusal.status for refusal in refusals}
        if declared != reached:
            problems.append(
                f"{name}: declares {sorted(declared)}, refusals reach {sorted(reached)}"
            )
        for refusal in refusals:
            service = services[refusal.catalog]
            answer = _send(service, method, path, _resolved(service, refusal))
            shape = (
                answer.json()
                if answer.headers.get("content-type", "").startswith("application/json")
                else None
            )
            if answer.status_code != refusal.status or not _is_error(shape):
                problems.append(
                    f"{name}: expected {refusal.status}, got {answer.status_code} "
                    f"{answer.text[:160]!r} for {refusal}"[:400]
                )
    assert problems == [], "\n".join(problems)


def _is_error(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and set(body["error"]) == {"code", "message", "details"}
    )
