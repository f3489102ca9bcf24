"""Listings: one walk through a list operation's pages, for both shells.

``Connector.listing(...)`` gives a :class:`Listing` (``AsyncConnector.listing`` an
:class:`AsyncListing`): iterate it for the items, or :meth:`Listing.pages` for them page by
page; afterwards ``complete`` says whether the API reached the end of the listing and
``truncated`` whether ``max_pages`` stopped it first. The emitter's poller and data pulls read
these flags so that a capped or partial listing is never taken for a complete one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from typing import Protocol

import httpx

from .conventions import Rules
from .definitions import Operation, Resource
from .pagination import PageRequest, PageWalk
from .responses import error_from_response, parse_json, record_shape, select_items
from .types import JSON

__all__ = ["AsyncListing", "Listing", "page_size_parameter"]

_SIZE_FALLBACK = "limit"


def page_size_parameter(operation: Operation) -> str | None:
    """Where a page size goes: the paginator's ``pageSizeParam``, else a declared query
    placeholder named ``limit`` (the rule for definitions that declare no ``pageSizeParam``)."""
    paginator = operation.paginator
    if paginator is not None and paginator.page_size_param:
        return paginator.page_size_param
    query = operation.query_params
    if query is not None and any(p.name == _SIZE_FALLBACK for p in query.placeholders):
        return _SIZE_FALLBACK
    return None


class _Sender(Protocol):
    def send(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        query: Mapping[str, JSON] | None = None,
        url: str | httpx.URL | None = None,
    ) -> httpx.Response: ...


class _AsyncSender(Protocol):
    def send(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        query: Mapping[str, JSON] | None = None,
        url: str | httpx.URL | None = None,
    ) -> Awaitable[httpx.Response]: ...


class _Walker:
    """The state both listings share: the walk, the shaping, the ``max_items`` budget."""

    def __init__(
        self,
        resource: Resource,
        operation: Operation,
        params: Mapping[str, JSON] | None,
        *,
        raw: bool,
        max_items: int | None,
        max_pages: int | None,
        page_size: int | None,
        origin: str | None,
        conventions: Rules,
    ) -> None:
        self.conventions = conventions
        self.resource = resource
        self.operation = operation
        self.params = params
        self.shape = not raw and bool(resource.fields)
        self.remaining = max_items
        self.walk = PageWalk(
            operation.paginator,
            resource=resource.handle,
            page_size=page_size,
            max_pages=max_pages,
            origin=origin,
            size_param=page_size_parameter(operation),
        )
        if max_items is not None and max_items <= 0:
            self.walk.stop()

    @property
    def next_request(self) -> PageRequest | None:
        return self.walk.request

    def read(self, response: httpx.Response) -> list[JSON]:
        """This page's items (shaped unless raw), after moving the walk on."""
        handle, name = self.resource.handle, self.operation.name
        if response.is_error:
            raise error_from_response(response, handle, name, self.conventions)
        payload = parse_json(response, handle, name, self.conventions)
        items = select_items(self.operation, payload, self.conventions)
        self.walk.advance(response, payload, items)
        if self.remaining is not None:
            items = items[: self.remaining]
            self.remaining -= len(items)
            if self.remaining <= 0 and self.walk.request is not None:
                self.walk.stop()
        if not self.shape:
            return items
        shape = record_shape(self.resource)
        return [shape(item) if isinstance(item, dict) else item for item in items]


class _Flags:
    _walker: _Walker

    @property
    def complete(self) -> bool:
        """Whether the API said the last page read was the last one."""
        return self._walker.walk.complete

    @property
    def truncated(self) -> bool:
        """Whether ``max_pages`` stopped the walk while the API had more pages."""
        return self._walker.walk.truncated

    @property
    def pages_read(self) -> int:
        """How many pages were fetched."""
        return self._walker.walk.pages


class Listing(_Flags):
    """A synchronous listing; see the module docstring."""

    def __init__(self, sender: _Sender, walker: _Walker) -> None:
        self._sender = sender
        self._walker = walker

    def pages(self) -> Iterator[list[JSON]]:
        """The items, one list per page, fetched lazily."""
        walker = self._walker
        while (request := walker.next_request) is not None:
            response = self._sender.send(
                walker.resource.handle,
                walker.operation.name,
                walker.params,
                query=request.query,
                url=request.target or request.url,
            )
            yield walker.read(response)

    def __iter__(self) -> Iterator[JSON]:
        for page in self.pages():
            yield from page


class AsyncListing(_Flags):
    """An asynchronous listing; see the module docstring."""

    def __init__(self, sender: _AsyncSender, walker: _Walker) -> None:
        self._sender = sender
        self._walker = walker

    async def pages(self) -> AsyncIterator[list[JSON]]:
        """The items, one list per page, fetched lazily."""
        walker = self._walker
        while (request := walker.next_request) is not None:
            response = await self._sender.send(
                walker.resource.handle,
                walker.operation.name,
                walker.params,
                query=request.query,
                url=request.target or request.url,
            )
            yield walker.read(response)

    async def __aiter__(self) -> AsyncIterator[JSON]:
        async for page in self.pages():
            for item in page:
                yield item
