"""Outbound HTTP to the public internet only: what image downloads and webhook deliveries
use, so that a URL a user gives can never reach this host or its private network.

Every request, redirects included, resolves its host, refuses it if any address is
loopback, private, link-local, multicast, unspecified or otherwise not global (unless
private addresses are allowed), and connects to an address it checked, so that a second
DNS answer cannot point the connection elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
Refusal = Callable[[IPAddress], str | None]


class FetchError(Exception):
    """Raised when a request cannot be sent; the text says why (it is recorded as a
    download's or a delivery's error)."""


class UnsafeURLError(FetchError):
    """Raised when a URL's host resolves to an address that marid may not fetch from."""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why an address is not fetched from (`"loopback"`, `"private"`, ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-public"


def refused_address(url: str, resolver: Resolver = resolve) -> tuple[str, str] | None:
    """The first address the URL's host resolves to that is refused, with why
    (`("127.0.0.1", "loopback")`), or None: none is refused, or the URL has no host, or
    the host does not resolve (now: it may later, and every delivery checks again)."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return None
    if not parts.host:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(parts.host, port)
    except FetchError:
        return None
    for address in addresses:
        why = refusal(ipaddress.ip_address(address))
        if why is not None:
            return address, why
    return None


class PublicOnlyTransport(httpx.BaseTransport):
    """Sends each request to a checked address of its host (the Host header and TLS name
    stay the original host's)."""

    def __init__(
        self, allow_private: bool, resolver: Resolver = resolve, refuse: Refusal = refusal
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.refuse = refuse
        self.inner = httpx.HTTPTransport(trust_env=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = self.resolver(url.host, port)
        for address in addresses:
            why = None if self.allow_private else self.refuse(ipaddress.ip_address(address))
            if why is not None:
                raise UnsafeURLError(f"refused: {url.host} resolves to a {why} address")
        failure: httpx.ConnectError | None = None
        for address in addresses:
            request.url = url.copy_with(host=address)
            if url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": url.host}
            try:
                return self.inner.handle_request(request)
            except httpx.ConnectError as exc:
                failure = exc
            finally:
                request.url = url
        raise failure or FetchError(f"cannot resolve {url.host}")

    def close(self) -> None:
        self.inner.close()
