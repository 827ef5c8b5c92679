"""``meterstack webhooks …``: endpoints, events, deliver, attempts, replay (D28)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner
from webhook_receiver import Receiver, serving

from meterstack.cli import app

runner = CliRunner()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as made:
        yield made


def test_d28_the_cli_registers_delivers_lists_and_replays(
    tmp_path: Path, receiver: Receiver
) -> None:
    options = ["--database", f"sqlite:///{tmp_path / 'cli.db'}", "--catalog", "agentstack"]

    def run(*args: str) -> str:
        result = runner.invoke(app, ["webhooks", *args, *options])
        assert result.exit_code == 0, result.output
        return result.stdout

    made = json.loads(run("endpoints", "create", receiver.url, "--event-type", "invoice.created"))
    refused = runner.invoke(
        app, ["webhooks", "endpoints", "create", receiver.url, "--event-type", "x.y", *options]
    )
    account = runner.invoke(app, ["accounts", "create", "--plan", "starter", *options]).stdout
    first = json.loads(run("deliver", "--once"))
    (delivery,) = json.loads(run("deliveries", "--json"))["deliveries"]
    attempts = json.loads(run("attempts", delivery["id"], "--json"))["attempts"]
    events = json.loads(run("events", "--json"))["events"]
    replayed = json.loads(run("replay", delivery["id"]))
    second = json.loads(run("deliver", "--once"))
    listed = json.loads(run("endpoints", "list", "--json"))["endpoints"]
    disabled = json.loads(run("endpoints", "update", made["endpoint"]["id"], "--disable"))
    rotated = json.loads(run("endpoints", "rotate", made["endpoint"]["id"], "--overlap", "60"))

    assert made["secret"].startswith("whsec_")
    assert refused.exit_code == 1
    assert "unknown event type 'x.y'" in refused.output
    assert (first["attempts"], first["succeeded"]) == (1, 1)
    assert [(a["status_code"], a["response_excerpt"]) for a in attempts] == [(200, "ok")]
    assert [e["data"]["account_id"] for e in events] == [account.strip()]
    assert replayed["status"] == "pending"
    assert second["succeeded"] == 1
    bodies = [Webhook(made["secret"]).verify(r.body, r.headers) for r in receiver.requests]
    assert [body["type"] for body in bodies] == ["invoice.created"] * 2
    assert bodies[0] == bodies[1]  # a replay sends the same event, with the same id
    assert [e["id"] for e in listed] == [made["endpoint"]["id"]]
    assert disabled["enabled"] is False
    assert rotated["secret"] != made["secret"]
