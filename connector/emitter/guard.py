"""Where a webhook may be sent: the SSRF guard (docs/emitter.md, "Where webhooks may go").

Two checks, at two moments:

* :meth:`Guard.validate_url` when a subscription is registered and again before every
  attempt: scheme (``https`` unless insecure is allowed), no userinfo, no backslashes or
  percent-escapes in the host, no IPv4 literal in an odd notation (``2130706433``,
  ``0x7f.1``, ``0177.0.0.1``, ``127.1``), a port from the allowlist, and an IP literal must
  itself be allowed.
* :meth:`Guard.resolve` at connection time: the host name is resolved and refused unless
  EVERY answer is allowed, after unwrapping IPv4-mapped, NAT64 (``64:ff9b::/96``) and 6to4
  (``2002::/16``) forms. The delivery path (:class:`~connector.emitter.sender.GuardedSender`)
  connects to the very addresses that were checked (TLS still uses the original name for SNI
  and certificate checks, and the Host header is untouched), so a second DNS answer cannot
  rebind the connection.

``allow_private=True`` (tests, the demo) allows loopback and private networks, plain
``http`` and any port; ``allowed_networks`` allows explicit CIDRs instead.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import anyio

from connector.errors import UnsafeDestinationError

__all__ = ["DEFAULT_PORTS", "Guard", "Resolver", "is_public"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""An async function (host, port) -> the addresses it resolves to, as text."""

DEFAULT_PORTS = frozenset({443, 80, 8443})

_DENY = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")
_DOTTED_QUAD = re.compile(
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)
_HOST_TEXT = re.compile(r"[A-Za-z0-9.\-_]+")


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, NAT64 or 6to4 IPv6 address, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address in _6TO4:
            return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    """True when the address (after :func:`unwrap`) is globally routable and not denied."""
    inner = unwrap(address)
    if any(inner.version == n.version and inner in n for n in _DENY):
        return False
    return inner.is_global and not inner.is_multicast


@dataclass(frozen=True)
class Guard:
    """The egress policy for webhook deliveries.

    ``allow_private`` allows loopback and private networks, ``http`` and any port (tests, the
    demo); ``allow_insecure`` allows ``http``; ``allowed_networks`` lists CIDRs allowed even
    though not public; ``ports`` is the port allowlist (None = any); ``resolver`` replaces
    ``getaddrinfo`` (tests).
    """

    allow_private: bool = False
    allow_insecure: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    ports: frozenset[int] | None = DEFAULT_PORTS
    resolver: Resolver | None = field(default=None, compare=False)

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str], **options: object) -> Guard:
        """A guard that also allows the given CIDR blocks (``["10.1.0.0/16"]``)."""
        try:
            networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        except ValueError as exc:
            raise UnsafeDestinationError(f"bad CIDR in the allowlist: {exc}") from None
        return cls(allowed_networks=networks, **options)  # type: ignore[arg-type]

    def allows_address(self, address: IPAddress) -> bool:
        """Whether a connection to this concrete address is allowed."""
        inner = unwrap(address)
        for candidate in {address, inner}:
            if any(
                candidate.version == n.version and candidate in n for n in self.allowed_networks
            ):
                return True
            if self.allow_private and any(
                candidate.version == n.version and candidate in n for n in _PRIVATE
            ):
                return True
        return is_public(address)

    def validate_url(self, url: str) -> str:
        """Check a target URL's text; return it unchanged or raise :class:`UnsafeDestinationError`.

        The verdict depends on nothing but this policy and the text (no DNS: the resolver
        checks every address at every new connection), so an accepted URL is remembered and
        the next attempt to it skips the parsing (refusals are not cached)."""
        if url.__class__ is str:
            return _accepted(self, url)
        return self._checked_url(url)

    def _checked_url(self, url: str) -> str:
        if not isinstance(url, str) or any(c in url for c in "\\\r\n\t ") or not url.isprintable():
            raise UnsafeDestinationError("the URL holds backslashes or whitespace", url=url)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeDestinationError("the URL cannot be parsed", url=url) from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise UnsafeDestinationError(f"scheme {scheme!r} is not allowed", url=url)
        if scheme == "http" and not (self.allow_insecure or self.allow_private):
            raise UnsafeDestinationError("plain http is not allowed; use https", url=url)
        if "@" in parts.netloc or parts.username is not None or parts.password is not None:
            raise UnsafeDestinationError("credentials in the URL are not allowed", url=url)
        host = parts.hostname or ""
        if not host:
            raise UnsafeDestinationError("the URL has no host", url=url)
        port = port if port is not None else (443 if scheme == "https" else 80)
        if self.ports is not None and not self.allow_private and port not in self.ports:
            raise UnsafeDestinationError(f"port {port} is not allowed", url=url)
        literal = _ip_literal(host, url)
        if literal is not None:
            if not self.allows_address(literal):
                raise UnsafeDestinationError(
                    "the address is not public", url=url, address=str(literal)
                )
        elif not _HOST_TEXT.fullmatch(host) or host.endswith(".") or ".." in host:
            raise UnsafeDestinationError("the host name is malformed", url=url)
        return url

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses, refusing unless every one is allowed."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            answers: Sequence[str] = [str(literal)]
        else:
            try:
                answers = await (self.resolver or _getaddrinfo)(host, port)
            except OSError as exc:
                raise UnsafeDestinationError(
                    f"cannot resolve {host!r}: {exc.strerror or exc}"
                ) from None
        addresses: list[IPAddress] = []
        for text in answers:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise UnsafeDestinationError(f"odd DNS answer for {host!r}", address=text) from None
            if not self.allows_address(address):
                raise UnsafeDestinationError(
                    f"{host!r} resolves to a non-public address", address=str(address)
                )
            addresses.append(address)
        if not addresses:
            raise UnsafeDestinationError(f"{host!r} resolves to nothing")
        return addresses

    async def check(self, url: str) -> list[IPAddress]:
        """Both checks at once: the URL text, then every address its host resolves to."""
        self.validate_url(url)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return await self.resolve(parts.hostname or "", port)


@lru_cache(maxsize=4096)
def _accepted(guard: Guard, url: str) -> str:
    """:meth:`Guard.validate_url`, remembered per (policy, URL); an exception is not cached."""
    return guard._checked_url(url)


def _ip_literal(host: str, url: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last):
        # WHATWG: a host whose last label is a number is an IPv4 address; only the plain
        # dotted-quad spelling is accepted, the others exist to slip past filters.
        if not _DOTTED_QUAD.fullmatch(host):
            raise UnsafeDestinationError("IPv4 address in an unusual notation", url=url)
    return None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
