"""Pagination benchmark: a paginated pull of 10,000 records, connector vs a hand-written httpx
loop vs dlt's ``RESTClient.paginate``, all against the same server.

    python benchmarks/bench_pagination.py [--quick]     # or through benchmarks/run.py

The server (its own process, on 127.0.0.1) serves a GitHub-style listing: pages of
``per_page`` records with an RFC 8288 ``Link: <...>; rel="next"`` header, the page bodies
rendered once up front so the server is not what is measured. The three readers:

* connector: ``Connector.listing`` of a definition with ``"pagination": {"type": "link"}``
  (raw items; the records are not shaped, as neither baseline shapes them);
* httpx: ``httpx.Client.get`` following ``response.links["next"]`` and ``response.json()``;
* dlt: ``dlt.sources.helpers.rest_client.RESTClient`` with its ``HeaderLinkPaginator``.

Each reader hands on every record one by one (as a pull does), not just page lengths.

Targets: connector ≤ 1.2× the httpx loop, and faster than dlt (< 1.0×).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from harness import Figure, has_module, interleaved, ratios, render

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 10_000
PAGE = 100
DEFINITION: dict[str, Any] = {
    "service": {"baseURL": "http://127.0.0.1"},
    "resources": [
        {
            "handle": "items",
            "endpoint": "/items",
            "fields": [{"name": "id", "selector": ["id"]}],
            "operations": {
                "list": {
                    "method": "GET",
                    "pagination": {"type": "link", "pageSizeParam": "per_page", "maxPageSize": 100},
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
                {"id": n, "title": f"item {n}", "state": "open", "labels": ["a", "b"]}
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


def _readers(base_url: str) -> dict[str, Any]:
    from connector import Connector, load_definition

    document = json.loads(json.dumps(DEFINITION))
    document["service"]["baseURL"] = base_url
    api = Connector(load_definition(document))
    client = httpx.Client(headers={"accept": "application/json"})

    def connector() -> int:
        return sum(1 for _ in api.listing("items", raw=True, page_size=PAGE))

    def plain() -> int:
        count = 0
        url: str | None = f"{base_url}/items?per_page={PAGE}"
        while url:
            response = client.get(url)
            response.raise_for_status()
            for _ in response.json():  # each record, as a pull hands them on
                count += 1
            url = response.links.get("next", {}).get("url")
        return count

    readers: dict[str, Any] = {"connector": connector, "httpx loop": plain}
    if has_module("dlt"):
        from dlt.sources.helpers.rest_client import RESTClient
        from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator

        rest = RESTClient(base_url=base_url, paginator=HeaderLinkPaginator())

        def dlt_paginate() -> int:
            pages = rest.paginate("/items", params={"per_page": PAGE})
            return sum(1 for page in pages for _ in page)

        readers["dlt RESTClient"] = dlt_paginate
    return readers


def _seconds(read: Any, expected: int) -> Any:
    import time

    def run() -> float:
        start = time.perf_counter()
        count = read()
        elapsed = time.perf_counter() - start
        assert count == expected, (count, expected)
        return elapsed

    return run


def suite(quick: bool) -> list[Figure]:
    records, rounds = (2_000, 3) if quick else (RECORDS, 11)
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
    name = f"paginated pull of {records:,} (Link, {PAGE}/page)"
    figures = [
        Figure(
            "pagination",
            f"{name}: connector / httpx loop",
            ratios(samples, "connector", "httpx loop"),
            1.2,
        )
    ]
    if "dlt RESTClient" in samples:
        figures.append(
            Figure(
                "pagination",
                f"{name}: connector / dlt RESTClient.paginate",
                ratios(samples, "connector", "dlt RESTClient"),
                1.0,
            )
        )
    else:
        figures.append(
            Figure("pagination", f"{name}: connector / dlt", [], 1.0, note="dlt not installed")
        )
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_serve":
        serve(int(sys.argv[2]))
    else:
        sys.path.insert(0, str(ROOT))
        render(suite("--quick" in sys.argv), title="pagination")
