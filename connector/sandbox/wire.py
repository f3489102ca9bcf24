"""What every answer of the sandbox has in common: ids, JSON bodies and the error envelope."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from typing import Any

from starlette.responses import Response

from connector.conventions import packaged_service
from connector.errors import UpstreamError, error_class_for

__all__ = [
    "JSON",
    "IdMaker",
    "api_error",
    "derived_id",
    "error_body",
    "json_response",
]

JSON = Any
"""A JSON value as the json module reads and writes it."""

# The API's ids are a prefix, "_01" and base58-looking characters (API reference §8).
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
    """The API's error envelope (API reference §1.4)."""
    body: dict[str, JSON] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def json_response(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response (no spaces: the API's own bodies are compact)."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(data, status_code=status, headers=headers, media_type="application/json")


def derived_id(prefix: str, *parts: str, length: int = 24) -> str:
    """A stable id computed from ``parts``: the same batch line always gets the same id."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    tail = []
    for _ in range(length - 2):
        number, digit = divmod(number, len(_ALPHABET))
        tail.append(_ALPHABET[digit])
    return f"{prefix}_01{''.join(tail)}"
