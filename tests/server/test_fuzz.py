"""Schemathesis against the live service: generated requests never answer 5xx, and every answer
is one the OpenAPI document declares (its status, its content type, its schema).

``make test`` runs a bounded pass on SQLite (:data:`BOUNDED` examples per operation) on the
AgentStack catalog, and on the Aerostack catalog for the wallet, marketplace and payout
operations only (AgentStack has no wallet: every charge there is an unknown operation);
``make fuzz`` the full one (``METERSTACK_FUZZ=full``: :data:`FULL` examples per operation,
every check schemathesis has, on SQLite and PostgreSQL, every operation on both catalogs).
Each example is sent with the key of the operation's own caller (the operator's for ``/v1``,
a customer's for ``/api``), one in four with the other one's; half of those naming an account
(or a marketplace item, or a wallet operation) name a real one, so that the handlers' deeper
code runs too: on Aerostack the account's wallet is funded, so that charges are admitted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.openapi.checks import RejectedPositiveData

OPERATOR = "Bearer operator-secret"
BOUNDED = 20
#: Examples per operation of the full run (``METERSTACK_FUZZ_EXAMPLES`` to change it).
FULL = int(os.environ.get("METERSTACK_FUZZ_EXAMPLES", "100"))
#: What the bounded pass checks: no 5xx, and the answer the document declares.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
FULL_RUN = os.environ.get("METERSTACK_FUZZ") == "full"


def _fuzz(
    service: Any,
    operation: Any,
    keys: tuple[str, str],
    real: dict[str, str],
    outcome: dict[str, Any],
    *,
    examples: int,
    checks: list[Any] | None,
) -> Callable[[], None]:
    """A hypothesis test sending ``operation``'s generated cases, recording each failure."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        outcome["calls"] += 1
        number = outcome["calls"]
        path = case.formatted_path
        body = None if isinstance(case.body, NotSet) else case.body
        if number % 2 == 0:
            named = {name: real[name] for name in case.path_parameters or {} if name in real}
            if named:
                path = _formatted(operation.path, {**case.path_parameters, **named})
            if isinstance(body, dict):
                body = {
                    **body,
                    **{name: real[name] for name in body if name in BODY_IDS & real.keys()},
                }
        credentials = keys[1] if number % 4 == 0 else keys[0]
        headers = {**(case.headers or {}), "Authorization": credentials}
        try:
            response = service.request(
                case.method.upper(), path, params=case.query or None, json=body, headers=headers
            )
        except (httpx.InvalidURL, UnicodeEncodeError):
            return  # a generated path or header the HTTP client itself refuses to send
        try:
            # The headers sent: the key is the test's, not one schemathesis generated.
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as failures:
            label = f"{case.method.upper()} {operation.path}"
            found = [
                failure
                for failure in failures.exceptions
                if not _refused_on_its_merits(label, failure)
            ]
            tolerated = len(failures.exceptions) - len(found)
            outcome["merits"][label] = outcome["merits"].get(label, 0) + tolerated
            if found:
                outcome["failures"].append(
                    f"{label} -> {response.status_code}: "
                    + "; ".join(failure.title for failure in found)
                    + f" {response.text[:200]!r}"
                )

    return call


#: Body fields that name something real half the time (a wallet operation, an item).
BODY_IDS = {"operation", "item_id", "creator_id"}
#: The Aerostack operations of the bounded pass: the wallet, the marketplace, the payouts.
MONEY_PATHS = ("/wallet", "/marketplace", "/payouts")


#: Operations whose document states every value the service accepts (the catalog's plans and
#: intervals, the allowed return-URL origins: ``server/openapi.py``), so that a schema-valid
#: request is refused only for the account's state (409) or a credential.
DESCRIBED = {"POST /api/billing/checkout", "POST /api/billing/downgrade"}
#: What the other operations may answer a schema-valid request besides schemathesis' defaults:
#: 422 for a value the loaded catalog or the server decides (a meter, gauge, module or pack
#: name, a webhook URL that must be public https) and the account's state (a limit below the
#: usage), which their documents do not enumerate yet; 402 for a wallet that cannot pay.
ON_ITS_MERITS = {402, 422}


def _refused_on_its_merits(label: str, failure: Any) -> bool:
    """A schema-valid request refused for what the document cannot state (see above)."""
    return (
        isinstance(failure, RejectedPositiveData)
        and label not in DESCRIBED
        and failure.status_code in ON_ITS_MERITS
    )


def _formatted(template: str, values: dict[str, Any]) -> str:
    """``template``'s path with ``values``, each quoted as one segment."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    return template


def _run(
    service: Any,
    *,
    examples: int,
    checks: list[Any] | None,
    paths: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Fuzz every operation (those whose path holds one of ``paths``, when given)."""
    created = service.post(
        "/v1/accounts", json={"plan": "starter"}, headers={"Authorization": OPERATOR}
    ).json()
    customer = f"Bearer {created['user_api_key']}"
    real = {"account_id": created["id"], "creator_id": created["id"], **_wallet(service, created)}
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    outcome: dict[str, Any] = {"calls": 0, "failures": [], "operations": 0, "merits": {}}
    outcome["account_id"] = created["id"]
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        if paths is not None and not any(part in operation.path for part in paths):
            continue
        own = (OPERATOR, customer) if operation.path.startswith("/v1") else (customer, OPERATOR)
        _fuzz(service, operation, own, real, outcome, examples=examples, checks=checks)()
        outcome["operations"] += 1
    return outcome


def _wallet(service: Any, account: dict[str, Any]) -> dict[str, str]:
    """On a catalog with a wallet: the account's wallet funded (so that charges are admitted),
    one of its marketplace items, and a wallet operation, for the requests to name."""
    catalog = service.app.state.engine.catalog
    if catalog.wallet is None:
        return {}
    funded = service.post(
        f"/v1/accounts/{account['id']}/wallet/adjust",
        json={"amount": "100000.00", "reason": "fuzz funds"},
        headers={"Authorization": OPERATOR},
    )
    assert funded.status_code == 200, funded.text
    item = service.post(
        "/v1/marketplace/items",
        json={"creator_id": account["id"], "name": "Search tool", "price": "0.05"},
        headers={"Authorization": OPERATOR},
    )
    assert item.status_code == 201, item.text
    operations = sorted(catalog.wallet.operations)
    return {"item_id": item.json()["id"], "operation": operations[0]}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_schemathesis_bounded_no_server_error_and_every_answer_as_declared(
    live_service: Callable[..., Any],
) -> None:
    outcome = _run(live_service("agentstack"), examples=BOUNDED, checks=CHECKS)

    assert outcome["operations"] > 70
    assert outcome["calls"] > 10 * outcome["operations"]
    assert outcome["failures"] == [], "\n".join(outcome["failures"][:40])


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_schemathesis_bounded_wallet_marketplace_and_payouts_on_aerostack(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("aerostack")
    outcome = _run(service, examples=BOUNDED, checks=CHECKS, paths=MONEY_PATHS)

    assert outcome["operations"] >= 15
    assert outcome["calls"] > 10 * outcome["operations"]
    assert outcome["failures"] == [], "\n".join(outcome["failures"][:40])
    # The admitted charge path ran: charges were taken from the funded wallet.
    page = service.app.state.engine.wallet_transactions(outcome["account_id"], limit=200)
    kinds = {str(entry.kind) for entry in page.entries}
    assert "charge" in kinds, kinds


@pytest.mark.skipif(not FULL_RUN, reason="the full schemathesis run: make fuzz")
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("catalog", ["agentstack", "aerostack"])
def test_schemathesis_full_no_server_error_and_every_answer_as_declared(
    live_service: Callable[..., Any], catalog: str
) -> None:
    outcome = _run(live_service(catalog), examples=FULL, checks=None)

    print(f"{catalog}: {outcome['operations']} operations, {outcome['calls']} requests")
    for label, count in sorted(outcome["merits"].items()):
        if count:
            print(f"  {count:5} schema-valid requests refused on their merits (402, 422): {label}")
    assert outcome["calls"] > 50 * outcome["operations"]
    assert outcome["failures"] == [], _summary(outcome["failures"])


def _summary(failures: list[str]) -> str:
    """How many failures of each kind each operation had, then the first few in full."""
    kinds = Counter(_kind(failure) for failure in failures)
    lines = [f"{count:6} {kind}" for kind, count in kinds.most_common()]
    return "\n".join([*lines, "", *failures[:20]])


def _kind(failure: str) -> str:
    """``METHOD path -> status: titles`` of a failure, its body left out."""
    return failure.split(" '", 1)[0].split(" {", 1)[0]
