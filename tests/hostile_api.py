"""A hostile API for the emitter's robustness tests: starlette routes that answer, as raw
JSON text, what a real API could send (lone surrogate escapes, 5,000-digit integers, deep
nesting, huge strings, numbers beyond a float), served on 127.0.0.1 by ``SandboxServer``."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CREATED = "2026-01-01T00:00:00Z"


def file_json(file_id: str, name_json: str, created_json: str = f'"{CREATED}"') -> str:
    """One files record as JSON text; ``name_json`` and ``created_json`` are already JSON."""
    return (
        f'{{"id":"{file_id}","type":"file","file_name":{name_json},"purpose":"user_data",'
        f'"mime_type":"text/plain","size_bytes":1,"created_at":{created_json},"downloadable":false}}'
    )


# (id JSON text, a JSON value, what the emitter must do with it): the value is the record's
# file_name, except for file_infinite, whose created_at it is (a String field turns a number
# into its text, so the number JSON cannot write, 1e999 read as infinity, goes in the
# DateTime field, which keeps what it cannot read).
POISON_FILES: list[tuple[str, str, str]] = [
    ("file_plain", '"plain.txt"', "sent"),
    ("file_surrogate", '"\\ud800.txt"', "sent"),
    ("file_bigint", "1" * 5000, "sent"),
    ("file_deep", "[" * 300 + "]" * 300, "sent"),
    ("file_huge", '"' + "x" * 2_000_000 + '"', "sent"),
    ("file_nanlike", '"NaN"', "sent"),
    ("file_infinite", "1e999", "quarantined"),
    ("file_\\udc00", '"bad id.txt"', "quarantined"),
]


def poison_listing() -> list[str]:
    """The records of :data:`POISON_FILES` as JSON texts."""
    return [
        file_json(i, '"infinite.txt"', value) if i == "file_infinite" else file_json(i, value)
        for i, value, _ in POISON_FILES
    ]


def hostile_api(files: Callable[[], list[str]], message_json: str = "") -> Starlette:
    """``GET /v1/files`` lists ``files()`` (JSON texts); ``POST /v1/messages`` answers
    ``message_json``."""

    async def list_files(request: Request) -> Response:
        body = '{"data":[' + ",".join(files()) + '],"has_more":false,"next_page":null}'
        return Response(body, media_type="application/json", headers={"request-id": "req_1"})

    async def read_file(request: Request) -> Response:
        body = '{"type":"error","error":{"type":"not_found_error","message":"gone"}}'
        return Response(body, status_code=404, media_type="application/json")

    async def create_message(request: Request) -> Response:
        await request.body()
        return Response(message_json, media_type="application/json")

    async def empty_list(request: Request) -> Response:
        return Response('{"data":[],"has_more":false}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v1/files", list_files),
            Route("/v1/files/{file_id}", read_file),
            Route("/v1/messages", create_message, methods=["POST"]),
            Route("/v1/{other:path}", empty_list),
        ]
    )
