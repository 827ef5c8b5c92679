"""``POST /v1/accounts/{id}/consume`` over HTTP beside a bare Starlette endpoint, loaded by wrk.

The baseline is a Starlette route (not FastAPI) answering a fixed JSON of about 200 bytes. Both
are served by uvicorn with meterstack's options (``meterstack.server.uvicorn_options``: the same
event loop, HTTP implementation and receive deadline, access log off, one worker) in their own
process on loopback, and both get the same request: the same body and ``Authorization`` header.
meterstack runs as ``meterstack serve`` on a fresh SQLite file (or ``--database``).

The load comes from wrk, a C load generator, so that the client is not what saturates first
(``apt-get install -y wrk``). Two measures per endpoint:

- throughput: ``wrk -t1 -c32`` for ``--seconds``, requests/s;
- latency at a set rate: the same with a Lua ``delay()`` pacing each connection so that the
  whole load is half the throughput just measured; p50 and p99.

wrk is closed-loop: a connection sends its next request only after the answer to the last one
(and, paced, after the delay). A slow answer therefore also delays the requests that would have
followed it, and the latency it reports under overload is lower than an open-loop client would
see (coordinated omission); at half the maximum rate the effect is small. Targets: consume at
least 0.5x the bare endpoint's throughput, and p99 at most 10 ms at half its own maximum rate.

    python bench/http.py [--seconds 10] [--database postgresql://…] [--workers 2] [--accounts 50]

With one account every consume updates the same counter row; with ``--workers`` on PostgreSQL
the workers' transactions then wait for each other's row lock, so ``--accounts`` spreads the
load over several accounts as a platform's traffic is.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py, as the benchmark is; keep its folder from shadowing the standard
# library's http package for the imports below (and in the spawned processes).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).parent]

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from meterstack import Engine
from meterstack.server import uvicorn_options

OPERATOR_KEY = "bench-operator-key"
WRK = shutil.which("wrk") or "wrk"
BODY = '{"meter": "api_calls", "quantity": 1}'
CONNECTIONS = 32
#: The baseline's answer: about as long as a consume decision.
FIXED_ANSWER = {
    "allowed": True,
    "code": "allowed",
    "http_status": 200,
    "meter": "api_calls",
    "used": 1,
    "limit": 2000000,
    "hard_limit": 2000000,
    "remaining": 1999999,
    "overage_units": 0,
    "warnings": [],
    "as_of": "2026-01-01T00:00:00+00:00",
}

# wrk runs this script: the request, an optional pause per connection, and a JSON summary.
LUA = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local pause = {pause_ms}
local paths = {{{paths}}}
local turn = 0
if #paths > 1 then
  function request()
    turn = turn % #paths + 1
    return wrk.format(nil, paths[turn])
  end
end
if pause > 0 then
  function delay() return pause end
end
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{{"requests": %d, "seconds": %f, "non_2xx": %d, "socket_errors": %d, '
    .. '"p50_ms": %f, "p99_ms": %f}}\\n',
    summary.requests, summary.duration / 1e6, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


@dataclass(frozen=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int
    #: CPU time of the serving process(es) per request, in microseconds.
    cpu_us: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_bare(port: int) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(FIXED_ANSWER)

    app = Starlette(routes=[Route("/consume", endpoint, methods=["POST"])])
    options = {**uvicorn_options(host="127.0.0.1", port=port), "log_level": "error"}
    uvicorn.Server(uvicorn.Config(app, **options)).run()


def prepare_accounts(database: str, count: int) -> list[str]:
    """Accounts on PRO whose 2,000,000 API calls no run of this benchmark reaches."""
    with Engine.open(database, catalog="agentstack") as engine:
        return [engine.create_account(plan="pro").id for _ in range(count)]


def serve_meterstack(database: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).with_name("meterstack")),
        "serve",
        "--database",
        database,
        "--catalog",
        "agentstack",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    environment = {**os.environ, "METERSTACK_OPERATOR_KEY": OPERATOR_KEY}
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of its children (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _run_wrk(url: str, seconds: float, pause_ms: int) -> dict[str, float]:
    """``url`` may list several paths of one server, separated by spaces: wrk takes turns."""
    base, *others = url.split()
    paths = ", ".join(f'"{urlsplit(each).path}"' for each in others)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=BODY, key=OPERATOR_KEY, pause_ms=pause_ms, paths=paths))
    url = base
    try:
        output = subprocess.run(
            [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "-s", script.name, url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    summary: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return summary


def wrk(url: str, seconds: float, server: int, rate: float | None = None) -> Load:
    """One wrk run, with the server's CPU time per request; with ``rate``, each connection
    pauses between requests so that all of them together send about ``rate`` requests/s."""
    pause_ms = 0
    if rate is not None:
        # The pause is the connection's share of a second minus the answer's own time, which
        # two short runs measure (the second at the corrected pause).
        share_ms = CONNECTIONS / rate * 1000
        pause_ms = max(1, round(share_ms))
        for _ in range(2):
            probe = _run_wrk(url, 2, pause_ms)
            answer_ms = CONNECTIONS / (probe["requests"] / probe["seconds"]) * 1000 - pause_ms
            pause_ms = max(1, round(share_ms - max(0.0, answer_ms)))
    before = _cpu_seconds(server)
    summary = _run_wrk(url, seconds, pause_ms)
    cpu = _cpu_seconds(server) - before
    return Load(
        rate=summary["requests"] / summary["seconds"],
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        failures=int(summary["non_2xx"] + summary["socket_errors"]),
        cpu_us=cpu / max(1, summary["requests"]) * 1e6,
    )


def measure(url: str, seconds: float, server: int) -> tuple[Load, Load]:
    """The maximum throughput, then the latency at half of it."""
    wrk(url, 2, server)  # warm-up: connections, caches, the first prepared statements
    peak = wrk(url, seconds, server)
    return peak, wrk(url, seconds, server, rate=peak.rate / 2)


def engine_cost(database: str, calls: int = 3000) -> float:
    """CPU microseconds of one ``Engine.consume`` called in-process, on the same database."""
    with Engine.open(database, catalog="agentstack") as engine:
        account = engine.create_account(plan="pro").id
        for _ in range(200):
            engine.consume(account, "api_calls", 1)
        began = time.process_time()
        for _ in range(calls):
            engine.consume(account, "api_calls", 1)
        return (time.process_time() - began) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="meterstack serve --workers N")
    parser.add_argument(
        "--accounts", type=int, default=1, help="consume for this many accounts, in turn"
    )
    args = parser.parse_args()
    if not Path(WRK).is_absolute():
        sys.exit("wrk is not installed: apt-get install -y wrk")
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        database = args.database or f"sqlite:///{Path(folder) / 'http.db'}"
        accounts = prepare_accounts(database, args.accounts)
        engine_us = engine_cost(database)
        bare_port, meter_port = _free_port(), _free_port()
        bare_server = context.Process(target=serve_bare, args=(bare_port,), daemon=True)
        bare_server.start()
        meter_server = serve_meterstack(database, meter_port, args.workers)
        try:
            _wait(bare_port)
            _wait(meter_port)
            assert bare_server.pid is not None
            bare = measure(f"http://127.0.0.1:{bare_port}/consume", args.seconds, bare_server.pid)
            urls = [
                f"http://127.0.0.1:{meter_port}/v1/accounts/{account}/consume"
                for account in accounts
            ]
            # One URL, or the first as wrk's target and all of them to take turns over.
            target = urls[0] if len(urls) == 1 else " ".join([urls[0], *urls])
            consume = measure(target, args.seconds, meter_server.pid)
        finally:
            bare_server.terminate()
            bare_server.join()
            meter_server.terminate()
            meter_server.wait()
    backend = database.split(":", 1)[0]
    print(
        f"HTTP on loopback, wrk -t1 -c{CONNECTIONS}, {args.seconds:.0f} s per run; meterstack on "
        f"{backend} with {args.workers} worker(s), {args.accounts} account(s)"
    )
    for name, (peak, paced) in (("bare Starlette JSON", bare), ("consume", consume)):
        print(
            f"  {name:<20} {peak.rate:>7,.0f} req/s, {peak.cpu_us:4.0f} us CPU each   "
            f"at {paced.rate:>6,.0f} req/s: p50 {paced.p50_ms:5.2f} ms, p99 {paced.p99_ms:6.2f} ms"
            f"   failures: {peak.failures + paced.failures}"
        )
    ratio = consume[0].rate / bare[0].rate
    print(f"  consume / bare: {ratio:.2f}x (target >= 0.5x)")
    print(f"  consume p99 at half its maximum rate: {consume[1].p99_ms:.2f} ms (target <= 10 ms)")
    http_us = consume[0].cpu_us - engine_us
    print(
        f"  per consume: the engine {engine_us:.0f} us CPU (Engine.consume in-process), the HTTP "
        f"side {http_us:.0f} us (the bare endpoint's whole request: {bare[0].cpu_us:.0f} us)"
    )


if __name__ == "__main__":
    main()
