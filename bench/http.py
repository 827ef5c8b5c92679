"""The consume endpoint over HTTP beside a bare Starlette JSON endpoint, served the same way.

Both apps run on uvicorn (one worker, loopback) in their own processes; the load comes from a
separate process with keep-alive connections. Prints requests/s and p50/p99 latency of each and
the ratio (target: consume >= 0.5x the bare endpoint).

    python bench/http.py [--seconds 5] [--connections 8] [--database sqlite:///…]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py, as the benchmark is; keep its folder from shadowing the standard
# library's http package for the imports below (and in the spawned processes).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
from typing import Any

import httpx

OPERATOR_KEY = "bench-operator-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"allowed": True, "meter": body["meter"], "used": 1})

    app = Starlette(routes=[Route("/consume", endpoint, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def serve_meterstack(port: int, database: str, ready: Any) -> None:
    import uvicorn

    from meterstack import Engine
    from meterstack.server import create_app
    from meterstack.server.settings import ServerSettings

    engine = Engine.open(database, catalog="agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", "unlimited")
    ready.put(account.id)
    app = create_app(engine, ServerSettings(operator_key=OPERATOR_KEY))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def load(url: str, body: dict[str, Any], seconds: float, connections: int, out: Any) -> None:
    """The load process: ``connections`` keep-alive clients posting for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    failures = 0

    def worker() -> None:
        nonlocal failures
        mine: list[float] = []
        bad = 0
        with httpx.Client(headers={"Authorization": f"Bearer {OPERATOR_KEY}"}) as client:
            while time.monotonic() < deadline:
                began = time.perf_counter()
                response = client.post(url, json=body)
                mine.append(time.perf_counter() - began)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            failures += bad

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((len(latencies) / seconds, latencies, failures))


def measure(
    url: str, body: dict[str, Any], seconds: float, connections: int
) -> tuple[float, float, float, int]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=load, args=(url, body, seconds, connections, results))
    process.start()
    rate, latencies, failures = results.get()
    process.join()
    p50 = statistics.median(latencies) * 1e3
    p99 = statistics.quantiles(latencies, n=100)[98] * 1e3
    return rate, p50, p99, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        database = args.database or f"sqlite:///{Path(folder) / 'http.db'}"
        bare_port, meter_port = _free_port(), _free_port()
        ready = context.Queue()
        servers = [
            context.Process(target=serve_bare, args=(bare_port,), daemon=True),
            context.Process(
                target=serve_meterstack, args=(meter_port, database, ready), daemon=True
            ),
        ]
        for server in servers:
            server.start()
        account_id = ready.get(timeout=60)
        _wait(bare_port)
        _wait(meter_port)
        body = {"meter": "api_calls", "quantity": 1}
        bare = measure(
            f"http://127.0.0.1:{bare_port}/consume", body, args.seconds, args.connections
        )
        consume = measure(
            f"http://127.0.0.1:{meter_port}/v1/accounts/{account_id}/consume",
            body,
            args.seconds,
            args.connections,
        )
        for server in servers:
            server.terminate()
            server.join()
    print(f"HTTP on loopback, {args.connections} keep-alive connections, {args.seconds:.0f} s each")
    for name, (rate, p50, p99, failures) in (("bare Starlette JSON", bare), ("consume", consume)):
        print(
            f"  {name:<22} {rate:>8,.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
            f"   non-200: {failures}"
        )
    print(f"  consume / bare: {consume[0] / bare[0]:.2f}x   (target >= 0.5x)")


if __name__ == "__main__":
    main()
