"""Connector (sync) and AsyncConnector (:mod:`connector.async_client`): thin I/O shells over
the pure core.

Both build requests with :mod:`connector.requests`, read responses with
:mod:`connector.responses`, and ask :class:`~connector.retry.RetryPolicy` what to do after a
failure; only sending and sleeping differ between them.

>>> from connector import Connector, load_definition
>>> with Connector(load_definition("definitions/claude-api.json")) as api:  # doctest: +SKIP
...     batch = api.call("message_batches", "read", {"batch_id": "msgbatch_..."})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx

from .auth import ClientCredentials
from .client_core import DEFAULT_TIMEOUT, ClientCore, WriteObserver
from .definitions import Definition
from .listing import Listing
from .multistep import OperationRun, hidden_handle
from .redaction import redact_url
from .requests import UNSET
from .responses import error_from_response
from .results import CHUNK_SIZE, iter_jsonl
from .retry import RetryPolicy
from .sse import EventStream, is_event_stream, opened
from .sync_transport import DeferredTLSTransport, environment_mounts
from .types import JSON

if TYPE_CHECKING:
    from .async_client import AsyncConnector

__all__ = ["AsyncConnector", "Connector", "WriteObserver"]


def __getattr__(name: str) -> object:
    # ``from connector.client import AsyncConnector`` keeps working, without making every
    # sync caller (the command line, workflows) import the async shell and anyio.
    if name == "AsyncConnector":
        from .async_client import AsyncConnector

        return AsyncConnector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Connector:
    """Calls the operations of a definition over HTTP (synchronous).

    ``base_url`` is the API origin with the official SDK's meaning (no ``/v1``) and ``api_key``
    the key; both default to the environment variables the definition's service names
    (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``). ``headers`` go on every request, over
    the service's own; ``settings`` give the connection parameters (``service.params``).
    ``transport`` takes any httpx transport,
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
        settings: Mapping[str, JSON] | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_write: WriteObserver | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
            if transport is None:  # httpx's own, its trust store loaded on first https use
                transport, mounts = DeferredTLSTransport(), environment_mounts()
            http_client = httpx.Client(
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
        url: str | httpx.URL | None = None,
    ) -> httpx.Response:
        """Send one operation with retries; return the response without raising for its status.

        With ``stream=True`` the body is not read and the caller must close the response.
        ``url`` (a next-page link) replaces the rendered URL and query.
        """
        headers, idempotent = self._core.prepare(handle, operation, headers)
        retries = 0
        oauth = self._core.oauth_for(headers)
        refreshed = False
        while True:
            request = self._core.build(handle, operation, params, headers, query, body, url)
            if oauth is not None:
                request.headers["authorization"] = "Bearer " + self._token(oauth)
            answered = False  # whether the status and headers came (then a body cut off)
            try:
                response = self._http.send(request, stream=True)
                answered = True
                if oauth is not None and response.status_code == 401 and not refreshed:
                    # The token may have been revoked or expired early: fetch one once more.
                    response.close()
                    oauth.invalidate()
                    refreshed = True
                    continue
                delay = self._core.delay(response, retries, idempotent)
                if delay is None:
                    if not stream:
                        # Inside the retry block: an answer cut off mid-body is a failed
                        # exchange like a dropped connection (retried when that is safe).
                        try:
                            response.read()
                        finally:
                            response.close()
                    return response
                response.close()
            except httpx.TransportError as exc:
                delay = self._core.after_error(request, exc, retries, idempotent, answered)
            retries += 1
            self._sleep(delay)

    def _token(self, oauth: ClientCredentials) -> str:
        token = oauth.current()
        if token is not None:
            return token
        with oauth.lock:
            token = oauth.current()
            if token is None:
                request = oauth.token_request()
                try:
                    response = self._http.send(request)
                except httpx.TransportError as exc:
                    raise self._core.final_error(request, exc, 1) from None
                token = oauth.accept(response)
        return token

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

    def run(self, handle: str, inputs: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
        """Run a top-level multi-step operation (Corteza's ``operations``): its steps in
        order, each reading the inputs and what earlier steps mapped; returns its outputs."""
        run = OperationRun(self.definition.multistep(handle), inputs or {})
        hidden = hidden_handle(handle)
        resource = self.definition.resource(hidden)
        for name, step in resource.operations.items():
            response = self.send(hidden, name, run.params(step.placeholders()))
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
    ) -> Listing:
        """A listing to iterate (items, or :meth:`Listing.pages`); afterwards its ``complete``
        and ``truncated`` say whether it reached the end or ``max_pages`` stopped it.
        ``page_size`` is sent as the paginator's page-size parameter (clamped to its
        ``maxPageSize``)."""
        walker = self._core.walker(
            handle,
            operation,
            params,
            raw=raw,
            max_items=max_items,
            max_pages=max_pages,
            page_size=page_size,
        )
        return Listing(self, walker)

    def iterate(
        self,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
        with_: str | None = None,
        concurrency: int = 4,
    ) -> Iterator[JSON]:
        """Every item of a list operation, page after page, fetched lazily (see
        :meth:`listing` to learn afterwards whether a ``max_pages`` cap cut it short).

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
        yield from self.listing(
            handle,
            operation,
            params,
            raw=raw,
            max_items=max_items,
            max_pages=max_pages,
            page_size=page_size,
        )

    def probe(self) -> httpx.Response:
        """One GET of the service's ``probe.path`` (the base URL itself without a probe), with
        the service's headers and authentication and no retry: what ``connector check`` asks."""
        request = self._core.probe_request()
        oauth = self._core.oauth_for(None)
        if oauth is not None:
            request.headers["authorization"] = "Bearer " + self._token(oauth)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise self._core.final_error(request, exc, 1) from None
        return response

    def stream_jsonl(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None
    ) -> Iterator[JSON]:
        """The objects of a JSONL response, one by one, in constant memory."""
        response = self.send(handle, operation, params, stream=True)
        try:
            self._raise_for_error(response, handle, operation)
            yield from iter_jsonl(response.iter_bytes())
        except httpx.TransportError as exc:
            raise self._core.interrupted(response.request, exc) from None
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
        return opened(response, handle, op, self._core.conventions)

    def download(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None, out: IO[bytes]
    ) -> int:
        """Write a (binary or JSONL) response body to ``out`` in chunks; return the byte count."""
        response = self.send(handle, operation, params, stream=True)
        try:
            self._raise_for_error(response, handle, operation)
            written = 0
            for chunk in response.iter_bytes(CHUNK_SIZE):
                out.write(chunk)
                written += len(chunk)
            return written
        except httpx.TransportError as exc:
            raise self._core.interrupted(response.request, exc) from None
        finally:
            response.close()

    def _raise_for_error(self, response: httpx.Response, handle: str, operation: str) -> None:
        if response.is_error:
            response.read()
            raise error_from_response(response, handle, operation, self._core.conventions)
