"""Steps the dashboard's browser tests share: a sign-in link, a signed-in page, a usage bar,
the console signed in, a webhook receiver."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
