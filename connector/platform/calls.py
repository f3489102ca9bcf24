"""``POST /v1/connections/{c}/resources/{r}/operations/{o}``: run any operation of a connection.

The body is the JSON object of inputs (the operation's placeholders, as its form schema
says). What comes back depends on the operation:

* a JSON operation: its records shaped by the resource's fields (``?raw=true``: the API's
  whole answer), as JSON;
* a paginated list: every item of every page as NDJSON (``application/x-ndjson``), fetched
  page by page only as fast as the client reads (``?max_items=N`` stops early). An error on
  the first page is a problem document; one after the stream began ends it with a last line
  ``{"error": <problem>}``;
* a JSONL or binary answer: the upstream body streamed through in chunks, constant memory
  (if the upstream breaks off, so does the answer: see :class:`~connector.platform.problems.BrokenAnswer`);
* a server-sent-events operation (``messages.stream``): the final object folded from the
  events, as ``call`` gives it; with ``?stream=true`` each event as it comes, one NDJSON line
  ``{"event": name, "data": ...}`` each.

Upstream errors are RFC 9457 problems (502, carrying the upstream status, type, message and
request id); input errors are 422s listing every problem with its location.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from connector.answers import Answer, answer_for
from connector.client import AsyncConnector
from connector.errors import ConnectorError, InputError, InputProblem
from connector.platform.bodies import read_json
from connector.platform.connections import find_connection, runtime_of
from connector.platform.problems import (
    BrokenAnswer,
    HTTPProblem,
    JSONAnswer,
    dumps,
    from_error,
)
from connector.responses import error_from_response
from connector.types import JSON

__all__ = ["NDJSON", "call_routes"]

NDJSON = "application/x-ndjson"
_CHUNK = 64 * 1024
_FLUSH = 32 * 1024


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise HTTPProblem(
            422,
            "invalid-input",
            f"?{name} is true or false",
            errors=[{"location": f"?{name}", "message": "expected true or false"}],
        )
    return value in ("true", "1")


def _max_items(request: Request) -> int | None:
    text = request.query_params.get("max_items")
    if text is None:
        return None
    if not text.isdigit():
        raise HTTPProblem(
            422,
            "invalid-input",
            "?max_items is a whole number",
            errors=[{"location": "?max_items", "message": "expected a whole number"}],
        )
    return int(text)


def _line(value: JSON) -> bytes:
    return (dumps(value) + "\n").encode("utf-8")


async def call_operation(request: Request) -> Response:
    runtime = runtime_of(request)
    connection = find_connection(request)
    handle = request.path_params["resource"]
    name = request.path_params["operation"]
    definition = runtime.definitions.get(connection.definition)
    if definition is None:
        raise HTTPProblem(
            409, "connection-configuration", "the connection's definition is not loaded"
        )
    resource = definition.resource(handle)
    operation = resource.operation(name)
    if operation.multipart is not None:
        # A file part names a path on the host: never offered to remote callers.
        raise HTTPProblem(
            422,
            "unsupported-operation",
            "uploads name files on the service's host and are not offered over HTTP",
        )
    raw = _flag(request, "raw")
    limit = _max_items(request)
    inputs = await read_json(request, empty={})
    if not isinstance(inputs, dict):
        raise InputError([InputProblem("", "the body is a JSON object of inputs")])
    connector = await runtime.connector(connection)
    answer = answer_for(
        operation, events=_flag(request, "stream"), jsonl_as_bytes=True, every_page=True
    )
    if answer is Answer.PAGES:
        return await _stream_pages(connector, handle, name, inputs, raw, limit)
    if answer is Answer.BYTES:
        return await _pass_through(connector, handle, name, inputs, operation.response_format)
    if answer is Answer.EVENTS:
        return await _events(connector, handle, name, inputs)
    result = await connector.call(handle, name, inputs, raw=raw)
    return JSONAnswer(result)


async def _stream_pages(
    connector: AsyncConnector,
    handle: str,
    name: str,
    inputs: dict[str, JSON],
    raw: bool,
    limit: int | None,
) -> Response:
    items = connector.iterate(handle, name, inputs, raw=raw, max_items=limit)
    # The first page is read before answering, so its errors are proper problem documents.
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return Response(b"", media_type=NDJSON)

    async def body() -> AsyncIterator[bytes]:
        # Lines go out in chunks of ~32 KiB rather than one write per record (a socket write
        # costs more than a record's JSON); a chunk waits for the reader like a line did.
        chunk = [_line(first)]
        size = len(chunk[0])
        try:
            async for item in items:
                line = _line(item)
                chunk.append(line)
                size += len(line)
                if size >= _FLUSH:
                    yield b"".join(chunk)
                    chunk, size = [], 0
        except ConnectorError as exc:  # a page cut off too: the engine's typed error
            chunk.append(_line({"error": json.loads(bytes(from_error(exc).body))}))
        finally:
            await items.aclose()  # type: ignore[attr-defined]
        if chunk:
            yield b"".join(chunk)

    return StreamingResponse(body(), media_type=NDJSON)


async def _pass_through(
    connector: AsyncConnector, handle: str, name: str, inputs: dict[str, JSON], kind: str
) -> Response:
    response = await connector.send(handle, name, inputs, stream=True)
    if response.is_error:
        try:
            await response.aread()
        finally:
            await response.aclose()
        raise error_from_response(response, handle, name)
    media = (
        NDJSON
        if kind == "jsonl"
        else response.headers.get("content-type", "application/octet-stream")
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw(_CHUNK):
                yield chunk
        except httpx.TransportError as exc:  # what came is the client's already
            cut = f"{handle}.{name}: the API's answer broke off ({type(exc).__name__})"
            raise BrokenAnswer(cut) from None
        finally:
            await response.aclose()

    headers = {}
    encoding = response.headers.get("content-encoding")
    if encoding:
        headers["content-encoding"] = encoding
    disposition = response.headers.get("content-disposition")
    if disposition:
        headers["content-disposition"] = disposition
    return StreamingResponse(body(), media_type=media, headers=headers)


async def _events(
    connector: AsyncConnector, handle: str, name: str, inputs: dict[str, JSON]
) -> Response:
    events = await connector.stream(handle, name, inputs)  # an error status raises here

    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield _line({"event": event.name, "data": event.data})
        except ConnectorError as exc:
            yield _line({"error": json.loads(bytes(from_error(exc).body))})
        finally:
            await events.aclose()

    return StreamingResponse(body(), media_type=NDJSON)


def call_routes() -> list[BaseRoute]:
    """The routes of this module."""
    return [
        Route(
            "/v1/connections/{connection}/resources/{resource}/operations/{operation}",
            call_operation,
            methods=["POST"],
        )
    ]
