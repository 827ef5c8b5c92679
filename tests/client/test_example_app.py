"""The example FastAPI app runs as its docstring says (C5 at the 26th message)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_c5_example_app_refuses_the_26th_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = load_example().create_app(f"sqlite:///{tmp_path / 'example.db'}")
    auth = {"Authorization": f"Bearer {app.state.demo_key}"}

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app.test") as http,
    ):
        answers = [
            await http.post("/chat", json={"message": "hi"}, headers=auth) for _ in range(26)
        ]
        usage = await http.get("/usage", headers=auth)
        health = await http.get("/health")
        anonymous = await http.post("/chat", json={"message": "hi"})

    assert app.state.demo_key in capsys.readouterr().out
    assert [answer.status_code for answer in answers] == [200] * 25 + [429]
    assert answers[0].json() == {"reply": "You said: hi"}
    assert answers[24].headers["RateLimit-Remaining"] == "0"
    refused = answers[25]
    assert "Retry-After" in refused.headers
    assert refused.json()["error"]["code"] == "limit_exceeded"
    assert refused.json()["error"]["details"]["current_usage"] == 25
    assert usage.json() == {"sessions_used": 25, "sessions_limit": 25}
    assert health.status_code == 200
    assert anonymous.status_code == 401
