"""A bounded schemathesis run against the live service: no generated request answers 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet
from schemathesis.core.result import Ok

OPERATOR = "Bearer operator-secret"


def _fuzz(
    service: Any, operation: Any, credentials: str, account_id: str, outcome: dict[str, Any]
) -> Callable[[], None]:
    """A hypothesis test sending ``operation``'s generated cases, recording any 5xx."""

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        path = case.formatted_path
        if "{account_id}" in operation.path and outcome["calls"] % 2 == 0:
            # Half the cases on a real account, so deeper code runs too.
            path = path.replace(case.path_parameters["account_id"], account_id, 1)
        body = None if isinstance(case.body, NotSet) else case.body
        try:
            response = service.request(
                case.method.upper(),
                path,
                params=case.query or None,
                json=body,
                headers={"Authorization": credentials},
            )
        except httpx.InvalidURL:
            return  # a generated path the HTTP client itself refuses to send
        outcome["calls"] += 1
        if response.status_code >= 500:
            outcome["failures"].append(f"{case.method.upper()} {path}: {response.status_code}")

    return call


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_no_generated_request_answers_5xx(live_service: Callable[..., Any]) -> None:
    service = live_service("agentstack")
    created = service.post(
        "/v1/accounts", json={"plan": "starter"}, headers={"Authorization": OPERATOR}
    ).json()
    customer = f"Bearer {created['user_api_key']}"
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    outcome: dict[str, Any] = {"calls": 0, "failures": []}

    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        credentials = OPERATOR if operation.path.startswith("/v1") else customer
        _fuzz(service, operation, credentials, created["id"], outcome)()

    assert outcome["calls"] > 200
    assert outcome["failures"] == []
