"""Request bodies in the content types a definition may declare (``contentType``).

Body templates always render JSON (the load-time check proves they do); for an API that takes
``application/x-www-form-urlencoded`` or ``multipart/form-data`` the rendered object is then
encoded as form fields, nested the way Stripe and Rails read them: ``metadata[plan]=pro``,
``items[0][price]=p_1``. ``null`` values are left out; booleans are ``true``/``false``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from .errors import InputProblem
from .types import JSON

__all__ = ["encode_form", "form_fields"]


def form_fields(value: JSON, prefix: str = "") -> list[tuple[str, str]]:
    """The (name, value) pairs of a JSON object, nested names in brackets."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            pairs += form_fields(item, f"{prefix}[{key}]" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            pairs += form_fields(item, f"{prefix}[{index}]")
    elif value is None:
        pass
    elif isinstance(value, bool):
        pairs.append((prefix, "true" if value else "false"))
    else:
        pairs.append((prefix, value if isinstance(value, str) else json.dumps(value)))
    return pairs


def encode_form(
    content: bytes, kind: str, problems: list[InputProblem]
) -> tuple[bytes | None, list[tuple[str, Any]] | None, dict[str, str] | None]:
    """The rendered JSON body as ``kind``: (content, files, data) for ``httpx.Request``."""
    try:
        value = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        problems.append(InputProblem("body", "the rendered body is not JSON"))
        return None, None, None
    if not isinstance(value, dict):
        problems.append(
            InputProblem(
                "body", f"a {kind} body is an object of fields, not {type(value).__name__}"
            )
        )
        return None, None, None
    pairs = form_fields(value)
    if kind == "multipart/form-data":
        # A filename of None makes each part a plain form field (and forces multipart).
        return None, [(name, (None, text)) for name, text in pairs], None
    return urlencode(pairs).encode("ascii"), None, None
