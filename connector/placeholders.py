"""Placeholder values: typed, coerced from CLI strings, checked all at once.

``coerce_inputs(placeholders, given)`` returns the typed context for rendering, or raises one
:class:`~connector.errors.InputError` that lists every missing, mistyped or undeclared input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import InputError, InputProblem
from .jsontext import JSONTextError, parse_strict
from .types import JSON

if TYPE_CHECKING:
    from .definition_parts import Placeholder

__all__ = ["PlaceholderIndex", "coerce_inputs", "coerce_value"]

VALUE_DEPTH = 512
"""Nesting levels an Object or Array value may have."""

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class _Mistyped(ValueError):
    """A value that cannot be its placeholder's type (a ValueError, so callers outside may
    catch it as one)."""


def coerce_value(value: JSON, type_name: str) -> JSON:
    """Give ``value`` the placeholder type ``type_name``; strings from a command line are parsed.

    Raises ``_Mistyped`` (internal) with the reason when the value cannot be that type.
    """
    if type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mistyped("expected a string")
    if type_name == "Integer":
        if isinstance(value, bool):
            raise _Mistyped("expected an integer, not a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Mistyped("expected an integer such as 100")
    if type_name == "Number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                pass
            else:
                if number == number and number not in (float("inf"), float("-inf")):
                    return int(number) if number.is_integer() and "." not in value else number
        raise _Mistyped("expected a finite number such as 0.5")
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Mistyped("expected true or false")
    if type_name == "DateTime":
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                return value
        raise _Mistyped("expected an RFC 3339 date-time such as 2025-01-31T12:00:00Z")
    if type_name in ("Object", "Array"):
        wanted = dict if type_name == "Object" else list
        if isinstance(value, str):
            try:
                value = parse_strict(value, max_depth=VALUE_DEPTH)
            except JSONTextError as exc:
                raise _Mistyped(f"expected a JSON {type_name.lower()}: {exc.message}") from None
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, wanted):
            return value
        raise _Mistyped(f"expected a JSON {type_name.lower()}")
    raise _Mistyped(f"unknown placeholder type {type_name}")


class PlaceholderIndex:
    """An operation's placeholders by name and by alias, built once, at load (its request plan)."""

    __slots__ = ("aliases", "declared")

    def __init__(self, placeholders: Iterable[Placeholder]) -> None:
        self.declared = {p.name: p for p in placeholders}
        self.aliases = {alias: p.name for p in self.declared.values() for alias in p.aliases}


def coerce_inputs(
    placeholders: Iterable[Placeholder] | PlaceholderIndex,
    given: Mapping[str, JSON],
    *,
    resource: str | None = None,
    operation: str | None = None,
    optional: frozenset[str] = frozenset(),
) -> dict[str, JSON]:
    """Typed values for every placeholder, defaults applied; one InputError lists all problems.

    ``optional`` names placeholders that are not required this time (a body replaced whole).
    Aliases (``message_batch_id`` for ``batch_id``) bind to their placeholder.
    """
    if isinstance(placeholders, PlaceholderIndex):
        index = placeholders
    else:
        index = PlaceholderIndex(placeholders)
    declared, aliases = index.declared, index.aliases
    problems: list[InputProblem] = []
    values: dict[str, JSON] = {}
    reported: set[str] = set()
    for key, raw in given.items():
        name = aliases.get(key, key)
        reported.add(name)
        placeholder = declared.get(name)
        if placeholder is None:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(
                InputProblem(key, f"not a placeholder of this operation (known: {known})")
            )
            continue
        if name in values:
            problems.append(InputProblem(key, f"given twice (also as {name!r})"))
            continue
        try:
            value = coerce_value(raw, placeholder.type)
        except _Mistyped as exc:
            shown = None if placeholder.secret else raw
            problems.append(InputProblem(key, f"{exc} ({placeholder.type})", shown))
            continue
        if placeholder.options and value not in placeholder.options:
            allowed = ", ".join(map(str, placeholder.options))
            shown = None if placeholder.secret else value
            problems.append(InputProblem(key, f"must be one of: {allowed}", shown))
            continue
        values[name] = value
    for name, placeholder in declared.items():
        if name in values or name in reported:
            continue
        if placeholder.default is not None:
            values[name] = placeholder.default
        elif placeholder.required and name not in optional:
            hint = f": {placeholder.description}" if placeholder.description else ""
            problems.append(InputProblem(name, f"required {placeholder.type} is missing{hint}"))
    if problems:
        raise InputError(problems, resource=resource, operation=operation)
    return values
