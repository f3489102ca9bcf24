"""Senders: the one HTTP POST a delivery attempt makes, behind a small interface.

:class:`GuardedSender` is what production uses. It is built on aiohttp rather than httpx
because delivery is the emitter's hot path: on this project's 2-core machines aiohttp posts to
a local receiver at about 0.16 ms of CPU per request where httpx/httpcore takes about 1 ms
(its pool rescans every connection on every request), which is the difference between
missing and meeting the 1,000 deliveries/s target. Every new connection resolves through
:class:`GuardedResolver`, which refuses the host unless every address is allowed and hands
aiohttp only the checked addresses to dial, so a second DNS answer cannot rebind it; TLS
still verifies the original name. IP literals never reach a resolver in aiohttp, which is
why :meth:`Guard.validate_url` (called before every attempt) checks them itself.

:class:`TransportSender` sends through any httpx transport (``httpx.ASGITransport`` in tests).

Both read at most ``limit`` bytes of the answer without decompressing it, never follow a
redirect, and bound the whole request by ``total_timeout`` themselves (the caller opens no
timeout scope); they raise :class:`SendTimeout`, :class:`SendFailed` or
:class:`~connector.errors.UnsafeDestinationError`.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import anyio
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from connector.emitter.guard import Guard

__all__ = [
    "GuardedResolver",
    "GuardedSender",
    "Reply",
    "SendFailed",
    "SendTimeout",
    "Sender",
    "TransportSender",
]


class SendFailed(Exception):
    """The attempt got no usable HTTP answer (refused, reset, malformed); internal to delivery."""


class SendTimeout(SendFailed):
    """The attempt ran out of time (connect or total)."""


@dataclass(frozen=True)
class Reply:
    """What an attempt got back: status, ``Retry-After`` and the first bytes of the body."""

    status: int
    retry_after: str | None
    body: bytes


class Sender(Protocol):
    """POSTs one delivery; ``key`` groups connections (one pool per subscription)."""

    async def post(self, key: str, url: str, body: bytes, headers: dict[str, str]) -> Reply: ...

    async def aclose(self) -> None: ...


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that answers only with addresses the guard allows (all or nothing)."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve and check; raises UnsafeDestinationError when any answer is not allowed."""
        addresses = await self._guard.resolve(host, port)
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release."""


class GuardedSender:
    """aiohttp sessions, one per subscription (``per_endpoint`` connections each), whose
    every new connection resolves through the guard. No proxies from the environment (a proxy
    would resolve names itself), no decompression, no redirects, TLS verification always on."""

    def __init__(
        self,
        guard: Guard,
        *,
        per_endpoint: int = 10,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        limit: int = 20 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._guard = guard
        self._per_endpoint = per_endpoint
        self._total = total_timeout
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._limit = limit
        self._ssl = ssl_context or ssl.create_default_context()
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, key: str) -> aiohttp.ClientSession:
        session = self._sessions.get(key)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._per_endpoint,
                resolver=GuardedResolver(self._guard),
                # Re-resolve (and re-check) for every new connection, never from a cache.
                use_dns_cache=False,
                ssl=self._ssl,
            )
            session = self._sessions[key] = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False, trust_env=False
            )
        return session

    async def post(self, key: str, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        """One POST; see the module docstring for what is and is not done."""
        # Checked here too, not only by the caller: aiohttp never resolves an IP literal, so
        # this is the check that stands between a literal and a connection.
        self._guard.validate_url(url)
        try:
            async with self._session(key).post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                received = b""
                while len(received) < self._limit:
                    chunk = await response.content.read(self._limit - len(received))
                    if not chunk:
                        break
                    received += chunk
                if not response.content.at_eof():
                    response.close()  # the rest is not wanted: drop the connection, not drain it
                return Reply(response.status, response.headers.get("retry-after"), received)
        except aiohttp.ServerTimeoutError as exc:  # connect or read
            raise SendTimeout(f"timed out: {type(exc).__name__}") from None
        except TimeoutError:  # the whole request's deadline (ClientTimeout.total)
            raise SendTimeout(f"timed out after {self._total:g} s") from None
        except aiohttp.ClientError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None

    async def aclose(self) -> None:
        """Close every session."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()


class TransportSender:
    """Sends through one httpx client over ``transport`` (tests: ``httpx.ASGITransport``)."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        limit: int = 20 * 1024,
    ) -> None:
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,
        )
        self._limit = limit
        self._total = total_timeout

    async def post(self, key: str, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        """One POST through the transport, within ``total_timeout`` as a whole (httpx's own
        timeouts bound each phase only)."""
        try:
            with anyio.fail_after(self._total):
                return await self._post(url, body, headers)
        except TimeoutError:
            raise SendTimeout(f"timed out after {self._total:g} s") from None

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                received = b""
                async for chunk in response.aiter_raw():
                    received += chunk
                    if len(received) >= self._limit:
                        break
                return Reply(
                    response.status_code,
                    response.headers.get("retry-after"),
                    received[: self._limit],
                )
        except httpx.TimeoutException as exc:
            raise SendTimeout(f"timed out: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()
