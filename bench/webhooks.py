"""Webhook delivery throughput to a local receiver, against a bare HTTP POST loop, same run.

A receiver (uvicorn, a minimal ASGI app answering 204) runs in its own process on loopback.
For each backend, ``--events`` events are written to the outbox (the setup is not measured),
then one delivery worker fans them out to one endpoint and sends them all (claim, sign, POST,
record). The baseline is a bare ``httpx.Client`` POST loop of the same bodies to the same
receiver: what the network and the receiver cost alone. The ratio is worker rate / bare rate.
Both run on this machine at the same time as everything else on it: compare ratios, not times.

    python bench/webhooks.py [--events 2000] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (httpx imports it).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import socket
import subprocess
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime

import httpx
import psycopg

from meterstack import Engine, ManualClock
from meterstack.services.webhooks.outbox import publish_many

START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 1_000

_RECEIVER = textwrap.dedent(
    """
    import sys, uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/hooks"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(url, content=b"{}")
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the receiver did not start")


def outbox(engine: Engine, events: int) -> None:
    """``events`` usage.limit_reached events, as a service would publish them."""
    store = engine._ctx.store
    for first in range(0, events, CHUNK):
        batch = [
            (
                "usage.limit_reached",
                f"acct_bench{index:012d}",
                {"meter": "api_calls", "used": 100_000, "limit": 100_000, "period": "2026-01"},
            )
            for index in range(first, min(first + CHUNK, events))
        ]
        with store.transaction() as tx:
            publish_many(tx, batch, at=START)


def bare_loop(url: str, bodies: list[str]) -> float:
    """Events per second of a plain POST loop, no signing, no database."""
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        began = time.perf_counter()
        for body in bodies:
            response = client.post(url, content=body.encode(), headers={"content-type": "json"})
            response.read()
        return len(bodies) / (time.perf_counter() - began)


def run(label: str, url: str, receiver: str, events: int) -> None:
    engine = Engine.open(url, catalog="agentstack", clock=ManualClock(START))
    try:
        engine.webhooks.endpoints.create(receiver)
        outbox(engine, events)
        bodies = [e.body for e in engine.webhooks.events(limit=min(events, 500))]
        bodies = (bodies * (events // len(bodies) + 1))[:events]
        bare = bare_loop(receiver, bodies)
        worker = engine.webhooks.worker(name="bench")
        began = time.perf_counter()
        report = worker.run_once()
        elapsed = time.perf_counter() - began
        worker.close()
        if report.succeeded != events:
            raise SystemExit(f"{label}: {report.succeeded} of {events} delivered")
        rate = events / elapsed
        print(
            f"{label:10s} worker {rate:8,.0f} events/s   bare POST loop {bare:8,.0f}/s   "
            f"ratio {rate / bare:.2f}x   ({events:,} events, fan-out included)"
        )
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    process, receiver = start_receiver()
    try:
        with tempfile.TemporaryDirectory() as folder:
            run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", receiver, args.events)
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        try:
            run("postgresql", f"{args.postgres}?schema={schema}", receiver, args.events)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
