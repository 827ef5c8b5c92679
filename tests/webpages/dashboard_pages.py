"""Steps the dashboard's tests share: a sign-in link, a signed-in page, a usage bar, the
console signed in, HTTP sessions of a customer and of the operator, a webhook receiver."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from meterstack import Engine

OPERATOR = "operator-secret"


def link_for(service: Any, account_id: str) -> str:
    """A single-use sign-in link, minted through the operator API as a platform would."""
    answer = service.post(
        f"/v1/accounts/{account_id}/dashboard-link",
        headers={"Authorization": f"Bearer {OPERATOR}"},
    )
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["url"]
    return url


def engine_of(service: Any) -> Engine:
    """The engine a live service answers from."""
    engine: Engine = service.app.state.engine
    return engine


def csrf_token(page: str) -> str:
    """The CSRF token of the (first) form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@contextmanager
def customer_session(service: Any, account_id: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the account's dashboard by a link."""
    with httpx.Client(base_url=str(service.base_url), timeout=30) as client:
        assert client.get(link_for(service, account_id)).status_code == 303
        yield client


@contextmanager
def operator_session(service: Any) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the console with the operator key."""
    with httpx.Client(base_url=str(service.base_url), timeout=30) as client:
        token = csrf_token(client.get("/console/sign-in").text)
        signed = client.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        assert signed.status_code == 303
        yield client


def signed_in(context: Any, service: Any, account_id: str) -> Any:
    """A page of ``context`` signed in to the account by a link, on the overview."""
    page = context.new_page()
    page.goto(link_for(service, account_id))
    page.wait_for_url(re.compile(r"/dashboard$"))
    return page


def section(page: Any, item: str) -> Any:
    """The usage bar's section of ``item``."""
    return page.locator(f"section.meter:has(#meter-{item})")


def console(context: Any, service: Any) -> Any:
    """A page of ``context`` signed in to the operator console, on the accounts."""
    page = context.new_page()
    page.goto(f"{service.base_url}/console/sign-in")
    page.get_by_label("Operator key").fill(OPERATOR)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console$"))
    return page


class Bodies(list[bytes]):
    """The bodies a receiver got, in order, and the URL it listens on."""

    url = ""


@contextmanager
def receiving() -> Iterator[Bodies]:
    """A webhook receiver on a free loopback port answering 200 to every POST."""
    bodies = Bodies()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    bodies.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
