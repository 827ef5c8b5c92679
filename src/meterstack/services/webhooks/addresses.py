"""Where customer endpoints may point: https, public addresses only (server-side request forgery).

A customer's URL is a request meterstack's servers make on the customer's say-so; pointed at
loopback, a private network or a cloud's metadata service it would reach what customers must
never reach. So the host is resolved and *every* address it resolves to is checked, at
registration and again before each attempt (a name may resolve elsewhere later: DNS
rebinding), and the attempt connects to the address that was checked, not to a second lookup.

Refused: loopback, private (RFC 1918, unique local), link-local (and with it the metadata
address 169.254.169.254), carrier-grade NAT (100.64.0.0/10, where some clouds put metadata
too), multicast, unspecified, reserved and documentation ranges, and IPv6 forms that embed one
of those IPv4 addresses (IPv4-mapped ``::ffff:a.b.c.d``, NAT64, 6to4, Teredo).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from meterstack.errors import InvalidInputError
from meterstack.records.webhooks import Resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack…
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
_NAMED_RANGES: tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network], ...] = (
    ("a carrier-grade NAT", ipaddress.ip_network("100.64.0.0/10")),
    ("a NAT64", ipaddress.ip_network("64:ff9b:1::/48")),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTargetError(InvalidInputError):
    """A customer endpoint's URL that points where meterstack will not send (422)."""

    code = "unsafe_webhook_url"


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the operating system's resolver gives for ``host``."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeTargetError(f"the host {host!r} does not resolve: {error}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def refusal(address: IPAddress) -> str | None:
    """Why meterstack will not send to ``address``; None when it is a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = refusal(embedded)
        return None if reason is None else f"an IPv6 form of {embedded}, {reason}"
    if address in _METADATA:
        return "a cloud metadata address"
    checks = (
        ("a loopback", address.is_loopback),
        ("an unspecified", address.is_unspecified),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return f"{name} address"
    for name, network in _NAMED_RANGES:
        if address.version == network.version and address in network:
            return f"{name} address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


@dataclass(frozen=True)
class Target:
    """A URL to send to, and the address it was checked at (None: resolve when connecting)."""

    url: str
    host: str
    port: int
    address: IPAddress | None

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        if self.address is None:
            return self.url
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{literal}:{self.port}"
        return parts._replace(netloc=netloc).geturl()


def parse_url(url: str, *, https_only: bool) -> SplitResult:
    """A URL an endpoint may have: http(s), a host, no credentials, no fragment."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InvalidInputError(f"invalid URL {url!r}: {error}") from None
    allowed = ("https",) if https_only else ("https", "http")
    if parts.scheme not in allowed:
        raise UnsafeTargetError(
            f"a webhook URL must start with {' or '.join(a + '://' for a in allowed)}, got {url!r}"
        )
    if not parts.hostname:
        raise InvalidInputError(f"the URL {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("a webhook URL may not carry credentials; sign with the secret")
    if parts.fragment:
        raise InvalidInputError("a webhook URL may not have a #fragment")
    del port
    return parts


def checked_target(url: str, resolver: Resolver, *, allow_private: bool) -> Target:
    """The customer endpoint ``url`` resolved and checked now, pinned to a checked address."""
    parts = parse_url(url, https_only=not allow_private)
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port, resolver)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise UnsafeTargetError(
                    f"{host} is {address}, {reason}: webhook endpoints must be public",
                    host=host,
                    address=str(address),
                )
    return Target(url, host, port, addresses[0])


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    addresses = resolver(host, port)
    if not addresses:
        raise UnsafeTargetError(f"the host {host!r} does not resolve")
    return addresses
