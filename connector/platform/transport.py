"""An httpx transport over aiohttp, for the service's upstream calls.

The engine speaks httpx; under many concurrent calls httpcore's pool bookkeeping costs the
service about as much CPU as the rest of a call (a profile at concurrency 32 showed a third of
the process in ``_assign_requests_to_connections``). aiohttp (already the emitter's delivery
client) keeps a cheaper pool, so the service sends through it while everything above the
transport stays httpx: retries, typed errors and streaming are the engine's own.

Bodies are streamed both ways; aiohttp does not decompress (httpx decodes ``content-encoding``
as it does for any transport) and never follows redirects; its errors become the httpx
errors the engine's retry policy knows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx

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
        self, *, limit: int = 256, connect_timeout: float = 5.0, timeout: float = 600.0
    ) -> None:
        self._limit = limit
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit),
                auto_decompress=False,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
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
