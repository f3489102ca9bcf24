"""Rules for the literal text of a definition: what can never work on the wire is refused at
load, with its location, instead of failing (or misbehaving) on the first call.

* endpoint and operation paths start with ``/`` (an operation's may also be empty), so a
  request can never leave the base URL (``@host``, ``:8081/x``, ``http://...``, ``{{host}}``);
* header names are RFC 9110 tokens (ASCII letters, digits and ``!#$%&'*+-.^_`|~``);
  parameter names are non-empty and free of control characters;
* literal header values carry no CR, LF, NUL or other control character and are ASCII (what
  HTTP/1.1 can carry), and no line break can be injected into them;
* webhook paths start with ``/`` and hold no control character, bidi control or white space
  (each would be cut, smuggled or spoofed in the subscriber's URL).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "header_name_problem",
    "header_value_problem",
    "parameter_name_problem",
    "path_start_problem",
    "webhook_path_problem",
]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) == "Cc"]


def path_start_problem(text: str, *, may_be_empty: bool) -> str | None:
    """Why a path template cannot stay under the base URL, or None."""
    if text.startswith("/") or (may_be_empty and text == ""):
        literal = text.split("?")[0].split("/")
        if "." in literal or ".." in literal:
            return "a path may not hold '.' or '..' segments (they climb out of the base URL)"
        return None
    start = "start with '/' (or be empty)" if may_be_empty else "start with '/'"
    return (
        f"a path must {start}, so that every request stays on the base URL's host and path; "
        "hosts and schemes belong in service.baseURL"
    )


def header_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an HTTP header name, or None."""
    if _TOKEN.fullmatch(name):
        return None
    return "not a valid header name (ASCII letters, digits and !#$%&'*+-.^_`|~ only)"


def parameter_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a query parameter name, or None."""
    if not name:
        return "a parameter name cannot be empty"
    if _controls(name):
        return "a parameter name cannot hold control characters (CR, LF, NUL ...)"
    return None


def header_value_problem(text: str) -> str | None:
    """Why the literal text of a header value cannot be sent, or None."""
    if text.isascii() and text.isprintable():
        return None  # the common case, at C speed
    if _controls(text.replace("\t", "")):
        return "a header value cannot hold CR, LF, NUL or other control characters"
    if not text.isascii():
        return "a header value must be ASCII text (HTTP headers carry no other characters)"
    return None


def webhook_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be joined to a subscriber's URL, or None."""
    if not path.startswith("/"):
        return "a webhook path starts with '/'"
    if _controls(path):
        return "a webhook path cannot hold control characters (CR, LF, NUL ...)"
    if any(c in _BIDI for c in path):
        return "a webhook path cannot hold bidirectional control characters (they spoof text)"
    if any(c.isspace() or unicodedata.category(c) == "Zs" for c in path):
        return "a webhook path cannot hold spaces"
    return None
