"""Pagination, in one place: the ``pagination`` block of a list operation and the paginator
that walks its pages.

Every style decides the next request from the response (status line, headers, body, items) and
says whether the listing reached its end. The styles (``docs/definitions.md``):

``cursor``
    a cursor in the body (``cursor``, or ``itemCursor`` read from the last item, as Stripe's
    ``starting_after``) sent as ``param`` while ``hasMore`` is true;
``pageToken``
    an opaque token in the body sent as ``param`` until it is null or empty;
``link``
    RFC 8288 ``Link: <...>; rel="next"``, followed only on the base URL's origin;
``offset``
    ``param`` = items seen so far; stops on an empty or short page, or at a declared ``total``;
``pageNumber``
    ``param`` = 1, 2, 3 ...; the same stops (``total`` items or ``totalPages``);
``headerCursor``
    a cursor in a response header (``header``) sent as ``param`` until the header is absent.

Each takes its parameter name, an optional ``initial`` value, a ``pageSizeParam`` and a
``maxPageSize`` (what a caller asking for "the largest page" gets). A :class:`PageWalk` holds
one listing's progress: the next page to ask for, whether the end was reached (``complete``) or
a page cap stopped it first (``truncated``) - a cap is never mistaken for the end.
"""

from .styles import (
    SELECTOR_KEYS,
    STYLES,
    CursorPagination,
    HeaderCursorPagination,
    LinkPagination,
    OffsetPagination,
    PageNumberPagination,
    PageTokenPagination,
    Pagination,
)
from .walk import PageRequest, PageWalk, Paginator, compile_paginator

__all__ = [
    "SELECTOR_KEYS",
    "STYLES",
    "CursorPagination",
    "HeaderCursorPagination",
    "LinkPagination",
    "OffsetPagination",
    "PageNumberPagination",
    "PageRequest",
    "PageTokenPagination",
    "PageWalk",
    "Pagination",
    "Paginator",
    "compile_paginator",
]
