"""The service under hostile or careless clients: slow senders and a clock sent to year 9999.

The service runs as ``meterstack serve`` runs it (``uvicorn_options``: its HTTP protocol with the
receive deadline), on loopback in a thread.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from fakes.serving import start_server
from meterstack import Engine
from meterstack.clock import TEST_MODE_HORIZON, Clock, TestModeClock
from meterstack.server import create_app, uvicorn_options
from meterstack.server.deadline import RECEIVE_SECONDS
from meterstack.server.settings import ServerSettings

OPERATOR = {"Authorization": "Bearer operator-secret"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(engine: Engine) -> Iterator[str]:
    port = _free_port()
    app = create_app(engine, ServerSettings(operator_key="operator-secret"))
    options = {**uvicorn_options(host="127.0.0.1", port=port), "log_level": "error"}
    running = start_server(uvicorn.Config(app, **options))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    with Engine.open(f"sqlite:///{tmp_path / 'm.db'}", catalog="flowstack") as engine:
        yield from _serve(engine)


class _RealTime:
    """The real time, as a test sees it: fixed, so that the horizon is exact."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@pytest.fixture
def test_mode(tmp_path: Path) -> Iterator[tuple[str, datetime]]:
    real = datetime.now(UTC)
    clock: Clock = TestModeClock(real, real=_RealTime(real))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Engine.open(url, catalog="flowstack", clock=clock) as engine:
        for base in _serve(engine):
            yield base, real


def test_test_mode_clock_beyond_100_years_ahead_is_422(test_mode: tuple[str, datetime]) -> None:
    base, real = test_mode
    with httpx.Client(base_url=base, headers=OPERATOR) as client:
        for body in (
            {"to": "9999-12-31T00:00:00Z"},
            {"to": (real + TEST_MODE_HORIZON + timedelta(seconds=1)).isoformat()},
            {"advance_seconds": 100 * 366 * 24 * 3600},
        ):
            answer = client.post("/v1/clock", json=body)
            assert answer.status_code == 422, body
            error = answer.json()["error"]
            assert error["code"] == "invalid_input"
            assert "at most 100 years ahead of the real time" in error["message"]

        # Nothing moved, and the service goes on: an account, usage, then 100 years exactly.
        assert client.post("/v1/clock", json={}).json()["now"] == real.isoformat()
        account = client.post("/v1/accounts", json={"plan": "free"}).json()["id"]
        consumed = client.post(f"/v1/accounts/{account}/consume", json={"meter": "sessions"})
        assert consumed.status_code == 200
        horizon = (real + TEST_MODE_HORIZON).isoformat()
        assert client.post("/v1/clock", json={"to": horizon}).json()["now"] == horizon
        assert client.get(f"/v1/accounts/{account}/usage").status_code == 200


def test_slow_client_trickling_header_bytes_is_disconnected_within_10_s(service: str) -> None:
    host, port = service.removeprefix("http://").split(":")
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    began = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        closed = False
        for byte in request:
            try:
                connection.sendall(bytes([byte]))
                time.sleep(1)
                connection.setblocking(False)
                try:
                    closed = connection.recv(1) == b""
                except BlockingIOError:
                    pass
                finally:
                    connection.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed or time.monotonic() - began > 12:
                break
    elapsed = time.monotonic() - began
    assert closed, "the slow client was still connected"
    assert RECEIVE_SECONDS <= elapsed < 10


def test_slow_client_does_not_delay_the_others(service: str) -> None:
    host, port = service.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as idle:
        idle.sendall(b"GET /health HTTP/1.1\r\n")  # and never the rest
        with httpx.Client(base_url=service) as client:
            assert client.get("/health").status_code == 200


def _read_answer(connection: socket.socket, began: float) -> bytes:
    """One whole HTTP answer: its head, then as many body bytes as its Content-Length says."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        received = connection.recv(4096)
        assert received, f"closed after {time.monotonic() - began:.1f} s"
        answer += received
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        received = connection.recv(4096)
        assert received, f"closed after {time.monotonic() - began:.1f} s"
        body += received
    return head + b"\r\n\r\n" + body


def test_a_request_sent_at_once_keeps_its_keep_alive_connection(service: str) -> None:
    # The deadline is for receiving a request: one connection, used a little more often than
    # uvicorn's keep-alive timeout, outlives RECEIVE_SECONDS.
    host, port = service.removeprefix("http://").split(":")
    began = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        while time.monotonic() - began < RECEIVE_SECONDS + 1:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_answer(connection, began)
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer
            time.sleep(1.5)
