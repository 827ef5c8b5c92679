"""What a customer may buy, over HTTP and through the engine alike (D30, A8, B8, D4).

Every door refuses the same things: the checks live in the payments and subscriptions services,
so each test asks the HTTP service and the engine behind it, and shows that a refusal changed
nothing (same plan, same invoices, no checkout to pay).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from meterstack import Engine
from meterstack.errors import (
    InvalidInputError,
    NotAllowedForTierError,
    NotFoundError,
    PaymentsNotConfiguredError,
    PlanNotSelfServeError,
)
from meterstack.server import provider_of
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider

OPERATOR = {"Authorization": "Bearer operator-secret"}
#: The ``signup`` fixture (tests/conftest.py): (account id, customer headers).
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _state(client: Any, account_id: str) -> tuple[str, list[str]]:
    """The account's plan and invoice numbers, as the operator sees them."""
    plan = client.get(f"/v1/accounts/{account_id}", headers=OPERATOR).json()["plan"]
    invoices = client.get(f"/v1/accounts/{account_id}/invoices", headers=OPERATOR).json()
    return plan, [invoice["number"] for invoice in invoices["invoices"]]


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_d30_enterprise_cannot_be_checked_out_but_the_operator_may_set_it(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    engine: Engine = client.app.state.engine
    account_id, customer = signup(client, "starter")
    before = _state(client, account_id)

    refused = client.post("/api/billing/checkout", json={"tier": "enterprise"}, headers=customer)
    with pytest.raises(PlanNotSelfServeError):
        engine.checkout(account_id, plan="enterprise")
    unchanged = _state(client, account_id)
    operator = client.post(
        f"/v1/accounts/{account_id}/subscription", json={"plan": "enterprise"}, headers=OPERATOR
    )

    assert _error(refused) == (403, "plan_not_self_serve")
    assert unchanged == before
    assert (operator.status_code, operator.json()["plan"]) == (200, "enterprise")


def test_d30_a8_an_anonymous_account_buys_neither_plans_nor_packs(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    engine: Engine = client.app.state.engine
    anonymous = client.post("/api/auth/anonymous").json()
    key = {"Authorization": f"Bearer {anonymous['user_api_key']}"}

    plan = client.post("/api/billing/checkout", json={"tier": "pro"}, headers=key)
    pack = client.post("/api/billing/api-calls-package?package_size=small", headers=key)
    with pytest.raises(NotAllowedForTierError):
        engine.checkout(anonymous["account_id"], plan="starter")
    usage = client.get("/api/billing/usage", headers=key).json()

    # Was 402 upgrade_required for packs: payments are "Disabled" on ANONYMOUS, a 403 (D4).
    assert _error(plan) == (403, "not_allowed_for_tier")
    assert _error(pack) == (403, "not_allowed_for_tier")
    assert usage["tier"] == "anonymous"
    assert usage["usage"]["api_calls"]["limit"] == 10_000  # no pack was granted


@pytest.mark.parametrize(
    ("catalog", "interval"),
    [("agentstack", "yearly"), ("aerostack", "weekly")],
)
def test_d30_the_interval_must_be_one_the_catalog_offers_at_checkout(
    live_service: Callable[..., Any], catalog: str, interval: str, signup: Signup
) -> None:
    client = live_service(catalog)
    engine: Engine = client.app.state.engine
    account_id, customer = signup(client, "starter")

    refused = client.post(
        "/api/billing/checkout",
        json={"tier": "pro", "billing_interval": interval},
        headers=customer,
    )
    with pytest.raises(InvalidInputError, match="not offered"):
        engine.checkout(account_id, plan="pro", interval=interval)

    assert _error(refused) == (422, "invalid_input")
    assert "is not offered" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "https://evil.example/phish",
        "//evil.example/phish",
        "/relative/path",
        "https://app.example.com@evil.example/",
        "http://127.0.0.1:1/other-port",
        "data:text/html,<script>alert(1)</script>",
        "https://app.example.com\\@evil.example/",
    ],
)
def test_d30_return_urls_off_the_allowed_origins_are_refused(
    live_service: Callable[..., Any], url: str, signup: Signup
) -> None:
    client = live_service("aerostack", return_url_origins=("https://app.example.com",))
    engine: Engine = client.app.state.engine
    account_id, customer = signup(client, "starter")

    for field in ("success_url", "cancel_url"):
        refused = client.post(
            "/api/billing/checkout", json={"tier": "pro", field: url}, headers=customer
        )
        assert _error(refused) == (422, "invalid_input"), (field, refused.text)
        assert field in refused.json()["error"]["message"]
    with pytest.raises(InvalidInputError):
        engine.checkout(account_id, plan="pro", success_url=url)


def test_d30_return_urls_on_the_service_or_an_allowed_origin_are_accepted(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("aerostack", return_url_origins=("https://app.example.com",))
    _, customer = signup(client, "starter")

    own = client.post(
        "/api/billing/checkout",
        json={"tier": "pro", "success_url": f"{client.base_url}/done"},
        headers=customer,
    )
    allowed = client.post(
        "/api/billing/checkout",
        json={
            "tier": "business",
            "billing_interval": "yearly",
            "success_url": "https://APP.example.com:443/settings/billing?success=true",
            "cancel_url": "https://app.example.com/settings/billing",
        },
        headers=customer,
    )

    assert own.status_code == 200, own.text
    assert allowed.status_code == 200, allowed.text


def test_d30_the_local_pay_step_needs_the_secret_of_the_checkout_url(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    engine: Engine = client.app.state.engine
    account_id, customer = signup(client, "starter")
    made = client.post("/api/billing/checkout", json={"tier": "pro"}, headers=customer).json()
    checkout_id = made["checkout_id"]
    secret = parse_qs(urlsplit(made["url"]).query)["secret"][0]
    before = _state(client, account_id)

    page_without = client.get(f"/billing/checkout/{checkout_id}")
    without = client.post(f"/billing/checkout/{checkout_id}/pay")
    wrong = client.post(f"/billing/checkout/{checkout_id}/pay?secret={'0' * len(secret)}")
    other = client.post(f"/billing/checkout/{checkout_id}/pay?secret={secret[:-1]}")
    with pytest.raises(NotFoundError):
        engine.pay_checkout(checkout_id, None)
    after_attempts = _state(client, account_id)
    page = client.get(made["url"])
    form = re.search(r"action='([^']+)'", page.text)
    assert form is not None
    paid = client.post(form.group(1).replace("&amp;", "&"))

    assert [page_without.status_code, without.status_code, wrong.status_code] == [404] * 3
    assert other.status_code == 404
    assert after_attempts == before
    assert engine.get_checkout(checkout_id).status == "paid"
    assert paid.status_code == 200
    assert _state(client, account_id)[0] == "pro"


def test_d30_without_a_payment_provider_nothing_can_be_bought(
    live_service: Callable[..., Any], open_engine: Callable[..., Engine], signup: Signup
) -> None:
    client = live_service("agentstack", payments=None)
    account_id, customer = signup(client, "starter")
    bare = open_engine("agentstack")
    other = bare.create_account(plan="starter")

    checkout = client.post("/api/billing/checkout", json={"tier": "pro"}, headers=customer)
    pack = client.post("/api/billing/logic-engine-package?package_size=small", headers=customer)
    portal = client.get("/api/billing/portal", headers=customer)
    with pytest.raises(PaymentsNotConfiguredError):
        bare.checkout(other.id, plan="pro")
    with pytest.raises(PaymentsNotConfiguredError):
        bare.purchase_pack(other.id, "logic_engine_small")

    for answer in (checkout, pack, portal):
        assert _error(answer) == (503, "payments_not_configured")
    assert _state(client, account_id)[0] == "starter"
    assert (
        client.get("/api/billing/usage", headers=customer).json()["usage"]["logic_engine_calls"][
            "limit"
        ]
        == 50_000
    )


def test_d30_serve_enables_the_local_provider_only_when_asked() -> None:
    none = provider_of(ServerSettings(operator_key="k", public_url="http://127.0.0.1:9"))
    local = provider_of(
        ServerSettings(operator_key="k", public_url="http://127.0.0.1:9", payments="local")
    )
    again = provider_of(
        ServerSettings(operator_key="k", public_url="http://127.0.0.1:9", payments="local")
    )

    assert none is None
    assert isinstance(local, LocalProvider)
    assert isinstance(again, LocalProvider)
    # Derived from the operator key: a checkout link survives a restart.
    assert local.checkout_url("cs_1") == again.checkout_url("cs_1")
