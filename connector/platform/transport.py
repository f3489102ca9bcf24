"""An httpx transport over aiohttp, for the service's upstream calls.

The engine speaks httpx; under many concurrent calls httpcore's pool bookkeeping costs the
service about as much CPU as the rest of a call (a profile at concurrency 32 showed a third of
the process in ``_assign_requests_to_connections``). aiohttp (already the emitter's delivery
client) keeps a cheaper pool, so the service sends through it while everything above the
transport stays httpx: retries, typed errors and streaming are the engine's own.

Bodies are streamed both ways; aiohttp does not decompress (httpx decodes ``content-encoding``
as it does for any transport) and never follows redirects; its errors become the httpx
errors the engine's retry policy knows.

With a :class:`~connector.emitter.guard.Guard` (the service's default: a tenant's connection
must not make the service call its own loopback, private or metadata addresses) every new
connection resolves through the emitter's
:class:`~connector.emitter.sender.GuardedResolver`, which refuses a host unless every address
it resolves to is allowed and hands aiohttp only the checked addresses to dial (so a second DNS
answer cannot rebind it); IP literals, which aiohttp never resolves, are checked on the URL,
once per origin. A refusal is a :class:`~connector.errors.ConfigurationError` on the
connection's ``base_url`` (409), never a connection attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

from connector.emitter.guard import Guard
from connector.emitter.sender import GuardedResolver
from connector.errors import ConfigurationError, UnsafeDestinationError

__all__ = ["AiohttpTransport"]

_CHUNK = 64 * 1024


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except TimeoutError:
            raise httpx.ReadTimeout("the upstream stopped sending") from None
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"reading the answer failed: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one shared ``aiohttp.ClientSession``."""

    def __init__(
        self,
        *,
        limit: int = 256,
        connect_timeout: float = 5.0,
        timeout: float = 600.0,
        guard: Guard | None = None,
    ) -> None:
        self._limit = limit
        self._guard = guard
        self._origins: set[tuple[str, str, int | None]] = set()  # the guard accepted these
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit,
                    limit_per_host=self._limit,
                    resolver=GuardedResolver(self._guard) if self._guard else None,
                ),
                trust_env=False,  # a proxy from the environment would resolve names itself
                auto_decompress=False,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
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
            raise _refused(exc) from None
        self._origins.add(origin)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._guard is not None:
            self._check(request.url)
        session = self._open()
        body = await request.aread()  # the service's requests are JSON (uploads are refused)
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body if body else None,
                allow_redirects=False,
            )
        except UnsafeDestinationError as exc:  # from the guarded resolver
            raise _refused(exc) from None
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no answer from {request.url.host}") from None
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(
                f"cannot connect to {request.url.host}: {exc.os_error.strerror or exc}"
            ) from None
        except aiohttp.ServerDisconnectedError:
            raise httpx.RemoteProtocolError("the upstream closed the connection") from None
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"the request failed: {type(exc).__name__}") from None
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


def _refused(exc: UnsafeDestinationError) -> ConfigurationError:
    return ConfigurationError(
        f"the service does not call this address: {exc} (an operator can allow private "
        "and loopback upstreams with `connector serve --allow-private-upstreams`)",
        setting="base_url",
    )
