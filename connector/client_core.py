"""What the sync and async clients share, with no I/O of its own: the loaded definition, the
resolved service, the retry policy and conventions, and building each request (a listing's
next link included) and reading each final answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from .auth import ClientCredentials
from .bundled import bundled_definition_path
from .definitions import Definition, Operation, Resource, load_definition
from .errors import ConfigurationError, PaginationError, StreamInterruptedError, TransportError
from .listing import _Walker
from .redaction import redact_url
from .requests import ResolvedService, build_request, origin_problem, resolve_service
from .responses import error_from_response, parse_json, shape_records
from .results import iter_jsonl
from .retry import RetryPolicy
from .templates import RenderError
from .types import JSON

__all__ = ["DEFAULT_TIMEOUT", "ClientCore", "WriteObserver"]

DEFAULT_TIMEOUT = 600.0

WriteObserver = Callable[[str, str, JSON], None]
"""Called as ``observer(handle, operation, body)`` after every successful write (non-GET call
with a JSON answer); the emitter uses it to record ``<handle>.created`` events."""


class ClientCore:
    """What both shells share: the definition, the resolved service, the policy."""

    def __init__(
        self,
        definition: Definition | str | Path | None,
        *,
        base_url: str | None,
        api_key: str | None,
        env: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        settings: Mapping[str, JSON] | None,
        max_retries: int,
        retry: RetryPolicy | None,
        on_write: WriteObserver | None,
    ) -> None:
        if definition is None:
            definition = bundled_definition_path()
        self.definition = (
            definition if isinstance(definition, Definition) else load_definition(definition)
        )
        self.service: ResolvedService = resolve_service(
            self.definition,
            base_url=base_url,
            api_key=api_key,
            env=env,
            headers=headers,
            settings=settings,
        )
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self.on_write = on_write
        self.conventions = self.definition.conventions
        self._link_template: tuple[Any, ...] | None = None

    def prepare(
        self, handle: str, operation: str, headers: Mapping[str, str] | None
    ) -> tuple[Mapping[str, str] | None, bool]:
        """The headers to send and whether a retry after an ambiguous failure is safe: an
        idempotent operation, or any call carrying the API's idempotency key (one fresh key
        per call, the same on its retries, unless the caller gave one)."""
        _, op = self.target(handle, operation)
        if op.is_idempotent:
            return headers, True
        name = self.conventions.idempotency_key_header
        if name is None:
            return headers, False
        given = {k.lower() for k in headers or {}}
        if name.lower() in given:
            return headers, True
        return {**(headers or {}), name: str(uuid.uuid4())}, True

    def probe_request(self) -> httpx.Request:
        service = self.definition.service
        base = self.service.require_base_url()
        path = ""
        if service is not None and service.probe is not None:
            try:
                probe = self.definition.compiled.service
                assert probe is not None and probe.probe is not None  # compiled with the service
                path = probe.probe.render(dict(self.service.settings))
            except RenderError as exc:
                raise ConfigurationError(
                    f"service.probe.path does not render: {exc}", setting="service.probe"
                ) from None
        url = base + path
        problem = origin_problem(base, url)
        if problem:
            raise ConfigurationError(f"service.probe.path: {problem}", setting="service.probe")
        return httpx.Request(
            "GET", url, headers=self.service.headers, params=self.service.query or None
        )

    def oauth_for(self, headers: Mapping[str, str] | None) -> ClientCredentials | None:
        """The OAuth2 grant to authorize with, unless the caller sent its own Authorization."""
        oauth = self.service.oauth
        if oauth is None or any(k.lower() == "authorization" for k in headers or {}):
            return None
        return oauth

    def delay(self, response: httpx.Response, retries: int, idempotent: bool) -> float | None:
        return self.retry.delay_after_response(
            response, retries, idempotent=idempotent, conventions=self.conventions
        )

    def walker(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None,
        *,
        raw: bool,
        max_items: int | None,
        max_pages: int | None,
        page_size: int | None,
    ) -> _Walker:
        resource, op = self.target(handle, operation)
        return _Walker(
            resource,
            op,
            params,
            raw=raw,
            max_items=max_items,
            max_pages=max_pages,
            page_size=page_size,
            origin=self.service.base_url,
            conventions=self.conventions,
        )

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
        url: str | httpx.URL | None = None,
    ) -> httpx.Request:
        if url is None:
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
        # A next link (RFC 8288) is the whole next URL: it replaces the rendered URL and query;
        # headers (authentication) stay, so it must stay under the base URL like any request.
        # A parsed URL comes from the paginator, which checked that; a string is checked here.
        if not isinstance(url, httpx.URL):
            problem = origin_problem(self.service.require_base_url(), url)
            if problem:
                raise PaginationError(f"{handle}: the next link {url}: {problem}", resource=handle)
            url = httpx.URL(url)
        if self.service.query:
            url = url.copy_merge_params(self.service.query)
        cached = self._link_template
        if cached is None or cached[:4] != (handle, operation, params, headers):
            # The headers of a listing's link pages are the same on every page: built once.
            first = build_request(
                self.definition, self.service, handle, operation, params, headers=headers, body=body
            )
            kept = [(k, v) for k, v in first.headers.multi_items() if k != "host"]
            cached = (handle, operation, params, headers, first.method, kept, first.extensions)
            self._link_template = cached
        return httpx.Request(cached[4], url, headers=cached[5], extensions=cached[6])

    def after_error(
        self,
        request: httpx.Request,
        error: httpx.TransportError,
        retries: int,
        idempotent: bool,
        answered: bool = False,
    ) -> float:
        """The delay before retrying after a failed exchange (no answer, or, ``answered``, an
        answer cut off after its headers), or the final error when it is not retried."""
        delay = self.retry.delay_after_error(error, retries, idempotent=idempotent)
        if delay is None:
            raise self.final_error(request, error, retries + 1, answered) from None
        return delay

    def final_error(
        self,
        request: httpx.Request,
        error: httpx.TransportError,
        attempts: int,
        answered: bool = False,
    ) -> TransportError:
        """A TransportError naming the operation; a StreamInterruptedError (one of them) when
        the last answer came and was cut off mid-body rather than never came."""
        url = _where(request)
        where = f"{_operation(request)}{request.method} {url}"
        tried = f"{type(error).__name__} after {attempts} attempt(s)"
        if not answered:
            return TransportError(f"{where}: {tried}: {error}", url=url, attempts=attempts)
        cut = StreamInterruptedError(
            f"{where}: the answer was cut off after its headers ({tried}): {error}", url=url
        )
        cut.attempts = attempts
        return cut

    def interrupted(self, request: httpx.Request, error: httpx.TransportError) -> TransportError:
        """The typed error for a streamed body (JSONL, a download) that broke off after the
        caller began reading it: never retried, since part of it was already handed over."""
        url = _where(request)
        return StreamInterruptedError(
            f"{_operation(request)}{request.method} {url}: the answer broke off "
            f"({type(error).__name__}: {error}); run the call again",
            url=url,
        )

    def result(
        self, resource: Resource, operation: Operation, response: httpx.Response, raw: bool
    ) -> JSON:
        """The value ``call`` returns for a read, successful, non-streamed response."""
        if response.is_error:
            raise error_from_response(response, resource.handle, operation.name, self.conventions)
        if operation.response_format == "binary":
            return response.content
        if operation.response_format == "jsonl":
            return list(iter_jsonl([response.content]))
        payload = parse_json(response, resource.handle, operation.name, self.conventions)
        if operation.method != "GET" and self.on_write is not None:
            self.on_write(resource.handle, operation.name, payload)
        return shape_records(resource, operation, payload, raw=raw, conventions=self.conventions)


def _where(request: httpx.Request) -> str:
    return redact_url(str(request.url.copy_with(query=None)))


def _operation(request: httpx.Request) -> str:
    """``handle.operation: `` for the requests the engine built (their ``connector``
    extension), so that a transport error says which call failed."""
    tag = request.extensions.get("connector")
    if isinstance(tag, dict) and "resource" in tag:
        return f"{tag['resource']}.{tag['operation']}: "
    return ""
