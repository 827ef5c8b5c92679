"""The command line as a user meets it: one ``error:`` line instead of a traceback, a quick
start, and ``serve --workers N``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

#: The installed entry point, as a user runs it.
METERSTACK = [str(Path(sys.executable).with_name("meterstack"))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*METERSTACK, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_cli_unknown_catalog_one_error_line(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'm.db'}"
    result = run("usage", "acct_x", "--database", database, "--catalog", "nosuch")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: nosuch: no such file, and not a built-in catalog (aerostack, agentstack, flowstack)"
    ]


def test_cli_broken_catalog_file_one_error_line_per_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("catalog: x\n", encoding="utf-8")
    result = run("accounts", "create", "--database", f"sqlite:///{tmp_path / 'm.db'}",
                 "--catalog", str(broken))  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith(f"error: {broken}:") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_cli_unreachable_postgres_one_error_line() -> None:
    url = f"postgresql://meter:s3cret@127.0.0.1:{_free_port()}/nowhere"  # nothing listens
    result = run("accounts", "create", "--database", url)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot open the database postgresql://meter:***@127.0.0.1:")
    assert "Connection refused" in line or "connection" in line.lower()
    assert "s3cret" not in result.stderr


def test_cli_unreachable_sqlite_directory_one_error_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'm.db'}"
    result = run("usage", "acct_x", "--database", url)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot open the database {url}: ")


def test_cli_import_does_not_load_the_engine_or_the_service() -> None:
    # `meterstack --help` must not pay for the web framework, the database or the engine.
    probe = (
        "import sys, meterstack.cli\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'alembic', 'psycopg', 'uvicorn',\n"
        "         'httpx', 'fpdf', 'pydantic', 'yaml', 'meterstack.engine', 'meterstack.catalog')\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_cli_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("plans", "accounts", "consume", "usage", "keys", "invoices", "serve"):
        assert command in result.stdout


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _tail(folder: Path) -> str:
    return "\n".join((folder / "serve.log").read_text().splitlines()[-30:])


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    # One service for the module's tests: starting two workers takes seconds.
    tmp_path = tmp_path_factory.mktemp("workers")
    port = _free_port()
    env = {**os.environ, "METERSTACK_OPERATOR_KEY": "workers-secret"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*METERSTACK, "serve", "--workers", "2", "--port", str(port), "--catalog", "flowstack",
         "--database", f"sqlite:///{tmp_path / 'm.db'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            log.flush()
            pytest.fail(f"serve --workers 2 did not answer /health:\n{_tail(tmp_path)}")
        yield server, base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_serve_workers_runs_n_processes_sharing_the_operator_key(
    two_workers: tuple[subprocess.Popen[str], str],
) -> None:
    server, base = two_workers
    deadline = time.monotonic() + 30
    while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_children(server.pid)) >= 2  # the workers (a resource tracker may be a third)
    headers = {"Authorization": "Bearer workers-secret"}
    account = httpx.post(f"{base}/v1/accounts", json={"plan": "free"}, headers=headers).json()
    used = []
    for _ in range(10):
        # A new connection each time: the kernel spreads them over the workers.
        with httpx.Client(base_url=base, headers=headers) as client:
            answer = client.post(
                f"/v1/accounts/{account['id']}/consume", json={"meter": "sessions"}
            )
            assert answer.status_code == 200, answer.text
            used.append(json.loads(answer.text)["used"])
    assert sorted(used) == list(range(1, 11))  # one store: every worker sees every unit


def test_serve_workers_answer_without_waiting_for_delayed_acks(
    two_workers: tuple[subprocess.Popen[str], str],
) -> None:
    # The workers' shared socket is made with protocol 0; asyncio then left Nagle's algorithm
    # on, and each answer (written as head, then body) waited ~40 ms for the client's ACK.
    _, base = two_workers
    with httpx.Client(base_url=base) as client:
        client.get("/health")
        times = []
        for _ in range(15):
            began = time.perf_counter()
            assert client.get("/health").status_code == 200
            times.append(time.perf_counter() - began)
    assert statistics.median(times) < 0.02, times
