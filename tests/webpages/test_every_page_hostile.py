"""Every page and form of the dashboard and the console, driven with hostile values: no answer
is a server error, and a refused request changes nothing.

The dashboard's routes are left out of the OpenAPI document (they answer HTML), so the REST
fuzz run never reaches them. This test builds its table from the app itself: every route under
``/dashboard`` and ``/console`` (and ``/``) with its path and query parameters, and every form
the pages show with its fields and the values the page gave them (read from the pages' HTML),
so that a new page or form is covered without editing the test.

Each route is driven twice. First every query parameter, and every field of every form (the
others keeping the page's values, so that the handler's deeper code runs), gets each of
:data:`SHARP` in turn; each form is also posted with no fields, with a wrong CSRF token and
without one. Then hypothesis draws :data:`EXAMPLES` requests a route from :data:`HOSTILE` and
any text, with the session of the route's kind (a customer's for ``/dashboard``, the operator's
for ``/console``) or, one in four, the other kind's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import compile_path

from meterstack import Engine
from webpages.dashboard_pages import OPERATOR, csrf_token, link_for

Service = Callable[..., Any]
pytestmark = pytest.mark.xdist_group("dashboard-http")

PREFIXES = ("/dashboard", "/console")
#: Hypothesis' requests a route, after the systematic pass.
EXAMPLES = 3
#: What every parameter and field gets in turn: past the store's range, a digit that is not
#: ASCII (``str.isdigit`` takes it, ``int`` does not), a NUL byte (PostgreSQL refuses it),
#: an overlong text.
SHARP = ("9223372036854775808", "²", "a\x00b", "x" * 5000)
#: What hypothesis draws from besides any text.
HOSTILE = (
    *SHARP,
    "1" + "0" * 40,
    "9" * 5000,
    "-1",
    "0",
    "①",
    "٣",
    "１２",
    "1_000",
    "1e309",
    "NaN",
    "\x00",
    "",
    " ",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%",
    "unlimited",
    "on",
    "json",
)
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)


@dataclass(frozen=True)
class Page:
    """A route of the pages: its full path, its methods, and the route (its parameters)."""

    path: str
    methods: frozenset[str]
    route: APIRoute

    @property
    def pattern(self) -> re.Pattern[str]:
        return compile_path(self.path)[0]

    @property
    def query(self) -> list[str]:
        return [param.alias for param in self.route.dependant.query_params]


def _page_routes(service: Any) -> list[Page]:
    """Every route of the dashboard and the console, from the app's own list."""
    pages = []
    for context in iter_route_contexts(service.app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, APIRoute) and path and (path == "/" or path.startswith(PREFIXES)):
            pages.append(Page(path, frozenset(route.methods or ()), route))
    return pages


@dataclass
class Form:
    """A form a page shows: where it posts and its fields, with the values the page set."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The POST forms of a page, each field with its value (a select's first option)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._open: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "form" and named.get("method", "").lower() == "post":
            self._open = Form(named.get("action", ""))
            self.forms.append(self._open)
        elif self._open is None:
            return
        elif tag == "select" and "name" in named:
            self._select = named["name"]
            self._open.fields.setdefault(self._select, "")
        elif tag == "option" and self._select and not self._open.fields[self._select]:
            self._open.fields[self._select] = named.get("value", "")
        elif tag in {"input", "textarea", "button"} and "name" in named:
            self._open.fields.setdefault(named["name"], named.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "select":
            self._select = None


def _forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def _state(engine: Engine, account_id: str) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    usage = engine.usage(account_id)
    return (
        [entry.id for entry in engine.audit(limit=200).entries],
        [(key.id, key.revoked_at) for key in engine.api_keys(account_id, revoked=True)],
        engine.wallet(account_id),
        engine.subscription(account_id),
        [invoice.number for invoice in engine.invoices(account_id)],
        engine.alerts(account_id),
        engine.budget(account_id).amount,
        {item: (found.used, found.limit) for item, found in usage.items.items()},
    )


@dataclass
class Prober:
    """Sends the requests, with a customer's and the operator's session, and keeps what went
    wrong: a 5xx, a forged form not refused, a refusal (or a page) that changed something."""

    engine: Engine
    account_id: str
    customer: httpx.Client
    operator: httpx.Client
    known: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    current: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        self.renew()
        self.current = _state(self.engine, self.account_id)

    def renew(self) -> None:
        """The sessions' tokens (a session renewed under a new id, after a key was revoked,
        has a new one)."""
        self.tokens["customer"] = csrf_token(self.customer.get("/dashboard/keys").text)
        self.tokens["operator"] = csrf_token(self.operator.get("/console").text)

    def session(self, page: Page, *, other: bool) -> tuple[httpx.Client, str]:
        operator = page.path.startswith("/console") != other
        kind = "operator" if operator else "customer"
        return (self.operator if operator else self.customer), self.tokens[kind]

    def path(self, page: Page, values: dict[str, str] | None = None) -> str:
        """The page's path with the real ids (so that the page is found), or ``values``."""
        path = page.path
        for param in page.route.dependant.path_params:
            chosen = (values or {}).get(param.name) or self.known.get(param.name) or "x"
            path = path.replace("{" + param.name + "}", quote(chosen, safe=""))
        return path

    def get(self, page: Page, path: str, query: dict[str, str], *, other: bool = False) -> None:
        client, _ = self.session(page, other=other)
        label = f"GET {path[:80]} {_shown(query)}"
        try:
            answer = client.get(path, params=query)
        except httpx.TransportError as error:  # the server failed without an answer
            self.failures.append(f"{label} -> no answer: {error}")
            return
        self._check(label, client, answer)

    def post(
        self, page: Page, path: str, data: dict[str, str], csrf: str, *, other: bool = False
    ) -> None:
        client, token = self.session(page, other=other)
        sent = {name: value for name, value in data.items() if name != "csrf_token"}
        if csrf == "right":
            sent["csrf_token"] = token
        elif csrf == "wrong":
            sent["csrf_token"] = token[::-1]
        label = f"POST {path[:80]} {_shown(data)} csrf {csrf}"
        try:
            answer = client.post(path, data=sent)
        except httpx.TransportError as error:  # the server failed without an answer
            self.failures.append(f"{label} -> no answer: {error}")
            return
        forged = csrf != "right" and not page.path.endswith("/sign-in")
        if forged and answer.status_code not in {401, 403}:
            self.failures.append(f"{label} -> {answer.status_code} without its CSRF token")
        self._check(label, client, answer, posted=True)

    def _check(
        self, label: str, client: httpx.Client, answer: httpx.Response, *, posted: bool = False
    ) -> None:
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            self.failures.append(f"{label} -> {answer.status_code} {answer.text[:200]!r}")
        refused = answer.status_code >= 400 or _refusal_shown(client, answer)
        if "set-cookie" in answer.headers:
            self.renew()
        after = _state(self.engine, self.account_id)
        if (refused or not posted) and after != self.current:
            self.failures.append(f"{label} -> {answer.status_code}: refused, yet it changed")
        self.current = after


def _shown(values: dict[str, str]) -> str:
    return repr({name: value[:24] for name, value in values.items() if name != "csrf_token"})


def _refusal_shown(client: httpx.Client, answer: httpx.Response) -> bool:
    """A form's answer that goes back to its page with a refusal as the notice."""
    location = answer.headers.get("location", "")
    if answer.status_code != 303 or not location.startswith("/"):
        return False
    return '<div class="notice refused"' in client.get(location).text


@contextmanager
def _prober(service: Any, account_id: str) -> Iterator[Prober]:
    engine: Engine = service.app.state.engine
    base = str(service.base_url)
    known = {
        "account_id": account_id,
        "number": engine.invoices(account_id)[0].number or "",
        "key_id": engine.api_keys(account_id)[-1].id,
        "alert_id": engine.alerts(account_id)[-1].id,
        "name": "app.css",
    }
    with (
        httpx.Client(base_url=base, timeout=30) as customer,
        httpx.Client(base_url=base, timeout=30) as operator,
    ):
        assert customer.get(link_for(service, account_id)).status_code == 303
        token = csrf_token(operator.get("/console/sign-in").text)
        signed = operator.post("/console/sign-in", data={"csrf_token": token, "key": OPERATOR})
        assert signed.status_code == 303
        yield Prober(engine, account_id, customer, operator, known)


def _page_forms(prober: Prober, pages: list[Page]) -> dict[str, list[Form]]:
    """Every distinct form the GET pages show (by where it posts and its fields), by the
    path of the route it posts to."""
    found: dict[str, list[Form]] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    for page in pages:
        if "GET" not in page.methods:
            continue
        client, _ = prober.session(page, other=False)
        answer = client.get(prober.path(page))
        if answer.status_code != 200 or "text/html" not in answer.headers["content-type"]:
            continue
        for form in _forms(answer.text):
            target = urlsplit(form.action).path
            route = next(
                (p for p in pages if "POST" in p.methods and p.pattern.match(target)), None
            )
            key = (route.path if route else target, frozenset(form.fields))
            if route is not None and key not in seen:
                seen.add(key)
                found.setdefault(route.path, []).append(form)
    return found


def _systematic(prober: Prober, page: Page, forms: list[Form]) -> None:
    """Each parameter and each field in turn gets each sharp value; each form is posted
    empty, with a wrong token and without one."""
    if "GET" in page.methods:
        for name in page.query:
            for value in SHARP:
                prober.get(page, prober.path(page), {name: value})
        for param in page.route.dependant.path_params:
            for value in SHARP:
                prober.get(page, prober.path(page, {param.name: value}), {})
    if "POST" not in page.methods or page.path.endswith("/sign-out"):
        return  # signing out is what a sign-out does; its token is checked below
    for form in forms or [Form(page.path)]:
        path = urlsplit(form.action).path if forms else prober.path(page)
        for name in [name for name in form.fields if name != "csrf_token"]:
            for value in SHARP:
                prober.post(page, path, {**form.fields, name: value}, "right")
        prober.post(page, path, {}, "right")
        prober.post(page, path, form.fields, "wrong")
        prober.post(page, path, form.fields, "missing")


def _drawn(prober: Prober, page: Page, forms: list[Form]) -> None:
    """Hypothesis' requests to one route: any of its parameters and fields, any values."""
    names = sorted({"x", *page.query, *(name for form in forms for name in form.fields)})
    path_names = [param.name for param in page.route.dependant.path_params]
    methods = sorted(
        page.methods & ({"GET", "POST"} - ({"POST"} if "sign-out" in page.path else set()))
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        method=st.sampled_from(methods),
        in_path=st.dictionaries(st.sampled_from(path_names or ["none"]), VALUES, max_size=1),
        values=st.dictionaries(st.sampled_from(names), VALUES, max_size=4),
        form=st.sampled_from(forms or [Form(page.path)]),
        other=st.integers(0, 3).map(lambda n: n == 0),
        csrf=st.sampled_from(["right", "right", "wrong", "missing"]),
    )
    def send(
        method: str,
        in_path: dict[str, str],
        values: dict[str, str],
        form: Form,
        other: bool,
        csrf: str,
    ) -> None:
        path = prober.path(page, in_path)
        if method == "GET":
            prober.get(page, path, values, other=other)
        else:
            prober.post(page, path, {**form.fields, **values}, csrf, other=other)

    if methods:
        send()


def test_no_page_or_form_answers_a_server_error_and_a_refusal_changes_nothing(
    live_service: Service,
) -> None:
    service = live_service("aerostack")
    engine: Engine = service.app.state.engine
    account = engine.create_account(plan="starter", email="hostile@example.com")
    engine.create_api_key(account.id, project_id=engine.create_project(account.id).id)
    engine.create_alert(account.id, "usage_units", meter="api_requests", threshold=5)
    engine.consume(account.id, "api_requests", 3)
    pages = _page_routes(service)
    assert len(pages) > 40, "every page and form of the dashboard and the console"
    with _prober(service, account.id) as prober:
        forms = _page_forms(prober, pages)
        assert len(forms) > 15, sorted(forms)
        for page in pages:
            _systematic(prober, page, forms.get(page.path, []))
            _drawn(prober, page, forms.get(page.path, []))
        for path in ("/dashboard/sign-out", "/console/sign-out"):
            page = next(page for page in pages if page.path == path)
            for csrf in ("wrong", "missing"):
                prober.post(page, path, {}, csrf)
    assert prober.failures == [], "\n".join(prober.failures[:30])
    # The deeper code ran: pages shown, forms done, refusals with their reason.
    assert prober.statuses[200] > 40, prober.statuses
    assert prober.statuses[303] > 150, prober.statuses
    assert prober.statuses[422] > 40, prober.statuses
    assert prober.statuses[403] > 50, prober.statuses
