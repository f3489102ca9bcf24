"""Strict JSON text: what a definition or a body given whole may hold.

Python's ``json`` accepts more than JSON: ``NaN`` and ``Infinity``, and duplicate keys where the
last silently wins. A definition with either would load and then never work as its author
meant, and deep nesting makes both the parser and pydantic overflow the interpreter's stack.
:func:`parse_strict` refuses all three and says where.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from functools import partial
from itertools import accumulate
from typing import Any

__all__ = ["MAX_DEPTH", "JSONTextError", "check_strict", "deepest_path", "parse_strict"]

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
        line, column = _too_deep_at(text, max_depth)
        message = f"nested too deeply (more than {max_depth} levels)"
        raise JSONTextError(message, line=line, column=column) from None
    except ValueError as exc:  # an integer longer than the interpreter converts, say
        raise JSONTextError(f"not valid JSON: {exc}") from None
    if _depth(text) > max_depth:
        line, column = _too_deep_at(text, max_depth)
        message = f"nested too deeply (more than {max_depth} levels)"
        raise JSONTextError(message, line=line, column=column)
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


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _depth(text: str) -> int:
    """How deep valid JSON ``text`` nests (brackets outside strings; C-speed passes but one)."""
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep_at(text: str, max_depth: int) -> tuple[int, int]:
    """Line and column where ``text`` first nests deeper than ``max_depth`` (0, 0 if nowhere:
    the parser gave up for another reason)."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                line = text.count("\n", 0, match.start()) + 1
                return line, match.start() - text.rfind("\n", 0, match.start())
        elif token in "]}":
            depth -= 1
    return 0, 0


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                message = f"the key {key!r} is given twice in one object (JSON keeps only one)"
                raise JSONTextError(message)
            seen.add(key)
    return document


def _no_constant(name: str) -> None:
    raise JSONTextError(f"{name} is not JSON (a number must be finite)")


_CHECKER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_no_constant)


def check_strict(text: str) -> None:
    """Raise JSONTextError unless ``text`` is strict JSON (the cheap form of
    :func:`parse_strict` for text built by this process: no locations, one shared decoder)."""
    try:
        _CHECKER.decode(text)
    except json.JSONDecodeError as exc:
        raise JSONTextError(f"{exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, JSONTextError):
            raise
        raise JSONTextError(f"not valid JSON: {exc}") from None


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
