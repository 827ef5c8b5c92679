"""The public contract never drifts silently: the OpenAPI document is checked against a snapshot.

After an intended change of the API, refresh the snapshot with
``METERSTACK_UPDATE_SNAPSHOTS=1 pytest tests/server/test_openapi.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from meterstack import Engine
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider

SNAPSHOT = Path(__file__).resolve().parents[1] / "golden" / "openapi.json"


def _document() -> str:
    engine = Engine.open("sqlite://", catalog="agentstack")
    try:
        schema = create_app(engine, ServerSettings(operator_key="x")).openapi()
    finally:
        engine.close()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def test_the_openapi_document_matches_its_snapshot() -> None:
    document = _document()
    if os.environ.get("METERSTACK_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(document, encoding="utf-8")
    assert document == SNAPSHOT.read_text(encoding="utf-8")


def test_every_declared_error_is_the_one_error_shape_and_every_answer_has_a_schema() -> None:
    """Which statuses each operation declares is proven by test_contract.py; here, that each
    declared error is the one shape and each success answer states its schema."""
    paths = json.loads(_document())["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if int(status) >= 400:
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, name
                elif int(status) != 204:
                    assert schema not in (None, {}), name
                    assert schema.get("additionalProperties") is not True, name
    assert "/api/billing/usage" in paths
    assert "/v1/accounts/{account_id}/consume" in paths


def test_d30_the_document_states_the_catalogs_plans_intervals_and_the_allowed_return_urls() -> None:
    origin = "http://127.0.0.1:8123"
    engine = Engine.open(
        "sqlite://",
        catalog="agentstack",
        provider=LocalProvider(origin),
        return_url_origins=["https://shop.example"],
    )
    try:
        document = create_app(engine, ServerSettings(operator_key="x")).openapi()
        plans = [plan.id for plan in engine.catalog.plans]
        intervals = list(engine.catalog.policies.intervals)
    finally:
        engine.close()
    fields = document["components"]["schemas"]["CheckoutBody"]["properties"]
    assert fields["tier"]["enum"] == plans
    assert fields["billing_interval"]["anyOf"][0]["enum"] == intervals
    url = re.compile(fields["success_url"]["anyOf"][0]["pattern"])
    accepted = [f"{origin}/thanks?x=1", "HTTPS://Shop.Example", "https://shop.example#done"]
    refused = [
        "https://evil.example/",
        "https://shop.example.evil.example/",
        f"{origin}/a b",
        f"{origin}\\x",
        "",
        "javascript:alert(1)",
    ]
    assert [bool(url.match(text)) for text in accepted] == [True] * len(accepted)
    assert [bool(url.match(text)) for text in refused] == [False] * len(refused)
    reason = document["components"]["schemas"]["AdjustBody"]["properties"]["reason"]
    assert re.fullmatch(reason["pattern"], "a correction")
    assert not re.fullmatch(reason["pattern"], "nul\x00")
