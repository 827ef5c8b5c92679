"""The public contract never drifts silently: the OpenAPI document is checked against a snapshot.

After an intended change of the API, refresh the snapshot with
``METERSTACK_UPDATE_SNAPSHOTS=1 pytest tests/server/test_openapi.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from meterstack import Engine
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings

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


def test_every_operation_declares_its_errors() -> None:
    paths = json.loads(_document())["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "422"} <= declared, f"{method.upper()} {path}: {sorted(declared)}"
    assert "/api/billing/usage" in paths
    assert "/v1/accounts/{account_id}/consume" in paths
