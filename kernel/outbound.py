"""Outbound URLs (webhook receivers and the like) that cannot be turned against our own network.

Outside development a URL must be ``https`` and its host must resolve only to public addresses:
no loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved, multicast or
unspecified address, including IPv4 hidden in IPv6 (``::ffff:10.0.0.1``, 6to4, NAT64). Call
``check_url`` when the URL is saved (no DNS: cheap, inside the request) and ``resolve`` right before
each delivery (DNS, outside any transaction), then connect to one of the addresses it returned with the
``Host`` header of the URL and redirects off, so a DNS answer that changes in between (rebinding) or a
redirect cannot reach an internal address.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi

from kernel.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int


def _refuse(msg: str, loc: tuple[str, ...]) -> ValidationFailed:
    return ValidationFailed.at(list(loc), msg)


def check_url(url: str, *, allow_private: bool, loc: tuple[str, ...] = ("body", "url")) -> Target:
    """The URL's parts, or 422: the scheme, the host, no credentials, and a literal address must be public."""
    if len(url) > 2048:
        raise _refuse("the URL is longer than 2048 characters", loc)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"not a valid URL: {exc}", loc) from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise _refuse(f"the URL must use {' or '.join(schemes)}", loc)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("the URL has no host", loc)
    if parts.username is not None or parts.password is not None:
        raise _refuse("the URL must not carry credentials", loc)
    literal = _literal_address(host)
    if literal is not None and not allow_private and not is_public(literal):
        raise _refuse(f"{host} is not a public address", loc)
    if literal is None and not allow_private and (host == "localhost" or host.endswith((".localhost", ".local",
                                                                                         ".internal"))):
        raise _refuse(f"{host} is not a public host", loc)
    return Target(url=url, scheme=parts.scheme, host=host,
                  port=port or (443 if parts.scheme == "https" else 80))


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """True only for a globally routable unicast address (IPv4 embedded in IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve(url: str, *, allow_private: bool, resolver: Resolver | None = None,
                  loc: tuple[str, ...] = ("url",)) -> tuple[Target, list[str]]:
    """Check the URL and resolve its host; every address must be public (outside development).

    Returns the addresses to connect to. Never call this under a lock or in a write transaction:
    it waits on DNS.
    """
    target = check_url(url, allow_private=allow_private, loc=loc)
    try:
        found = await (resolver or _system_resolver)(target.host, target.port)
    except OSError as exc:
        raise _refuse(f"{target.host} does not resolve", loc) from exc
    addresses = []
    for text in dict.fromkeys(found):
        address = ipaddress.ip_address(text.split("%")[0])
        if not allow_private and not is_public(address):
            raise _refuse(f"{target.host} resolves to {address}, which is not a public address", loc)
        addresses.append(str(address))
    if not addresses:
        raise _refuse(f"{target.host} does not resolve", loc)
    return target, addresses


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context for outbound calls (certifi's roots, as httpx's default). Building one loads
    every root certificate (~0.1–0.2 s), which a fresh httpx client per call would pay each time."""
    return ssl.create_default_context(cafile=certifi.where())
