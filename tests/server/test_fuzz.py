"""Schemathesis against the live service: generated requests never answer 5xx, and every answer
is one the OpenAPI document declares (its status, its content type, its schema).

``make test`` runs a bounded pass on SQLite (:data:`BOUNDED` examples per operation);
``make fuzz`` the full one (``METERSTACK_FUZZ=full``: :data:`FULL` examples per operation,
every check schemathesis has, on SQLite and PostgreSQL). Each example is sent with the key of
the operation's own caller (the operator's for ``/v1``, a customer's for ``/api``), one in four
with the other one's; half of those naming an account name a real one, so that the handlers'
deeper code runs too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

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
    account_id: str,
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
        if "{account_id}" in operation.path and number % 2 == 0:
            path = path.replace(case.path_parameters["account_id"], account_id, 1)
        body = None if isinstance(case.body, NotSet) else case.body
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


def _run(service: Any, *, examples: int, checks: list[Any] | None) -> dict[str, Any]:
    created = service.post(
        "/v1/accounts", json={"plan": "starter"}, headers={"Authorization": OPERATOR}
    ).json()
    customer = f"Bearer {created['user_api_key']}"
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    outcome: dict[str, Any] = {"calls": 0, "failures": [], "operations": 0, "merits": {}}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        own = (OPERATOR, customer) if operation.path.startswith("/v1") else (customer, OPERATOR)
        _fuzz(service, operation, own, created["id"], outcome, examples=examples, checks=checks)()
        outcome["operations"] += 1
    return outcome


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_schemathesis_bounded_no_server_error_and_every_answer_as_declared(
    live_service: Callable[..., Any],
) -> None:
    outcome = _run(live_service("agentstack"), examples=BOUNDED, checks=CHECKS)

    assert outcome["operations"] > 70
    assert outcome["calls"] > 10 * outcome["operations"]
    assert outcome["failures"] == [], "\n".join(outcome["failures"][:40])


@pytest.mark.skipif(not FULL_RUN, reason="the full schemathesis run: make fuzz")
@pytest.mark.timeout(3600)
def test_schemathesis_full_no_server_error_and_every_answer_as_declared(
    live_service: Callable[..., Any],
) -> None:
    outcome = _run(live_service("agentstack"), examples=FULL, checks=None)

    print(f"{outcome['operations']} operations, {outcome['calls']} requests")
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
