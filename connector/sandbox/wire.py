"""What every answer of the sandbox has in common: ids, JSON bodies and the error envelope."""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from typing import Any

from starlette.responses import Response

from connector.conventions import packaged_service
from connector.errors import UpstreamError, error_class_for

__all__ = [
    "JSON",
    "MAX_JSON_DEPTH",
    "IdMaker",
    "api_error",
    "derived_id",
    "error_body",
    "json_response",
    "parse_json",
]

MAX_JSON_DEPTH = 128
"""Deepest nesting a request body may have (arrays and objects); deeper is a 400."""

JSON = Any
"""A JSON value as the json module reads and writes it."""

# The API's ids are a prefix, "_01" and base58-looking characters.
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class IdMaker:
    """Makes API-looking ids from a seeded generator, so a run with the same seed and the
    same calls gives the same ids (thread-safe: the server thread and tests may both call)."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def make(self, prefix: str, length: int = 24) -> str:
        """A new id such as ``msgbatch_01Hx...`` (``length`` characters after the underscore)."""
        with self._lock:
            tail = "".join(self._random.choice(_ALPHABET) for _ in range(length - 2))
        return f"{prefix}_01{tail}"


def error_type_for(status: int) -> str:
    """The envelope's ``error.type`` for an HTTP status (``api_error`` for unknown 5xx)."""
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def api_error(status: int, message: str, error_type: str | None = None) -> UpstreamError:
    """The error to raise from a handler; the app turns it into the API's error envelope."""
    kind = error_type or error_type_for(status)
    rules = packaged_service()[0]  # the sandbox imitates the packaged definition's API
    cls = error_class_for(
        status, kind, overloaded_status=rules.overloaded_status, classes=rules.error_classes
    )
    return cls(message, status=status, error_type=kind)


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict[str, JSON]:
    """The API's error envelope."""
    body: dict[str, JSON] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def json_response(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response (no spaces: the API's own bodies are compact). A string that
    UTF-8 cannot carry (a lone surrogate) is written as its ``\\uXXXX`` escape instead."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        data = text.encode()
    except UnicodeEncodeError:
        data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status_code=status, headers=headers, media_type="application/json")


def _refuse_constant(name: str) -> JSON:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(raw: bytes, where: str = "request body") -> JSON:
    """A request body as JSON, or the API's 400: invalid UTF-8 or JSON, ``NaN``/``Infinity``,
    integers of more than 4,300 digits, nesting deeper than :data:`MAX_JSON_DEPTH` and lone
    surrogate escapes (``"\\ud800"``, which no UTF-8 text can hold) are all refused."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise api_error(400, f"{where}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise api_error(400, f"{where} is not valid UTF-8") from None
    except ValueError as error:  # JSONDecodeError, NaN, and the int digit limit
        message = str(error).split(";")[0]
        raise api_error(400, f"{where} is not valid JSON: {message}") from None
    _check_shape(value, where)
    return value


def _check_shape(value: JSON, where: str) -> None:
    """Depth and lone surrogates, walked without recursion."""
    pending: list[tuple[JSON, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise api_error(400, f"{where}: a string holds a lone surrogate (invalid Unicode)")
            continue
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise api_error(400, f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


_SURROGATE = re.compile("[\ud800-\udfff]")


def derived_id(prefix: str, *parts: str, length: int = 24) -> str:
    """A stable id computed from ``parts``: the same batch line always gets the same id."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    tail = []
    for _ in range(length - 2):
        number, digit = divmod(number, len(_ALPHABET))
        tail.append(_ALPHABET[digit])
    return f"{prefix}_01{''.join(tail)}"
