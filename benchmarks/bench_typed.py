"""Typed listing benchmark (issue 11, item 4): 10,000 records shaped into typed records,
connector vs a hand-written httpx loop doing the same conversion vs dlt's
``RESTClient.paginate``, all against the same server.

    python benchmarks/bench_typed.py [--quick]     # or through benchmarks/run.py --only typed

The server (its own process, on 127.0.0.1; the GitHub-style ``Link`` listing of
``bench_pagination``, records with a timestamp, a nested owner and a count) serves pages of
1,000. The readers:

* connector: ``Connector.listing`` (typed records: the fields compiled at load by
  :mod:`connector.shaping`, ``created_at`` an aware ``datetime``);
* httpx loop: ``httpx.Client.get`` following ``response.links["next"]``, building the same
  dict per record by hand with ``datetime.fromisoformat``;
* dlt: ``RESTClient.paginate`` with the same per-record conversion.

Target: connector ≤ 1.2× the hand-written loop.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from harness import Figure, has_module, interleaved, ratios, render

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 10_000
PAGE = 1_000
DEFINITION: dict[str, Any] = {
    "service": {"baseURL": "http://127.0.0.1"},
    "resources": [
        {
            "handle": "items",
            "endpoint": "/items",
            "fields": [
                {"name": "id", "selector": ["id"]},
                {"name": "title", "selector": ["title"]},
                {"name": "created_at", "type": "DateTime", "selector": ["created_at"]},
                {"name": "owner", "selector": ["owner", "login"]},
                {"name": "comments", "type": "Integer", "selector": ["comments"]},
            ],
            "operations": {
                "list": {
                    "method": "GET",
                    "pagination": {
                        "type": "link",
                        "pageSizeParam": "per_page",
                        "maxPageSize": PAGE,
                    },
                }
            },
        }
    ],
}


def _app(records: int) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    pages: dict[tuple[int, int], bytes] = {}

    async def items(request: Request) -> Response:
        per_page = int(request.query_params.get("per_page", 30))
        page = int(request.query_params.get("page", 1))
        key = (per_page, page)
        if key not in pages:
            start = (page - 1) * per_page
            rows = [
                {
                    "id": f"item_{n:06d}",
                    "title": f"item {n}",
                    "created_at": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
                    "owner": {"login": f"user{n % 50}", "id": n % 50},
                    "comments": n % 7,
                    "labels": ["a", "b"],
                }
                for n in range(start, min(start + per_page, records))
            ]
            pages[key] = json.dumps(rows).encode()
        headers = {"content-type": "application/json"}
        if page * per_page < records:
            nxt = request.url.include_query_params(page=page + 1, per_page=per_page)
            headers["link"] = f'<{nxt}>; rel="next"'
        return Response(pages[key], headers=headers)

    return Starlette(routes=[Route("/items", items)])


def serve(records: int) -> None:
    """Child process: serve until stdin closes; print the base URL first."""
    from connector.sandbox import SandboxServer

    with SandboxServer(app=_app(records)) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


def _by_hand(item: dict[str, Any]) -> dict[str, Any]:
    """What a careful hand-written loop does per record (the same typing as the definition)."""
    owner = item.get("owner")
    return {
        "id": item.get("id"),
        "title": item.get("title"),
        "created_at": datetime.fromisoformat(item["created_at"]),
        "owner": owner.get("login") if isinstance(owner, dict) else None,
        "comments": item.get("comments"),
    }


def _readers(base_url: str) -> dict[str, Any]:
    from connector import Connector, load_definition

    document = json.loads(json.dumps(DEFINITION))
    document["service"]["baseURL"] = base_url
    api = Connector(load_definition(document))
    client = httpx.Client(headers={"accept": "application/json"})

    def connector() -> list[Any]:
        return list(api.listing("items", page_size=PAGE))

    def plain() -> list[Any]:
        records: list[Any] = []
        url: str | None = f"{base_url}/items?per_page={PAGE}"
        while url:
            response = client.get(url)
            response.raise_for_status()
            records.extend(_by_hand(item) for item in json.loads(response.content))
            url = response.links.get("next", {}).get("url")
        return records

    readers: dict[str, Any] = {"connector": connector, "httpx loop": plain}
    if has_module("dlt"):
        from dlt.sources.helpers.rest_client import RESTClient
        from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

        rest = RESTClient(base_url=base_url, paginator=HeaderLinkPaginator())

        def dlt_paginate() -> list[Any]:
            pages = rest.paginate("/items", params={"per_page": PAGE})
            return [_by_hand(item) for page in pages for item in page]

        readers["dlt RESTClient"] = dlt_paginate
    # The readers must agree, or the comparison means nothing.
    assert connector() == plain(), "connector and the hand-written loop shape records differently"
    return readers


def _seconds(read: Any, expected: int) -> Any:
    def run() -> float:
        gc.collect()  # the previous reader's 10,000 records are not this one's cost
        start = time.perf_counter()
        count = len(read())
        elapsed = time.perf_counter() - start
        assert count == expected, (count, expected)
        return elapsed

    return run


def suite(quick: bool) -> list[Figure]:
    records, rounds = (RECORDS, 5) if quick else (RECORDS, 15)
    child = subprocess.Popen(
        [sys.executable, __file__, "_serve", str(records)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        base_url = child.stdout.readline().strip()
        readers = _readers(base_url)
        samples = interleaved(
            {name: _seconds(read, records) for name, read in readers.items()}, rounds=rounds
        )
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    name = f"typed listing of {records:,} ({PAGE}/page, DateTime+nested+Integer)"
    figures = [
        Figure(
            "typed",
            f"{name}: connector / hand-written httpx loop",
            ratios(samples, "connector", "httpx loop"),
            1.2,
        )
    ]
    if "dlt RESTClient" in samples:
        figures.append(
            Figure(
                "typed",
                f"{name}: connector / dlt RESTClient.paginate",
                ratios(samples, "connector", "dlt RESTClient"),
                1.0,
            )
        )
    else:
        figures.append(
            Figure("typed", f"{name}: connector / dlt", [], 1.0, note="dlt not installed")
        )
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_serve":
        serve(int(sys.argv[2]))
    else:
        sys.path.insert(0, str(ROOT))
        render(suite("--quick" in sys.argv), title="typed listing")
