"""Request bodies: read within the size cap, parsed as JSON, validated by a pydantic model.

Malformed JSON is a 400, a body over the cap a 413, a body of the wrong shape a 422 that
lists every problem with its JSON pointer; the values given are never echoed (they may be
secrets).
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from connector.platform.problems import HTTPProblem
from connector.types import JSON

__all__ = ["DEFAULT_MAX_BODY", "read_json", "read_model"]

DEFAULT_MAX_BODY = 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, *, empty: JSON = None) -> JSON:
    """The body as JSON (``empty`` when there is none); HTTPProblem 400/413/415 otherwise."""
    limit: int = getattr(request.app.state, "max_body", DEFAULT_MAX_BODY)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPProblem(413, "body-too-large", f"request bodies are capped at {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, "body-too-large", f"request bodies are capped at {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return empty
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media not in ("application/json", "") and not media.endswith("+json"):
        raise HTTPProblem(415, "unsupported-media-type", "send the body as application/json")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f" (line {exc.lineno} column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise HTTPProblem(400, "malformed-json", f"the body is not JSON{where}") from None


def _pointer(location: tuple[int | str, ...]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


async def read_model(request: Request, model: type[Model]) -> Model:
    """The body validated by ``model``; 422 with every problem located."""
    data = await read_json(request, empty={})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: list[JSON] = [
            {"location": _pointer(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()
        ]
        raise HTTPProblem(
            422, "invalid-input", f"{len(errors)} problem(s) in the body", errors=errors
        ) from None
