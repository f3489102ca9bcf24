"""An httpx transport over aiohttp: the asynchronous engine's fast path to the network.

The engine speaks httpx (retries, typed errors, streaming, ``transport=`` overrides are all
httpx's), but under many concurrent calls httpcore's pool bookkeeping costs about as much CPU
as the rest of a call. aiohttp keeps a cheaper pool, so :class:`AiohttpTransport` sends what
httpx built and hands back an ``httpx.Response`` whose body streams from aiohttp.

What it keeps of httpx's own transport:

- **Bodies stream both ways**: a request's ``httpx`` stream (a multipart upload reading its
  file in chunks) is passed on chunk by chunk, never read whole; answers stream to the caller
  and are released (the connection closed when unread) on ``aclose``.
- **Timeouts** are the ones the ``httpx.AsyncClient`` puts on each request: ``connect`` bounds
  establishing a connection, ``pool`` waiting for a free one (aiohttp counts both in its
  ``connect``), ``read`` each wait for data. aiohttp has no write timeout; a stalled upload
  is bounded by ``read`` (the answer never comes).
- **Errors** become the httpx exceptions the retry policy reads: a connection never made is
  ``ConnectError`` / ``ConnectTimeout`` (safe to retry for any method), anything after it
  ``ReadError`` / ``ReadTimeout`` / ``RemoteProtocolError`` (not retried unless idempotent).
- **TLS** verifies with httpx's own context (certifi, ``SSL_CERT_FILE``); **no redirects**
  (httpx decides), **no cookies** kept, **no decompression** (httpx decodes
  ``content-encoding``, streamed JSONL included).
- **Proxies**: this transport never uses one; :func:`environment_mounts` gives the
  ``mounts=`` that route the URLs ``HTTP(S)_PROXY`` / ``ALL_PROXY`` cover (less ``NO_PROXY``)
  to httpx's own proxy transport, as httpx's ``trust_env`` would.

The aiohttp session is opened on the running loop by the first request and closed by
``aclose`` (the client's ``aclose`` / ``async with``); one transport serves one event loop.

**Upstream guard** (optional, ``guard=``; ``connector serve`` uses it, where whoever holds a
token decides a connection's ``base_url``): every new connection resolves through the
emitter's :class:`~connector.emitter.sender.GuardedResolver`, which refuses a host unless every
address it resolves to is allowed by the :class:`~connector.emitter.guard.Guard` and hands
aiohttp only the checked addresses to dial (a second DNS answer cannot rebind it); IP
literals, which aiohttp never resolves, are checked on the URL, once per origin. A refusal is
a :class:`~connector.errors.ConfigurationError` on ``base_url`` (``guard_hint`` says how an
operator lifts it), raised before any connection is made.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
import httpx
from httpx._utils import get_environment_proxies

from .errors import ConfigurationError, UnsafeDestinationError

if TYPE_CHECKING:
    from .emitter.guard import Guard

__all__ = ["AiohttpTransport", "environment_mounts"]

_CHUNK = 64 * 1024


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except TimeoutError:
            raise httpx.ReadTimeout("the server stopped sending") from None
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"reading the answer failed: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        # An unread answer's connection is closed, a finished one goes back to the pool.
        self._response.release()


async def _chunks(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    given = request.extensions.get("timeout") or {}
    connect, pool, read = given.get("connect"), given.get("pool"), given.get("read")
    waited = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=waited, sock_connect=connect, sock_read=read)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one shared ``aiohttp.ClientSession``.

    ``limit`` caps open connections (httpx's default pool holds 100); ``verify`` is an
    ``ssl.SSLContext`` or ``True`` (httpx's default verifying context) or ``False``;
    ``guard`` restricts the addresses it may connect to (see the module docstring).
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        verify: ssl.SSLContext | bool = True,
        guard: Guard | None = None,
        guard_hint: str = "",
    ) -> None:
        self._limit = limit
        self._guard = guard
        self._guard_hint = guard_hint
        self._origins: set[tuple[str, str, int | None]] = set()  # the guard accepted these
        self._ssl: ssl.SSLContext | bool = (
            httpx.create_ssl_context(verify=True) if verify is True else verify
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None:
            resolver = None
            if self._guard is not None:
                from .emitter.sender import GuardedResolver

                resolver = GuardedResolver(self._guard)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, limit_per_host=self._limit, ssl=self._ssl, resolver=resolver
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )
            # aiohttp resends an idempotent request once when the connection drops; the
            # engine's retry policy owns retries (their count and backoff), as over httpx.
            self._session._retry_connection = False
            self._loop = loop
        elif self._loop is not loop:
            raise ConfigurationError(
                "this AsyncConnector's connections belong to the event loop that opened them; "
                "create one AsyncConnector per event loop (or close it before the loop ends)"
            )
        return self._session

    def _check(self, url: httpx.URL) -> None:
        """The guard's verdict on the URL's origin (its text and any IP literal)."""
        assert self._guard is not None
        origin = (url.scheme, url.host, url.port)
        if origin in self._origins:
            return
        host = f"[{url.host}]" if ":" in url.host else url.host
        try:
            self._guard.validate_url(f"{url.scheme}://{host}{f':{url.port}' if url.port else ''}/")
        except UnsafeDestinationError as exc:
            raise self._refused(exc) from None
        self._origins.add(origin)

    def _refused(self, exc: UnsafeDestinationError) -> ConfigurationError:
        hint = f" ({self._guard_hint})" if self._guard_hint else ""
        return ConfigurationError(f"refused to call this address: {exc}{hint}", setting="base_url")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._guard is not None:
            self._check(request.url)
        session = self._open()
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            data: bytes | AsyncIterator[bytes] | None = request.content or None
        else:
            assert isinstance(stream, httpx.AsyncByteStream)
            data = _chunks(stream)
        host = request.url.host
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=data,
                allow_redirects=False,
                timeout=_timeout(request),
            )
        except UnsafeDestinationError as exc:  # from the guarded resolver
            raise self._refused(exc) from None
        except aiohttp.ConnectionTimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host} in time") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise httpx.ConnectError(
                f"TLS verification of {host} failed: {exc.certificate_error}"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(
                f"cannot connect to {host}: {exc.os_error.strerror or exc}"
            ) from None
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer from {host} in time") from None
        except aiohttp.ServerDisconnectedError:
            raise httpx.RemoteProtocolError(f"{host} closed the connection") from None
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"the request to {host} failed: {type(exc).__name__}") from None
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._loop = None


def environment_mounts(
    verify: ssl.SSLContext | bool = True,
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The ``mounts=`` that send what ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` cover
    (less ``NO_PROXY``) through httpx's own proxy transport, as ``trust_env`` does."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, proxy in get_environment_proxies().items():
        mounts[pattern] = (
            None if proxy is None else httpx.AsyncHTTPTransport(proxy=proxy, verify=verify)
        )
    return mounts
