"""The paginator of one operation and a listing's walk through its pages, with no I/O: each
page's response (status, headers, body, items) decides the next request or the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import PaginationError
from ..selectors import Selector, SelectorSyntaxError
from ..types import JSON
from .styles import (
    CursorPagination,
    HeaderCursorPagination,
    LinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["PageRequest", "PageWalk", "Paginator", "compile_paginator"]


@dataclass(frozen=True)
class PageRequest:
    """What to ask for next: query parameters added to the operation's, or (``link``) the
    whole next URL, which replaces the rendered URL and query. ``cursor`` is the value that
    identifies the page (a repeat means the API is looping)."""

    query: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    cursor: str | None = None
    target: httpx.URL | None = field(default=None, compare=False, repr=False)
    """``url`` already parsed (a link), so the request is built without parsing it again."""


class Paginator:
    """The compiled ``pagination`` block of one operation: stateless, shared by every walk."""

    def __init__(self, spec: Pagination, selectors: dict[str, Selector]) -> None:
        self.spec = spec
        self.style = spec.type
        self.param: str | None = getattr(spec, "param", None)
        self.page_size_param = spec.page_size_param
        self.max_page_size = spec.max_page_size
        self._selectors = selectors
        """The block's selectors, compiled once (:func:`compile_paginator`)."""

    def first(self, page_size: int | None = None, *, size_param: str | None = None) -> PageRequest:
        """The first page's request: the initial value, and the page size (clamped to
        ``maxPageSize``) under ``pageSizeParam`` or else ``size_param``."""
        query: dict[str, str] = {}
        initial = getattr(self.spec, "initial", None)
        if self.param and initial is not None and not (self.style == "offset" and initial == 0):
            query[self.param] = str(initial)
        name = self.page_size_param or size_param
        if page_size is not None and name:
            if self.max_page_size is not None:
                page_size = min(page_size, self.max_page_size)
            query[name] = str(page_size)
        return PageRequest(query)

    def after(
        self,
        sent: PageRequest,
        response: httpx.Response,
        payload: JSON,
        items: list[JSON],
        *,
        origin: str | None,
        resource: str,
        size_param: str | None = None,
    ) -> PageRequest | None:
        """The next page's request, or None when ``response`` was the last page."""
        if self.style == "link":
            return self._link(response, origin, resource)
        value = self._next_value(response, payload, items, size_param)
        if value is None:
            return None
        assert self.param is not None
        query = {k: v for k, v in sent.query.items() if k != self.param}
        query[self.param] = value
        return PageRequest(query, cursor=value)

    def _next_value(
        self, response: httpx.Response, payload: JSON, items: list[JSON], size_param: str | None
    ) -> str | None:
        spec = self.spec
        if isinstance(spec, HeaderCursorPagination):
            return response.headers.get(spec.header) or None
        if isinstance(spec, OffsetPagination | PageNumberPagination):
            return self._numbered(spec, response, payload, items, size_param)
        if isinstance(spec, CursorPagination):
            more = self._selectors["hasMore"].select(payload)
            if "itemCursor" in self._selectors:
                cursor = self._selectors["itemCursor"].select(items[-1]) if items else None
            else:
                cursor = self._selectors["cursor"].select(payload)
            # As the SDK does: a missing has_more means "go on until a page comes back empty".
            if more is False or not items or cursor in (None, ""):
                return None
            return _text(cursor)
        token = self._selectors["token"].select(payload)
        return None if token in (None, "") else _text(token)

    def _link(
        self, response: httpx.Response, origin: str | None, resource: str
    ) -> PageRequest | None:
        spec = self.spec
        assert isinstance(spec, LinkPagination)
        target = response.links.get(spec.rel, {}).get("url")
        if not target:
            return None
        # An absolute link (what APIs send) is parsed once; only a relative one is resolved
        # against the page's URL (httpx's join parses both URLs twice more, then the result).
        if target.startswith(("https://", "http://")):
            url = type(response.request.url)(target)  # httpx.URL, not imported at load
        else:
            url = response.request.url.join(target)
        if origin is not None:
            problem = _outside(url, origin)
            if problem:
                raise PaginationError(
                    f"{resource}: the API's next link {problem}; refusing to follow it "
                    "(links are followed only on the base URL's origin, under its path)",
                    resource=resource,
                )
        text = str(url)
        return PageRequest(url=text, cursor=text, target=url)

    def _numbered(
        self,
        spec: OffsetPagination | PageNumberPagination,
        response: httpx.Response,
        payload: JSON,
        items: list[JSON],
        size_param: str | None,
    ) -> str | None:
        if not items:
            return None
        params = response.request.url.params
        name = self.page_size_param or size_param
        size = _int(params.get(name)) if name else None
        if size is not None and len(items) < size:
            return None  # a short page is the last one
        position = _int(params.get(spec.param))
        position = spec.initial if position is None else position
        total = self._number("total", payload)
        if isinstance(spec, OffsetPagination):
            following = position + len(items)
            if total is not None and following >= total:
                return None
            return str(following)
        pages = self._number("totalPages", payload)
        done = position - spec.initial + 1
        if pages is not None and done >= pages:
            return None
        if total is not None and size is not None and done * size >= total:
            return None
        return str(position + 1)

    def _number(self, key: str, payload: JSON) -> int | None:
        selector = self._selectors.get(key)
        return None if selector is None else _int(selector.select(payload))


_SELECTOR_ATTRS = {
    "cursor": "cursor",
    "itemCursor": "item_cursor",
    "hasMore": "has_more",
    "token": "token",
    "total": "total",
    "totalPages": "total_pages",
}


def compile_paginator(spec: Pagination) -> tuple[Paginator | None, list[tuple[str, str, JSON]]]:
    """Compile a ``pagination`` block: the paginator, or None and every (key, message, found)
    wrong with it."""
    problems: list[tuple[str, str, JSON]] = []
    selectors: dict[str, Selector] = {}
    for key, attr in _SELECTOR_ATTRS.items():
        value = getattr(spec, attr, None)
        if value is not None:
            try:
                selectors[key] = Selector(value)
            except SelectorSyntaxError as exc:
                problems.append((key, str(exc), value))
    return (None, problems) if problems else (Paginator(spec, selectors), [])


class PageWalk:
    """One listing's progress through its pages.

    ``request`` is the next page to fetch (None when done); :meth:`advance` reads a page's
    response. ``complete`` is true only when the API said this was the last page;
    ``truncated`` when ``max_pages`` stopped the walk with pages left. ``size_param`` names
    the page-size parameter when the paginator declares none (an operation without a
    ``pagination`` block, or one written before ``pageSizeParam`` existed).
    """

    def __init__(
        self,
        paginator: Paginator | None,
        *,
        resource: str,
        page_size: int | None = None,
        max_pages: int | None = None,
        origin: str | None = None,
        size_param: str | None = None,
    ) -> None:
        self.paginator = paginator
        self.resource = resource
        self.max_pages = max_pages
        self.origin = origin
        self.size_param = size_param
        self.pages = 0
        self.complete = False
        self.truncated = False
        self._seen: set[str] = set()
        self.request: PageRequest | None
        if paginator is None:
            query = {size_param: str(page_size)} if page_size and size_param else {}
            self.request = PageRequest(query)
        else:
            self.request = paginator.first(page_size, size_param=size_param)
        if max_pages is not None and max_pages <= 0:
            self.request = None
            self.truncated = True

    def advance(self, response: httpx.Response, payload: JSON, items: list[JSON]) -> None:
        """Take in the page just read; set ``request`` to the next one or finish the walk."""
        sent = self.request or PageRequest()
        self.pages += 1
        following = (
            None
            if self.paginator is None
            else self.paginator.after(
                sent,
                response,
                payload,
                items,
                origin=self.origin,
                resource=self.resource,
                size_param=self.size_param,
            )
        )
        if following is None:
            self.request = None
            self.complete = True
            return
        cursor = following.cursor
        if cursor is not None:
            if cursor in self._seen or cursor == sent.cursor:
                raise PaginationError(
                    f"{self.resource}: the API returned the cursor {_short(cursor)!r} twice; "
                    "stopping instead of looping",
                    resource=self.resource,
                    cursor=cursor,
                )
            self._seen.add(cursor)
        if self.max_pages is not None and self.pages >= self.max_pages:
            self.request = None
            self.truncated = True
            return
        self.request = following

    def stop(self) -> None:
        """The caller has what it needs (``max_items``): no more pages are asked for. The
        listing is then neither complete nor truncated by the cap."""
        self.request = None


def _origin(url: httpx.URL) -> str:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"


@lru_cache(maxsize=64)
def _base(origin: str) -> tuple[str, str, str]:
    import httpx

    url = httpx.URL(origin)
    return _origin(url), url.path.rstrip("/"), origin


def _outside(url: httpx.URL, base_url: str) -> str | None:
    """Why a next link is not under ``base_url`` (another origin, another path), or None."""
    origin, path, _ = _base(base_url)
    if _origin(url) != origin or url.userinfo:
        return f"leads to another origin ({_origin(url)})"
    if not (url.path == path or url.path.startswith(path + "/")) or "/../" in url.path + "/":
        return f"leaves the base URL's path ({url.path})"
    return None


def _text(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: JSON | None) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
