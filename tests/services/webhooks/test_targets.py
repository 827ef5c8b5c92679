"""Customer endpoints reach public addresses only: at registration and at every attempt (D28)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from webhook_receiver import EngineFactory, Receiver, serving

from meterstack.records.webhooks import WebhookPolicy
from meterstack.services.webhooks.addresses import IPAddress, UnsafeTargetError, refusal
from meterstack.services.webhooks.endpoints import EndpointLimitError

#: A public address: registrations resolving to it pass; no test ever connects to it.
PUBLIC = ipaddress.ip_address("93.184.215.14")

REFUSED_URLS = [
    "https://127.0.0.1/hooks",
    "https://127.1.2.3/hooks",
    "https://10.0.0.1/hooks",
    "https://172.16.5.4/hooks",
    "https://192.168.1.1/hooks",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hooks",
    "https://100.100.100.200/hooks",
    "https://0.0.0.0/hooks",
    "https://224.0.0.1/hooks",
    "https://[::1]/hooks",
    "https://[::]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[64:ff9b::a00:1]/hooks",
    "https://[2002:7f00:1::]/hooks",
    "https://[fe80::1]/hooks",
    "https://[fc00::1]/hooks",
    "https://[fd00:ec2::254]/hooks",
    "https://[ff02::1]/hooks",
]


class Resolver:
    """A name service the test controls: what each host resolves to, changeable at will."""

    def __init__(self) -> None:
        self.names: dict[str, list[IPAddress]] = {}

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        del port
        if host not in self.names:
            raise UnsafeTargetError(f"the host {host!r} does not resolve")
        return self.names[host]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as made:
        yield made


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_d28_a_customer_endpoint_on_a_private_address_is_refused(url: str) -> None:
    host = url.split("//", 1)[1].split("/", 1)[0].strip("[]")
    assert refusal(ipaddress.ip_address(host)) is not None


def test_d28_customer_registrations_are_refused_for_private_targets(
    open_engine: EngineFactory,
) -> None:
    names = Resolver()
    names.names["internal.example.com"] = [ipaddress.ip_address("10.0.0.1")]
    names.names["metadata.example.com"] = [PUBLIC, ipaddress.ip_address("169.254.169.254")]
    names.names["mapped.example.com"] = [ipaddress.ip_address("::ffff:127.0.0.1")]
    names.names["hooks.example.com"] = [PUBLIC]
    engine = open_engine("agentstack", webhooks=WebhookPolicy(resolver=names))
    account = engine.create_account(plan="pro")
    endpoints = engine.webhooks.endpoints

    refused = [
        *REFUSED_URLS,
        "https://internal.example.com/hooks",
        "https://metadata.example.com/hooks",  # one bad address among good ones is enough
        "https://mapped.example.com/hooks",
        "https://unknown.example.com/hooks",
        "http://hooks.example.com/hooks",  # https only
        "ftp://hooks.example.com/hooks",
    ]
    for url in refused:
        with pytest.raises(UnsafeTargetError):
            endpoints.create(url, customer=account.id)
    accepted = endpoints.create("https://hooks.example.com/hooks", customer=account.id)
    # The operator's own endpoints may point anywhere it likes, http included.
    internal = endpoints.create("http://10.0.0.1/hooks", account_id=account.id)

    assert refusal(PUBLIC) is None
    assert [e.id for e in endpoints.find(customer=account.id)] == [accepted.endpoint.id]
    assert {e.id for e in endpoints.find(account_id=account.id)} == {
        accepted.endpoint.id,
        internal.endpoint.id,
    }
    with pytest.raises(UnsafeTargetError):
        endpoints.update(accepted.endpoint.id, customer=account.id, url="https://127.0.0.1/")


def test_d28_a_name_rebound_to_a_private_address_is_refused_at_delivery(
    open_engine: EngineFactory, receiver: Receiver
) -> None:
    names = Resolver()
    names.names["hooks.example.com"] = [PUBLIC]
    engine = open_engine("agentstack", webhooks=WebhookPolicy(resolver=names))
    account = engine.create_account(plan="pro")
    engine.webhooks.endpoints.create(
        receiver.url.replace("http://127.0.0.1", "https://hooks.example.com"),
        customer=account.id,
    )
    reports = []
    for rebound in ("127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254", "::1"):
        names.names["hooks.example.com"] = [ipaddress.ip_address(rebound)]
        engine.cancel(account.id)
        engine.resume(account.id)
        reports.append(engine.webhooks.deliver())

    attempts = [a for d in engine.webhooks.deliveries() for a in engine.webhooks.attempts(d.id)]
    # The account's opening invoice, then a cancel and a resume after each rebinding.
    assert [(r.attempts, r.retrying) for r in reports] == [(3, 3)] + [(2, 2)] * 3
    assert receiver.requests == []
    assert all(a.status_code is None for a in attempts)
    assert all(a.error is not None and a.error.startswith("not sent: ") for a in attempts)
    assert any("a cloud metadata address" in (a.error or "") for a in attempts)


def test_d28_a_customer_delivery_connects_to_the_address_it_checked(
    open_engine: EngineFactory, receiver: Receiver
) -> None:
    names = Resolver()
    names.names["hooks.customer.test"] = [ipaddress.ip_address("127.0.0.1")]
    policy = WebhookPolicy(allow_private_targets=True, resolver=names)
    engine = open_engine("agentstack", webhooks=policy)
    account = engine.create_account(plan="pro")
    url = receiver.url.replace("127.0.0.1", "hooks.customer.test")
    engine.webhooks.endpoints.create(url, customer=account.id)
    engine.cancel(account.id)

    assert engine.webhooks.deliver().succeeded == 2  # the opening invoice and the cancel
    port = url.split(":")[2].split("/")[0]
    assert {r.headers["host"] for r in receiver.requests} == {f"hooks.customer.test:{port}"}


def test_d28_an_account_has_at_most_ten_customer_endpoints(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack", webhooks=WebhookPolicy(allow_private_targets=True))
    account, other = engine.create_account(plan="pro"), engine.create_account(plan="pro")
    endpoints = engine.webhooks.endpoints
    made = [endpoints.create(f"http://127.0.0.1:9/{n}", customer=account.id) for n in range(10)]

    with pytest.raises(EndpointLimitError):
        endpoints.create("http://127.0.0.1:9/11", customer=account.id)
    endpoints.create("http://127.0.0.1:9/other", customer=other.id)
    endpoints.create("http://127.0.0.1:9/operator", account_id=account.id)  # not counted
    endpoints.delete(made[0].endpoint.id, customer=account.id)
    endpoints.create("http://127.0.0.1:9/again", customer=account.id)

    assert len(endpoints.find(customer=account.id)) == 10
    with pytest.raises(Exception, match="no webhook endpoint"):
        endpoints.get(made[1].endpoint.id, customer=other.id)
