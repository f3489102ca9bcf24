"""AsyncConnector: the asynchronous shell over the pure core, the twin of
:class:`connector.client.Connector` (the same arguments, awaitable methods).

It differs from the sync shell only in the lines that send, stream and sleep; building
requests, reading answers and the retry decisions are :mod:`connector.client_core`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

import anyio
import httpx

from .auth import ClientCredentials
from .client_core import DEFAULT_TIMEOUT, ClientCore, WriteObserver
from .definitions import Definition
from .errors import ConfigurationError
from .listing import AsyncListing
from .multistep import OperationRun, hidden_handle
from .redaction import redact_url
from .requests import UNSET
from .responses import error_from_response
from .results import aiter_jsonl
from .retry import RetryPolicy
from .sse import AsyncEventStream, aopened, is_event_stream
from .types import JSON

__all__ = ["AsyncConnector"]


class AsyncConnector:
    """The asynchronous twin of :class:`~connector.client.Connector`: the same arguments, awaitable methods.

    Its connections go through :class:`connector.transport.AiohttpTransport` (httpx above it,
    aiohttp's cheaper pool below: the fastest client measured at concurrency, see
    ``docs/engine.md``) unless ``transport`` or ``http_client`` is given, or ``http="httpx"``
    picks httpx's own transport. Proxies from the environment are honoured either way.
    """

    def __init__(
        self,
        definition: Definition | str | Path | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        settings: Mapping[str, JSON] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_write: WriteObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        http: Literal["aiohttp", "httpx"] = "aiohttp",
    ) -> None:
        self._core = ClientCore(
            definition,
            base_url=base_url,
            api_key=api_key,
            env=env,
            headers=headers,
            settings=settings,
            max_retries=max_retries,
            retry=retry,
            on_write=on_write,
        )
        self._owns_client = http_client is None
        if http_client is None:
            mounts = None
            if transport is None and http == "aiohttp":
                from .transport import AiohttpTransport, environment_mounts

                transport, mounts = AiohttpTransport(), environment_mounts()
            elif http not in ("aiohttp", "httpx"):
                raise ConfigurationError(
                    f"http={http!r}: choose 'aiohttp' (the default) or 'httpx'", setting="http"
                )
            http_client = httpx.AsyncClient(
                transport=transport,
                mounts=mounts,
                timeout=httpx.Timeout(timeout, connect=5.0),
                follow_redirects=False,
            )
        self._http = http_client
        self._sleep = sleep

    @property
    def definition(self) -> Definition:
        """The loaded definition."""
        return self._core.definition

    async def __aenter__(self) -> AsyncConnector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections this connector opened."""
        if self._owns_client:
            await self._http.aclose()

    def __repr__(self) -> str:
        return f"<AsyncConnector {redact_url(self._core.service.base_url or '<no base URL>')}>"

    async def send(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, JSON] | None = None,
        body: JSON = UNSET,
        stream: bool = False,
        url: str | httpx.URL | None = None,
    ) -> httpx.Response:
        """See :meth:`Connector.send`."""
        headers, idempotent = self._core.prepare(handle, operation, headers)
        retries = 0
        oauth = self._core.oauth_for(headers)
        refreshed = False
        while True:
            request = self._core.build(handle, operation, params, headers, query, body, url)
            if oauth is not None:
                request.headers["authorization"] = "Bearer " + await self._token(oauth)
            answered = False  # whether the status and headers came (then a body cut off)
            try:
                response = await self._http.send(request, stream=True)
                answered = True
                if oauth is not None and response.status_code == 401 and not refreshed:
                    await response.aclose()
                    oauth.invalidate()
                    refreshed = True
                    continue
                delay = self._core.delay(response, retries, idempotent)
                if delay is None:
                    if not stream:
                        # Inside the retry block, as in Connector.send: a body cut off midway.
                        try:
                            await response.aread()
                        finally:
                            await response.aclose()
                    return response
                await response.aclose()
            except httpx.TransportError as exc:
                delay = self._core.after_error(request, exc, retries, idempotent, answered)
            retries += 1
            await self._sleep(delay)

    async def _token(self, oauth: ClientCredentials) -> str:
        token = oauth.current()
        if token is not None:
            return token
        request = oauth.token_request()
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise self._core.final_error(request, exc, 1) from None
        return oauth.accept(response)

    async def call(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        headers: Mapping[str, str] | None = None,
        body: JSON = UNSET,
    ) -> JSON:
        """See :meth:`Connector.call`."""
        resource, op = self._core.target(handle, operation)
        if op.response_format == "sse":
            async with await self.stream(
                handle, operation, params, headers=headers, body=body
            ) as s:
                return await s.final()
        response = await self.send(handle, operation, params, headers=headers, body=body)
        return self._core.result(resource, op, response, raw)

    async def run(self, handle: str, inputs: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
        """See :meth:`Connector.run`."""
        run = OperationRun(self.definition.multistep(handle), inputs or {})
        hidden = hidden_handle(handle)
        resource = self.definition.resource(hidden)
        for name, step in resource.operations.items():
            response = await self.send(hidden, name, run.params(step.placeholders()))
            run.take(self._core.result(resource, step, response, True), step.compiled.response_map)
        return run.outputs()

    def listing(
        self,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
    ) -> AsyncListing:
        """See :meth:`Connector.listing`."""
        walker = self._core.walker(
            handle,
            operation,
            params,
            raw=raw,
            max_items=max_items,
            max_pages=max_pages,
            page_size=page_size,
        )
        return AsyncListing(self, walker)

    async def iterate(
        self,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[JSON]:
        """See :meth:`Connector.iterate`."""
        listing = self.listing(
            handle,
            operation,
            params,
            raw=raw,
            max_items=max_items,
            max_pages=max_pages,
            page_size=page_size,
        )
        async for item in listing:
            yield item

    async def stream(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body: JSON = UNSET,
    ) -> AsyncEventStream:
        """See :meth:`Connector.stream` (``async for`` the events, ``await .final()``)."""
        _, op = self._core.target(handle, operation)
        response = await self.send(
            handle, operation, params, headers=headers, body=body, stream=True
        )
        if response.is_error or not is_event_stream(response):
            try:
                await response.aread()
            finally:
                await response.aclose()
        return aopened(response, handle, op, self._core.conventions)

    async def stream_jsonl(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None
    ) -> AsyncIterator[JSON]:
        """See :meth:`Connector.stream_jsonl`."""
        response = await self.send(handle, operation, params, stream=True)
        try:
            if response.is_error:
                await response.aread()
                raise error_from_response(response, handle, operation, self._core.conventions)
            async for item in aiter_jsonl(response.aiter_bytes()):
                yield item
        except httpx.TransportError as exc:
            raise self._core.interrupted(response.request, exc) from None
        finally:
            await response.aclose()
