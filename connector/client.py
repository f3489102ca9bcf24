"""Connector (sync) and AsyncConnector: thin I/O shells over the pure core.

Both build requests with :mod:`connector.requests`, read responses with
:mod:`connector.responses`, and ask :class:`~connector.retry.RetryPolicy` what to do after a
failure; only sending and sleeping differ between them.

>>> from connector import Connector, load_definition
>>> with Connector(load_definition("definitions/claude-api.json")) as api:  # doctest: +SKIP
...     batch = api.call("message_batches", "read", {"batch_id": "msgbatch_..."})
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import anyio
import httpx

from .definitions import Definition, Operation, Resource, load_definition
from .errors import TransportError
from .redaction import redact_url
from .requests import UNSET, ResolvedService, build_request, resolve_service
from .responses import (
    PageState,
    error_from_response,
    extract_record,
    parse_json,
    select_items,
    shape_records,
)
from .results import CHUNK_SIZE, aiter_jsonl, iter_jsonl
from .retry import RetryPolicy
from .sse import AsyncEventStream, EventStream, aopened, is_event_stream, opened
from .types import JSON

__all__ = ["AsyncConnector", "Connector", "WriteObserver"]

WriteObserver = Callable[[str, str, JSON], None]
"""Called as ``observer(handle, operation, body)`` after every successful write (non-GET call
with a JSON answer); the emitter uses it to record ``<handle>.created`` events."""

DEFAULT_TIMEOUT = 600.0


class _Listing:
    """One walk through a list operation's pages; both shells feed it responses.

    ``query`` is the next page's parameters (``{}`` for the first, None when done) and
    ``read(response)`` gives that page's items, shaped, up to ``max_items`` in all.
    """

    def __init__(
        self, resource: Resource, operation: Operation, raw: bool, max_items: int | None
    ) -> None:
        self.resource = resource
        self.operation = operation
        self.shape = not raw and bool(resource.fields)
        self.remaining = max_items
        self.pages = PageState(operation, resource.handle)
        self.query: dict[str, str] | None = {} if max_items is None or max_items > 0 else None

    def read(self, response: httpx.Response) -> list[JSON]:
        if response.is_error:
            raise error_from_response(response, self.resource.handle, self.operation.name)
        payload = parse_json(response, self.resource.handle, self.operation.name)
        items = select_items(self.operation, payload)
        self.query = self.pages.next_query(payload, items)
        if self.remaining is not None:
            items = items[: self.remaining]
            self.remaining -= len(items)
            if self.remaining <= 0:
                self.query = None
        if not self.shape:
            return items
        fields = self.resource.fields
        return [extract_record(fields, item) if isinstance(item, dict) else item for item in items]


class _Core:
    """What both shells share: the definition, the resolved service, the policy."""

    def __init__(
        self,
        definition: Definition | str | Path | None,
        *,
        base_url: str | None,
        api_key: str | None,
        env: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        max_retries: int,
        retry: RetryPolicy | None,
        on_write: WriteObserver | None,
    ) -> None:
        if definition is None:
            from .settings import bundled_definition_path

            definition = bundled_definition_path()
        self.definition = (
            definition if isinstance(definition, Definition) else load_definition(definition)
        )
        self.service: ResolvedService = resolve_service(
            self.definition, base_url=base_url, api_key=api_key, env=env, headers=headers
        )
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self.on_write = on_write

    def listing(self, handle: str, operation: str, raw: bool, max_items: int | None) -> _Listing:
        resource, op = self.target(handle, operation)
        return _Listing(resource, op, raw, max_items)

    def target(self, handle: str, operation: str) -> tuple[Resource, Operation]:
        resource = self.definition.resource(handle)
        return resource, resource.operation(operation)

    def build(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None,
        headers: Mapping[str, str] | None,
        query: Mapping[str, JSON] | None,
        body: JSON,
    ) -> httpx.Request:
        return build_request(
            self.definition,
            self.service,
            handle,
            operation,
            params,
            headers=headers,
            query=query,
            body=body,
        )

    def final_error(
        self, request: httpx.Request, error: httpx.TransportError, attempts: int
    ) -> TransportError:
        url = redact_url(str(request.url.copy_with(query=None)))
        kind = type(error).__name__
        return TransportError(
            f"{request.method} {url}: {kind} after {attempts} attempt(s): {error}",
            url=url,
            attempts=attempts,
        )

    def result(
        self, resource: Resource, operation: Operation, response: httpx.Response, raw: bool
    ) -> JSON:
        """The value ``call`` returns for a read, successful, non-streamed response."""
        if response.is_error:
            raise error_from_response(response, resource.handle, operation.name)
        if operation.response_format == "binary":
            return response.content
        if operation.response_format == "jsonl":
            return list(iter_jsonl([response.content]))
        payload = parse_json(response, resource.handle, operation.name)
        if operation.method != "GET" and self.on_write is not None:
            self.on_write(resource.handle, operation.name, payload)
        return shape_records(resource, operation, payload, raw=raw)


class Connector:
    """Calls the operations of a definition over HTTP (synchronous).

    ``base_url`` is the API origin with the official SDK's meaning (no ``/v1``) and ``api_key``
    the key; both default to the environment variables the definition's service names
    (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``). ``headers`` go on every request, over
    the service's own. ``transport`` takes any httpx transport,
    e.g. ``httpx.ASGITransport(app)`` to talk to the sandbox in process.
    """

    def __init__(
        self,
        definition: Definition | str | Path | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_write: WriteObserver | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = _Core(
            definition,
            base_url=base_url,
            api_key=api_key,
            env=env,
            headers=headers,
            max_retries=max_retries,
            retry=retry,
            on_write=on_write,
        )
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout, connect=5.0), follow_redirects=False
        )
        self._sleep = sleep

    @property
    def definition(self) -> Definition:
        """The loaded definition."""
        return self._core.definition

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections this connector opened."""
        if self._owns_client:
            self._http.close()

    def __repr__(self) -> str:
        return f"<Connector {redact_url(self._core.service.base_url or '<no base URL>')}>"

    def send(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, JSON] | None = None,
        body: JSON = UNSET,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one operation with retries; return the response without raising for its status.

        With ``stream=True`` the body is not read and the caller must close the response.
        """
        _, op = self._core.target(handle, operation)
        idempotent = op.is_idempotent
        retries = 0
        while True:
            request = self._core.build(handle, operation, params, headers, query, body)
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                delay = self._core.retry.delay_after_error(exc, retries, idempotent=idempotent)
                if delay is None:
                    raise self._core.final_error(request, exc, retries + 1) from None
            else:
                delay = self._core.retry.delay_after_response(
                    response, retries, idempotent=idempotent
                )
                if delay is None:
                    if not stream:
                        try:
                            response.read()
                        finally:
                            response.close()
                    return response
                response.close()
            retries += 1
            self._sleep(delay)

    def call(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        headers: Mapping[str, str] | None = None,
        body: JSON = UNSET,
    ) -> JSON:
        """Call one operation: records shaped by the resource's fields, or the raw JSON.

        Raises the typed UpstreamError for an error status, InputError for bad params.
        """
        resource, op = self._core.target(handle, operation)
        if op.response_format == "sse":  # the events folded into the final object
            with self.stream(handle, operation, params, headers=headers, body=body) as events:
                return events.final()
        response = self.send(handle, operation, params, headers=headers, body=body)
        return self._core.result(resource, op, response, raw)

    def iterate(
        self,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
        with_: str | None = None,
        concurrency: int = 4,
    ) -> Iterator[JSON]:
        """Every item of a list operation, page after page, fetched lazily.

        ``with_`` names a child the resource declares (``results``): the children of each
        listed record instead, ``concurrency`` parents at a time (:mod:`connector.pulls`).
        """
        if with_ is not None:
            from .pulls.fanout import iterate_children

            yield from iterate_children(
                self,
                handle,
                operation,
                params,
                with_,
                concurrency=concurrency,
                raw=raw,
                max_items=max_items,
            )
            return
        listing = self._core.listing(handle, operation, raw, max_items)
        while listing.query is not None:
            response = self.send(handle, operation, params, query=listing.query)
            yield from listing.read(response)

    def stream_jsonl(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None
    ) -> Iterator[JSON]:
        """The objects of a JSONL response, one by one, in constant memory."""
        response = self.send(handle, operation, params, stream=True)
        try:
            if response.is_error:
                response.read()
                raise error_from_response(response, handle, operation)
            yield from iter_jsonl(response.iter_bytes())
        finally:
            response.close()

    def stream(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body: JSON = UNSET,
    ) -> EventStream:
        """The server-sent events of an ``sse`` operation; ``.final()`` accumulates the final
        object (:mod:`connector.sse`). Close the stream, or use it in a ``with``."""
        _, op = self._core.target(handle, operation)
        response = self.send(handle, operation, params, headers=headers, body=body, stream=True)
        if response.is_error or not is_event_stream(response):
            try:
                response.read()
            finally:
                response.close()
        return opened(response, handle, op)

    def download(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None, out: IO[bytes]
    ) -> int:
        """Write a (binary or JSONL) response body to ``out`` in chunks; return the byte count."""
        response = self.send(handle, operation, params, stream=True)
        try:
            if response.is_error:
                response.read()
                raise error_from_response(response, handle, operation)
            written = 0
            for chunk in response.iter_bytes(CHUNK_SIZE):
                out.write(chunk)
                written += len(chunk)
            return written
        finally:
            response.close()


class AsyncConnector:
    """The asynchronous twin of :class:`Connector`: the same arguments, awaitable methods."""

    def __init__(
        self,
        definition: Definition | str | Path | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_write: WriteObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._core = _Core(
            definition,
            base_url=base_url,
            api_key=api_key,
            env=env,
            headers=headers,
            max_retries=max_retries,
            retry=retry,
            on_write=on_write,
        )
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=5.0), follow_redirects=False
        )
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
    ) -> httpx.Response:
        """See :meth:`Connector.send`."""
        _, op = self._core.target(handle, operation)
        idempotent = op.is_idempotent
        retries = 0
        while True:
            request = self._core.build(handle, operation, params, headers, query, body)
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                delay = self._core.retry.delay_after_error(exc, retries, idempotent=idempotent)
                if delay is None:
                    raise self._core.final_error(request, exc, retries + 1) from None
            else:
                delay = self._core.retry.delay_after_response(
                    response, retries, idempotent=idempotent
                )
                if delay is None:
                    if not stream:
                        try:
                            await response.aread()
                        finally:
                            await response.aclose()
                    return response
                await response.aclose()
            retries += 1
            await self._sleep(delay)

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

    async def iterate(
        self,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
    ) -> AsyncIterator[JSON]:
        """See :meth:`Connector.iterate`."""
        listing = self._core.listing(handle, operation, raw, max_items)
        while listing.query is not None:
            response = await self.send(handle, operation, params, query=listing.query)
            for item in listing.read(response):
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
        return aopened(response, handle, op)

    async def stream_jsonl(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None
    ) -> AsyncIterator[JSON]:
        """See :meth:`Connector.stream_jsonl`."""
        response = await self.send(handle, operation, params, stream=True)
        try:
            if response.is_error:
                await response.aread()
                raise error_from_response(response, handle, operation)
            async for item in aiter_jsonl(response.aiter_bytes()):
                yield item
        finally:
            await response.aclose()
