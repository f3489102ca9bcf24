"""JSON text that any API value can become, as UTF-8 bytes that are always valid.

An API may send JSON that Python reads but cannot write back as UTF-8: a lone surrogate
escape (``"\\ud800.txt"`` is valid JSON text, but no UTF-8 byte sequence carries U+D800).
:func:`json_bytes` writes such a value with ``\\uXXXX`` escapes instead (the whole document
in ASCII, so the bytes stay a pure function of the value: a re-detected event freezes to the
same body). What JSON cannot express at all (NaN, Infinity, nesting deeper than the encoder
goes) is an :class:`~connector.errors.EventError`, so the caller can set that one record
aside instead of failing everything around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from connector.errors import EventError
from connector.types import JSON

__all__ = ["json_bytes", "storable_text"]


def json_bytes(value: JSON, *, default: Callable[[object], object] | None = None) -> bytes:
    """Minified JSON of ``value`` as valid UTF-8 (escaping what UTF-8 cannot carry)."""
    options: dict[str, object] = {"separators": (",", ":"), "allow_nan": False, "default": default}
    try:
        text = json.dumps(value, ensure_ascii=False, **options)  # type: ignore[arg-type]
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, ensure_ascii=True, **options).encode("ascii")  # type: ignore[arg-type]
    except RecursionError:
        raise EventError("the value is nested too deeply to write as JSON") from None
    except (ValueError, TypeError) as exc:
        raise EventError(f"the value cannot be written as JSON: {exc}") from None


def storable_text(text: str) -> str:
    """``text`` as it can be stored and logged: lone surrogates become ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
