"""The handlers of Messages, Message Batches and Models."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .ledger import page_of
from .responder import count_input_tokens, reply
from .state import CUSTOM_ID, Batch, SandboxState
from .validation import validate_message_params
from .wire import JSON, api_error, derived_id, error_body, json_response, parse_json

_LIMIT = re.compile("-?[0-9]{1,9}")  # ASCII digits only: '²'.isdigit() is true

__all__ = [
    "Settings",
    "api_routes",
    "read_body",
    "read_json",
    "read_limit",
    "sandbox_of",
    "settings_of",
    "version_of",
]

_RESULT_CHUNK = 200


@dataclass
class Settings:
    """How strict and how large: fixed when the app is created."""

    api_key: str | None = None
    strict_beta: bool = False
    max_message_bytes: int = 32 * 2**20
    max_batch_bytes: int = 256 * 2**20
    max_batch_requests: int = 100_000
    max_file_bytes: int = 500 * 2**20


def sandbox_of(request: Request) -> SandboxState:
    """The state behind this app."""
    state: SandboxState = request.app.state.sandbox
    return state


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def version_of(request: Request) -> str:
    """The ``anthropic-version`` the middleware accepted."""
    return request.headers["anthropic-version"]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 ``request_too_large`` as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    too_large = api_error(413, f"request body is over the {limit}-byte limit of this endpoint")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> JSON:
    """The JSON body; an empty body reads as ``{}`` (the SDK sends one on cancel and delete)."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    return parse_json(raw)


def read_limit(request: Request) -> int:
    """The ``limit`` query parameter: 1-1000, 20 when absent."""
    raw = request.query_params.get("limit")
    if raw is None:
        return 20
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= 1000:
        raise api_error(400, f"limit: must be an integer from 1 to 1000 (found {raw!r})")
    return int(raw)


def _api_base(request: Request) -> str:
    """The API root as the client reached it (``http://host:port/v1`` or the seeds' prefix)."""
    path = request.url.path
    prefix = path[: path.index("/messages/batches")]
    return f"{request.url.scheme}://{request.url.netloc}{prefix}"


async def create_message(request: Request) -> Response:
    """``POST /v1/messages``: a deterministic reply, or SSE when ``stream`` is true."""
    state = sandbox_of(request)
    params = await read_json(request, settings_of(request).max_message_bytes)
    model = validate_message_params(
        params, version=version_of(request), find_model=state.find_model
    )
    message = reply(params, model, state.ids.make("msg"), tool_use_id=state.ids.make("toolu"))
    if params.get("stream"):
        return StreamingResponse(_sse(message), media_type="text/event-stream")
    return json_response(message)


async def _sse(message: dict[str, JSON]) -> AsyncIterator[bytes]:
    """The Message as server-sent events: start, one delta per word, stop."""

    def event(name: str, data: JSON) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    usage = message["usage"]
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    yield event("message_start", {"type": "message_start", "message": start})
    yield event("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, JSON] = {"type": "text", "text": "", "citations": None}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
        else:
            opening = dict(block, input={})
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        for delta in deltas:
            yield event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield event("content_block_stop", {"type": "content_block_stop", "index": index})
    yield event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
                "stop_details": message.get("stop_details"),
                "container": message.get("container"),
            },
            # the cumulative usage, every key the SDKs' MessageDeltaUsage declares
            "usage": {
                "input_tokens": usage["input_tokens"],
                "output_tokens": usage["output_tokens"],
                "cache_creation_input_tokens": usage.get("cache_creation_input_tokens"),
                "cache_read_input_tokens": usage.get("cache_read_input_tokens"),
                "output_tokens_details": usage.get("output_tokens_details"),
                "server_tool_use": usage.get("server_tool_use"),
            },
        },
    )
    yield event("message_stop", {"type": "message_stop"})


def _pieces(text: str) -> Iterator[str]:
    words = text.split(" ")
    for index, word in enumerate(words):
        yield word if index == len(words) - 1 else word + " "


async def count_message_tokens(request: Request) -> Response:
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``."""
    state = sandbox_of(request)
    params = await read_json(request, settings_of(request).max_message_bytes)
    validate_message_params(
        params, version=version_of(request), find_model=state.find_model, counting=True
    )
    return json_response({"input_tokens": count_input_tokens(params)})


async def create_batch(request: Request) -> Response:
    """``POST /v1/messages/batches``: check the envelope, store the batch."""
    settings = settings_of(request)
    body = await read_json(request, settings.max_batch_bytes)
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list):
        raise api_error(400, "requests: Field required (a list of {custom_id, params})")
    if not 1 <= len(requests) <= settings.max_batch_requests:
        raise api_error(
            400,
            f"requests: a batch holds 1 to {settings.max_batch_requests} requests "
            f"(found {len(requests)})",
        )
    seen: set[str] = set()
    for index, item in enumerate(requests):
        if not isinstance(item, dict):
            raise api_error(400, f"requests.{index}: Input should be an object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise api_error(
                400,
                f"requests.{index}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$ "
                f"(found {custom_id!r})",
            )
        if custom_id in seen:
            raise api_error(
                400, f"requests.{index}.custom_id: {custom_id!r} is used twice in this batch"
            )
        seen.add(custom_id)
        if not isinstance(item.get("params"), dict):
            raise api_error(400, f"requests.{index}.params: Field required (an object)")
    state = sandbox_of(request)
    batch = state.add_batch(requests, version=version_of(request))
    return json_response(state.batch_view(batch, _api_base(request)))


async def retrieve_batch(request: Request) -> Response:
    """``GET /v1/messages/batches/{id}``."""
    state = sandbox_of(request)
    batch = state.batch(request.path_params["batch_id"])
    return json_response(state.batch_view(batch, _api_base(request)))


async def list_batches(request: Request) -> Response:
    """``GET /v1/messages/batches``: newest first, id cursors."""
    state = sandbox_of(request)
    limit = read_limit(request)
    base = _api_base(request)
    with state.lock:
        chunk, has_more = state.batches.page(
            limit=limit,
            after_id=request.query_params.get("after_id"),
            before_id=request.query_params.get("before_id"),
        )
    data = [state.batch_view(batch, base) for _, batch in chunk]
    return json_response(_id_page(data, has_more))


def _id_page(data: list[JSON], has_more: bool) -> dict[str, JSON]:
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


async def cancel_batch(request: Request) -> Response:
    """``POST /v1/messages/batches/{id}/cancel``: ``canceling`` at once."""
    state = sandbox_of(request)
    await read_body(request, settings_of(request).max_message_bytes)
    batch = state.cancel_batch(request.path_params["batch_id"])
    return json_response(state.batch_view(batch, _api_base(request)))


async def delete_batch(request: Request) -> Response:
    """``DELETE /v1/messages/batches/{id}``: only once ended."""
    batch_id = request.path_params["batch_id"]
    sandbox_of(request).delete_batch(batch_id)
    return json_response({"id": batch_id, "type": "message_batch_deleted"})


async def batch_results(request: Request) -> Response:
    """``GET /v1/messages/batches/{id}/results``: JSONL, streamed, ``\\n`` line ends only."""
    state = sandbox_of(request)
    batch = state.batch(request.path_params["batch_id"])
    view = state.batch_view(batch, _api_base(request))
    if batch.ended is None:
        raise api_error(
            400,
            f"message batch {batch.id} is still {view['processing_status']}; results are "
            "available once processing_status is 'ended'",
        )
    if view["archived_at"] is not None:
        raise api_error(404, f"results of message batch {batch.id} are no longer available")
    return StreamingResponse(
        _result_lines(state, batch),
        media_type="application/x-jsonl",
        headers={"content-disposition": f"attachment; filename*=utf-8''{batch.id}_results.jsonl"},
    )


async def _result_lines(state: SandboxState, batch: Batch) -> AsyncIterator[bytes]:
    outcomes = batch.ended[1] if batch.ended else []
    # Finished requests first, then the canceled or expired ones: the API promises no order.
    order = sorted(range(len(outcomes)), key=lambda i: outcomes[i] in ("canceled", "expired"))
    lines: list[str] = []
    for index in order:
        lines.append(_result_line(state, batch, index, outcomes[index]))
        if len(lines) >= _RESULT_CHUNK:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


def _result_line(state: SandboxState, batch: Batch, index: int, outcome: str) -> str:
    request = batch.requests[index]
    result: dict[str, JSON] = {"type": outcome}
    if outcome == "succeeded":
        model = state.find_model(request.params["model"])
        assert model is not None  # checked when the batch was created
        message_id = derived_id("msg", batch.id, request.custom_id)
        tool_id = derived_id("toolu", batch.id, request.custom_id)
        result["message"] = reply(
            request.params, model, message_id, tool_use_id=tool_id, service_tier="batch"
        )
    elif outcome == "errored" and request.error:
        _status, kind, message = request.error
        result["error"] = error_body(kind, message, derived_id("req", batch.id, request.custom_id))
    line = {"custom_id": request.custom_id, "result": result}
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: newest release first; ``lifecycle[]`` filters (active+deprecated)."""
    state = sandbox_of(request)
    wanted = request.query_params.getlist("lifecycle[]") or request.query_params.getlist(
        "lifecycle"
    )
    rows = state.models_newest_first(wanted or ["active", "deprecated"])
    chunk, has_more = page_of(
        rows,
        limit=read_limit(request),
        after_id=request.query_params.get("after_id"),
        before_id=request.query_params.get("before_id"),
    )
    return json_response(_id_page([model.to_json() for _, model in chunk], has_more))


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{id}``: an id or an alias."""
    name = request.path_params["model_id"]
    model = sandbox_of(request).find_model(name)
    if model is None:
        raise api_error(404, f"model: {name}")
    return json_response(model.to_json())


def api_routes() -> list[BaseRoute]:
    """The routes of this module, relative to the API root (``/v1`` or the seeds' prefix)."""
    return [
        Route("/messages", create_message, methods=["POST"]),
        Route("/messages/count_tokens", count_message_tokens, methods=["POST"]),
        Route("/messages/batches", create_batch, methods=["POST"]),
        Route("/messages/batches", list_batches, methods=["GET"]),
        Route("/messages/batches/{batch_id}", retrieve_batch, methods=["GET"]),
        Route("/messages/batches/{batch_id}", delete_batch, methods=["DELETE"]),
        Route("/messages/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
        Route("/messages/batches/{batch_id}/results", batch_results, methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/models/{model_id}", retrieve_model, methods=["GET"]),
    ]
