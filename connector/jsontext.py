"""Strict JSON text: what a definition or a body given whole may hold.

Python's ``json`` accepts more than JSON: ``NaN`` and ``Infinity``, and duplicate keys where the
last silently wins. A definition with either would load and then never work as its author
meant, and deep nesting makes both the parser and pydantic overflow the interpreter's stack.
:func:`parse_strict` refuses all three and says where.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from functools import partial
from typing import Any

__all__ = ["MAX_DEPTH", "JSONTextError", "deepest_path", "parse_strict"]

MAX_DEPTH = 64
"""Nesting levels a definition (or a body given whole) may have."""

Path = list[str | int]


class JSONTextError(ValueError):
    """Text that is not strict JSON. ``path`` locates the problem in the parsed document (keys
    and indices) when it is known; ``line``/``column`` in the text otherwise."""

    def __init__(
        self, message: str, *, path: Path | None = None, line: int = 0, column: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column


class _NonFinite:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def parse_strict(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text``; raise JSONTextError for invalid JSON, NaN/Infinity, a key given twice in
    one object, or nesting deeper than ``max_depth``."""
    duplicates: list[tuple[dict[str, Any], str]] = []
    constants: list[_NonFinite] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicates.append((document, key))
                    break
                seen.add(key)
        return document

    def constant_hook(name: str) -> _NonFinite:
        constants.append(_NonFinite(name))
        return constants[-1]

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=constant_hook)
    except json.JSONDecodeError as exc:
        raise JSONTextError(
            f"not valid JSON: {exc.msg}", line=exc.lineno, column=exc.colno
        ) from None
    except RecursionError:
        raise JSONTextError(f"nested too deeply (more than {max_depth} levels)") from None
    except ValueError as exc:  # an integer longer than the interpreter converts, say
        raise JSONTextError(f"not valid JSON: {exc}") from None
    path = deepest_path(data, max_depth)
    if path is not None:
        raise JSONTextError(f"nested too deeply (more than {max_depth} levels)", path=path)
    if constants:
        found = _find(data, lambda value: isinstance(value, _NonFinite))
        name = constants[0].name
        raise JSONTextError(f"{name} is not JSON (a number must be finite)", path=found or [])
    if duplicates:
        document, key = duplicates[0]
        found = _find(data, partial(operator.is_, document))
        raise JSONTextError(
            f"the key {key!r} is given twice in one object (JSON keeps only one)",
            path=[*(found or []), key],
        )
    return data


def deepest_path(data: object, max_depth: int) -> Path | None:
    """The path to the first value nested more than ``max_depth`` levels deep, or None.

    Iterative, so it works on values too deep for recursion (a Python object given whole).
    """
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: list[object] = list(value.values())
        elif isinstance(value, list | tuple):
            children = list(value)
        else:
            continue
        if depth >= max_depth:
            return _find(data, partial(operator.is_, value)) or []
        stack.extend((child, depth + 1) for child in children)
    return None


def _find(data: object, wanted: Any) -> Path | None:
    """The path to the first value for which ``wanted(value)`` holds (iterative)."""
    stack: list[tuple[object, Path]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if wanted(value):
            return path
        if isinstance(value, Mapping):
            stack.extend((child, [*path, key]) for key, child in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            stack.extend((child, [*path, i]) for i, child in reversed(list(enumerate(value))))
    return None
