"""``meterstack collections …`` (D29): run, list, collect."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meterstack.cli import app

runner = CliRunner()


def test_d29_the_collections_commands(tmp_path: Path) -> None:
    options = ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "aerostack"]
    paid = runner.invoke(app, ["accounts", "create", "--plan", "pro", *options]).stdout.strip()
    first = runner.invoke(app, ["collections", "run", "--json", *options])
    declined = runner.invoke(app, ["accounts", "create", "--plan", "pro", *options]).stdout.strip()
    failing = runner.invoke(app, ["collections", "run", "--decline", *options])
    again = runner.invoke(app, ["collections", "run", "--json", *options])
    listed = runner.invoke(app, ["collections", "list", declined, "--json", *options])
    number = json.loads(listed.stdout)["collections"][0]["invoice_number"]
    retried = runner.invoke(app, ["collections", "collect", number, "--json", *options])
    twice = runner.invoke(app, ["collections", "collect", number, *options])
    table = runner.invoke(app, ["collections", "list", paid, *options])

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) | {"opened": 1, "paid": 1} == json.loads(first.stdout)
    assert failing.stdout.startswith("1 opened, 1 attempted, 0 paid, 1 failed")
    # The retry is days away: a pass now attempts nothing.
    assert json.loads(again.stdout)["attempted"] == 0
    shown = json.loads(listed.stdout)["collections"][0]
    assert (shown["status"], shown["attempts_made"]) == ("past_due", 1)
    assert shown["attempts"][0]["key"] == f"{number}:attempt-1"
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["status"] == "paid"
    assert [a["status"] for a in json.loads(retried.stdout)["attempts"]] == ["failed", "paid"]
    assert twice.exit_code == 1
    assert "nothing to collect" in twice.stderr
    assert "paid" in table.stdout
