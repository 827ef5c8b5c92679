"""The README's Python tour runs as written and shows what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    tour = next(block for block in blocks if "Engine.open" in block)
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}

    exec(compile(tour, "README.md", "exec"), names)  # noqa: S102 - the README's own example

    engine = names["engine"]
    assert (names["refused"].http_status, names["refused"].code) == (429, "limit_exceeded")  # type: ignore[attr-defined]
    assert (names["overage"].code, names["overage"].overage_units) == ("overage", 1)  # type: ignore[attr-defined]
    usage = engine.usage(names["account"].id)  # type: ignore[attr-defined]
    assert usage["logic_engine_calls"].used == 0
    engine.close()  # type: ignore[attr-defined]
