"""Serving an ASGI app on a free loopback port in a thread, for the length of a block."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(config: uvicorn.Config, *, within: float = 30.0) -> Running:
    """Run ``config``'s server in a thread; return once it accepts connections. A server that
    stops or does not start ``within`` seconds fails the test here, not at its first request."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + within
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server on port {config.port} did not start")
        time.sleep(0.01)
    return Running(server, thread)


class Running:
    """A server started by :func:`start_server`."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def served(app_for: Any) -> Iterator[str]:
    """Serve ``app_for(base_url)`` (the app may need its own URL); yield that URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    running = start_server(
        uvicorn.Config(app_for(url), host="127.0.0.1", port=port, log_level="error")
    )
    try:
        yield url
    finally:
        running.stop()
