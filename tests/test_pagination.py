"""Pagination: every style, through the real Connector and a fake API that pages the way each
style's APIs do; for random datasets and page sizes each record comes back exactly once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import Connector, PaginationError, load_definition
from connector.definitions import Definition

BASE = "http://api.test/v1"

STYLES: dict[str, dict[str, Any]] = {
    "cursor": {"type": "cursor", "param": "after", "cursor": ["last_id"], "hasMore": ["more"]},
    "itemCursor": {
        "type": "cursor",
        "param": "starting_after",
        "itemCursor": ["id"],
        "hasMore": ["has_more"],
    },
    "pageToken": {"type": "pageToken", "param": "token", "token": ["next"]},
    "link": {"type": "link"},
    "offset": {"type": "offset", "param": "offset"},
    "offsetTotal": {"type": "offset", "param": "skip", "total": ["total"]},
    "pageNumber": {"type": "pageNumber", "param": "page"},
    "pageNumberTotal": {"type": "pageNumber", "param": "p", "initial": 0, "totalPages": ["pages"]},
    "headerCursor": {"type": "headerCursor", "header": "x-next-cursor", "param": "cursor"},
}


def definition(style: str, **extra: Any) -> Definition:
    pagination = {**STYLES[style], "pageSizeParam": "size", **extra}
    return load_definition(
        {
            "service": {"baseURL": BASE},
            "resources": [
                {
                    "handle": "items",
                    "endpoint": "/items",
                    "fields": [{"name": "id", "selector": ["id"]}],
                    "operations": {
                        "list": {"method": "GET", "records": ["items"], "pagination": pagination}
                    },
                }
            ],
        }
    )


class FakeAPI:
    """Serves ``records`` in pages of the requested size (or ``default_size``), the way an API
    of ``style`` does. Counts requests; ``link_origin`` puts next links on another origin."""

    def __init__(self, style: str, records: list[str], default_size: int = 5) -> None:
        self.style = style
        self.records = records
        self.default_size = default_size
        self.requests: list[httpx.Request] = []
        self.link_origin: str | None = None
        self.relative_links = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        q = request.url.params
        size = int(q.get("size", self.default_size))
        start = self._start(q, size)
        page = self.records[start : start + size]
        rest = start + size < len(self.records)
        body: dict[str, Any] = {"items": [{"id": r} for r in page]}
        headers: dict[str, str] = {}
        style = self.style
        if style == "cursor":
            body.update(more=rest, last_id=page[-1] if page else None)
        elif style == "itemCursor":
            body["has_more"] = rest
        elif style == "pageToken":
            body["next"] = f"t{start + size}" if rest else None
        elif style == "link" and rest:
            nxt = f"/v1/items?at={start + size}&size={size}"
            if not self.relative_links:
                nxt = (self.link_origin or "http://api.test") + nxt
            headers["link"] = f'<{nxt}>; rel="next", <http://api.test/v1/items>; rel="first"'
        elif style == "offsetTotal":
            body["total"] = len(self.records)
        elif style == "pageNumberTotal":
            body["pages"] = max(1, -(-len(self.records) // size))
        elif style == "headerCursor" and rest:
            headers["x-next-cursor"] = f"c{start + size}"
        return httpx.Response(200, json=body, headers=headers)

    def _start(self, q: httpx.QueryParams, size: int) -> int:
        style = self.style
        if style == "cursor" and "after" in q:
            return self.records.index(q["after"]) + 1
        if style == "itemCursor" and "starting_after" in q:
            return self.records.index(q["starting_after"]) + 1
        if style == "pageToken" and "token" in q:
            return int(q["token"][1:])
        if style == "link" and "at" in q:
            return int(q["at"])
        if style == "offset":
            return int(q.get("offset", 0))
        if style == "offsetTotal":
            return int(q.get("skip", 0))
        if style == "pageNumber":
            return (int(q.get("page", 1)) - 1) * size
        if style == "pageNumberTotal":
            return int(q.get("p", 0)) * size
        if style == "headerCursor" and "cursor" in q:
            return int(q["cursor"][1:])
        return 0


def listing(api: FakeAPI, style: str, **options: Any) -> tuple[list[str], Any]:
    with Connector(definition(style), transport=httpx.MockTransport(api)) as client:
        walk = client.listing("items", raw=True, **options)
        ids = [item["id"] for item in walk]
    return ids, walk


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    style=st.sampled_from(sorted(STYLES)),
    count=st.integers(0, 40),
    size=st.integers(1, 9),
    relative=st.booleans(),
)
def test_every_style_yields_each_record_exactly_once(
    style: str, count: int, size: int, relative: bool
) -> None:
    records = [f"r{i:03}" for i in range(count)]
    api = FakeAPI(style, records)
    api.relative_links = relative
    ids, walk = listing(api, style, page_size=size)
    assert ids == records
    assert walk.complete and not walk.truncated
    # No style asks for more than one page past the data (an empty last page at most).
    assert len(api.requests) <= count // size + 1


@pytest.mark.parametrize("style", sorted(STYLES))
def test_max_pages_truncates_and_says_so(style: str) -> None:
    records = [f"r{i:03}" for i in range(20)]
    api = FakeAPI(style, records)
    ids, walk = listing(api, style, page_size=3, max_pages=2)
    assert ids == records[:6]
    assert walk.truncated and not walk.complete
    assert walk.pages_read == 2 and len(api.requests) == 2


def test_a_cap_that_is_not_reached_is_not_a_truncation() -> None:
    api = FakeAPI("offsetTotal", ["a", "b", "c"])
    ids, walk = listing(api, "offsetTotal", page_size=3, max_pages=1)
    assert ids == ["a", "b", "c"] and walk.complete and not walk.truncated


def test_max_items_stops_early_without_claiming_completeness() -> None:
    api = FakeAPI("cursor", [f"r{i}" for i in range(10)])
    ids, walk = listing(api, "cursor", page_size=4, max_items=5)
    assert ids == ["r0", "r1", "r2", "r3", "r4"]
    assert not walk.complete and not walk.truncated and len(api.requests) == 2


def test_page_size_is_clamped_to_max_page_size() -> None:
    api = FakeAPI("offset", [str(i) for i in range(7)])
    with Connector(
        definition("offset", maxPageSize=3), transport=httpx.MockTransport(api)
    ) as client:
        assert len(list(client.iterate("items", raw=True, page_size=1000))) == 7
    assert [r.url.params["size"] for r in api.requests] == ["3", "3", "3"]


def test_link_to_another_origin_is_refused() -> None:
    api = FakeAPI("link", [str(i) for i in range(10)])
    api.link_origin = "http://elsewhere.test"
    with Connector(definition("link"), transport=httpx.MockTransport(api)) as client:
        with pytest.raises(PaginationError, match="another origin"):
            list(client.iterate("items", page_size=4))
    assert len(api.requests) == 1


def test_link_pages_keep_the_headers_and_drop_nothing() -> None:
    api = FakeAPI("link", [str(i) for i in range(5)])
    document = definition("link")
    with Connector(
        document, transport=httpx.MockTransport(api), headers={"authorization": "Bearer t"}
    ) as client:
        assert len(list(client.iterate("items", page_size=2))) == 5
    assert all(r.headers["authorization"] == "Bearer t" for r in api.requests)
    assert str(api.requests[1].url) == "http://api.test/v1/items?at=2&size=2"


def test_a_header_cursor_that_repeats_is_a_pagination_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [{"id": 1}]}, headers={"x-next-cursor": "same"})

    with Connector(definition("headerCursor"), transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(PaginationError) as caught:
            list(client.iterate("items"))
    assert caught.value.cursor == "same"


def test_unknown_style_and_bad_selector_are_located() -> None:
    from connector import DefinitionError

    with pytest.raises(DefinitionError) as caught:
        definition("offset", total="items.total")
    assert "operations.list.pagination.total" in str(caught.value)
