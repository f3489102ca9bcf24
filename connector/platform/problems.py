"""Problem documents (RFC 9457 ``application/problem+json``): every error the service answers.

:func:`problem` builds one; :func:`from_error` maps the library's one error tree to them:

* :class:`~connector.errors.InputError` -> 422 with ``errors``: every problem and its location
  (a JSON pointer into the inputs);
* :class:`~connector.errors.UpstreamError` -> 502 with ``upstream``: the API's status, error
  type, message and request id (the service's own 4xx stay unambiguous);
* :class:`~connector.errors.StreamInterruptedError` -> 502 ``upstream-interrupted`` (the
  API's answer came and was cut off mid-body, after the engine's retries where allowed);
* :class:`~connector.errors.TransportError` -> 504 (the API did not answer);
* configuration, definition, subscription and store errors -> 409/422/503 as fits.

Once an answer has begun there is no status left to give: an NDJSON stream ends with an
``{"error": <problem>}`` line, and a body passed through as it came (JSONL, binary) whose
upstream broke off raises :class:`BrokenAnswer`, which ends the client's answer abruptly in
turn (the one way HTTP tells a reader the body is incomplete).

Messages come from the errors, which never carry a secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.responses import JSONResponse, Response

from connector.errors import (
    ConfigurationError,
    ConnectorError,
    DefinitionError,
    InputError,
    InputProblem,
    PaginationError,
    ResponseError,
    StoreError,
    StreamInterruptedError,
    SubscriptionError,
    TransportError,
    UnsafeDestinationError,
    UpstreamError,
)
from connector.types import JSON

__all__ = [
    "PROBLEM_TYPE",
    "BrokenAnswer",
    "HTTPProblem",
    "JSONAnswer",
    "dumps",
    "from_error",
    "input_problems",
    "problem",
]

PROBLEM_TYPE = "application/problem+json"
_BASE = "urn:connector:problem:"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    502: "Upstream error",
    503: "Unavailable",
    504: "Upstream did not answer",
}


def _default(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(value: JSON) -> str:
    """JSON text of an answer: datetimes as RFC 3339, anything else unknown as text."""
    return json.dumps(value, ensure_ascii=False, default=_default, separators=(",", ":"))


class JSONAnswer(JSONResponse):
    """A JSON response whose records may hold datetimes (DateTime fields)."""

    def render(self, content: JSON) -> bytes:
        return dumps(content).encode("utf-8")


class HTTPProblem(Exception):
    """Raised inside a route to answer with a problem document."""

    def __init__(self, status: int, kind: str, detail: str | None = None, **extra: JSON) -> None:
        super().__init__(detail or kind)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.extra = extra


class BrokenAnswer(Exception):
    """Raised by a streamed answer's body after it began: the answer cannot be finished. The
    app's guard logs it as one warning line and leaves the answer cut off."""


def problem(
    status: int,
    kind: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: JSON,
) -> Response:
    """A problem+json response: ``type`` is ``urn:connector:problem:<kind>``."""
    document: dict[str, JSON] = {
        "type": _BASE + kind,
        "title": _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        document["detail"] = detail
    document.update(extra)
    return Response(
        dumps(document),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def _pointer(parameter: str) -> str:
    if not parameter:
        return ""
    escaped = parameter.replace("~", "~0").replace("/", "~1")
    return f"/{escaped}"


def input_problems(problems: Sequence[InputProblem], prefix: str = "") -> list[JSON]:
    """The ``errors`` member: ``{"location": JSON pointer, "message": ...}`` each."""
    return [
        {
            "location": prefix + _pointer(p.parameter),
            "message": p.message,
        }
        for p in problems
    ]


def from_error(error: ConnectorError) -> Response:
    """The problem document for one of the library's errors."""
    if isinstance(error, InputError):
        where = (
            f" for {error.resource}.{error.operation}" if error.resource and error.operation else ""
        )
        # Resource and operation names are in the path, not in the inputs.
        path_level = {"resource", "operation"}
        missing = all(p.parameter in path_level for p in error.problems)
        return problem(
            404 if missing else 422,
            "not-found" if missing else "invalid-input",
            f"{len(error.problems)} problem(s){where}",
            errors=input_problems(error.problems),
        )
    if isinstance(error, UpstreamError):
        return problem(
            502,
            "upstream",
            str(error),
            upstream={
                "status": error.status,
                "type": error.error_type,
                "message": error.message,
                "request_id": error.request_id,
            },
        )
    if isinstance(error, StreamInterruptedError):
        return problem(502, "upstream-interrupted", str(error))
    if isinstance(error, TransportError):
        return problem(504, "upstream-unreachable", str(error))
    if isinstance(error, ResponseError | PaginationError):
        return problem(502, "upstream-response", str(error))
    if isinstance(error, UnsafeDestinationError | SubscriptionError):
        field = getattr(error, "field", None) or "url"
        return problem(
            422,
            "invalid-input",
            str(error),
            errors=[{"location": "/" + field, "message": str(error)}],
        )
    if isinstance(error, ConfigurationError):
        return problem(409, "connection-configuration", str(error), setting=error.setting)
    if isinstance(error, StoreError):
        return problem(503, "store", str(error))
    if isinstance(error, DefinitionError):
        return problem(500, "definition", str(error))
    return problem(500, "internal", "the service failed; see its log")
