"""A real HTTP receiver on loopback that records every webhook request and answers as told."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from meterstack import Engine
from meterstack.store.sql import SqlStore

#: status, body, extra headers
Answer = tuple[int, bytes, dict[str, str]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted answer, then with ``default``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    default: Answer = (200, b"ok", {})
    #: Set to make requests wait until it is set (a worker to kill mid-send).
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> Answer:
        with self.lock:
            self.requests.append(request)
            self.arrived.set()
            return self.script.pop(0) if self.script else self.default

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, content, headers = receiver.answer(request)
            if receiver.hold is not None:
                receiver.hold.wait(30)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(content)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    return Handler


@contextmanager
def serving() -> Iterator[Receiver]:
    """A receiver on a free loopback port, for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver("")))
    made = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    server.RequestHandlerClass = _handler(made)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        if made.hold is not None:
            made.hold.set()
        server.shutdown()
        server.server_close()


EngineFactory = Callable[..., Engine]
StoreOf = Callable[[Engine], SqlStore]
