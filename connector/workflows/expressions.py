"""Arazzo runtime expressions: ``$statusCode``, ``$response.body#/id``, ``$inputs.apiKey`` ...

An expression is parsed once (``parse_expression``) and evaluated against a :class:`Scope`,
the values a step can see. ``resolve_value`` walks a parameter value or a request payload:

* a string that is a whole expression becomes the expression's value (any JSON type);
* a string that embeds ``{$...}`` has each embedded expression replaced by its text;
* any other string, including one that merely starts with ``$`` (``"$5 off"``, ``"$inputs"``),
  is a literal and stays as written (the Redocly #2798 bug was reading those as expressions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.errors import WorkflowError
from connector.types import JSON

__all__ = [
    "JSON",
    "Expression",
    "ExpressionError",
    "Scope",
    "embedded_expressions",
    "is_expression",
    "parse_expression",
    "resolve_pointer",
    "resolve_value",
]


_NAME = r"[A-Za-z0-9_\-.]+"
_ID = r"[A-Za-z0-9_\-]+"


def _pointer(group: str) -> str:
    return rf"(?:#(?P<{group}>(?:/[^/]*)*))?"


_GRAMMAR = re.compile(
    r"^\$(?:"
    r"(?P<plain>url|method|statusCode)"
    rf"|(?P<message>request|response)\.(?:"
    r"header\.(?P<header>[!#$%&'*+\-.^_`|~0-9A-Za-z]+)"
    rf"|(?P<where>query|path)\.(?P<param>{_NAME})"
    rf"|(?P<body>body){_pointer('p1')})"
    rf"|inputs\.(?P<input>{_NAME}){_pointer('p2')}"
    rf"|outputs\.(?P<output>{_NAME}){_pointer('p3')}"
    rf"|steps\.(?P<step>{_ID})\.outputs\.(?P<step_output>{_NAME}){_pointer('p4')}"
    rf"|workflows\.(?P<workflow>{_ID})\.outputs\.(?P<workflow_output>{_NAME}){_pointer('p5')}"
    rf"|sourceDescriptions\.(?P<source>{_ID})\.(?P<source_ref>{_NAME})"
    rf"|components\.(?P<component_kind>inputs|parameters|successActions|failureActions)\.(?P<component>{_NAME})"
    r")$"
)
_EMBEDDED = re.compile(r"\{(\$[^{}\s]+)\}")


class ExpressionError(WorkflowError):
    """A runtime expression that does not parse; ``expression`` is the text seen."""

    def __init__(self, message: str, *, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


@dataclass
class Scope:
    """What expressions can see while a step runs.

    ``request`` and ``response`` hold ``header`` (lower-cased names), ``query``, ``path`` and
    ``body``; ``steps`` and ``workflows`` map ids to their outputs.
    """

    inputs: dict[str, JSON] = field(default_factory=dict)
    steps: dict[str, dict[str, JSON]] = field(default_factory=dict)
    workflows: dict[str, dict[str, JSON]] = field(default_factory=dict)
    outputs: dict[str, JSON] = field(default_factory=dict)
    url: str | None = None
    method: str | None = None
    status_code: int | None = None
    request: dict[str, JSON] = field(default_factory=dict)
    response: dict[str, JSON] = field(default_factory=dict)
    source_descriptions: dict[str, dict[str, JSON]] = field(default_factory=dict)
    components: dict[str, dict[str, JSON]] = field(default_factory=dict)


@dataclass(frozen=True)
class Expression:
    """A parsed runtime expression; ``evaluate(scope)`` returns its value or None if absent."""

    text: str
    _match: re.Match[str] = field(repr=False, compare=False)

    def evaluate(self, scope: Scope) -> JSON:
        """The value the expression names in ``scope``; None when it names nothing."""
        g = self._match.groupdict()
        value: JSON
        if g["plain"]:
            value = {"url": scope.url, "method": scope.method, "statusCode": scope.status_code}[
                g["plain"]
            ]
        elif g["message"]:
            message = scope.request if g["message"] == "request" else scope.response
            if g["header"]:
                value = _header(message.get("header") or {}, g["header"])
            elif g["where"]:
                value = _dotted((message.get(g["where"]) or {}), g["param"])
            else:
                value = message.get("body")
        elif g["input"]:
            value = _dotted(scope.inputs, g["input"])
        elif g["output"]:
            value = _dotted(scope.outputs, g["output"])
        elif g["step"]:
            value = _dotted(scope.steps.get(g["step"]) or {}, g["step_output"])
        elif g["workflow"]:
            value = _dotted(scope.workflows.get(g["workflow"]) or {}, g["workflow_output"])
        elif g["source"]:
            value = _dotted(scope.source_descriptions.get(g["source"]) or {}, g["source_ref"])
        else:
            value = _dotted(scope.components.get(g["component_kind"]) or {}, g["component"])
        pointer = next((g[f"p{i}"] for i in range(1, 6) if g[f"p{i}"] is not None), None)
        return value if pointer is None else resolve_pointer(value, pointer)

    @property
    def root(self) -> str:
        """The expression's source: ``statusCode``, ``response``, ``inputs``, ``steps`` ..."""
        return self.text[1:].split(".", 1)[0].split("#", 1)[0]

    @property
    def step_id(self) -> str | None:
        """The step a ``$steps.<id>...`` expression refers to."""
        return self._match.group("step")

    @property
    def workflow_id(self) -> str | None:
        """The workflow a ``$workflows.<id>...`` expression refers to."""
        return self._match.group("workflow")


def is_expression(text: str) -> bool:
    """Whether the whole string is one runtime expression."""
    return bool(_GRAMMAR.match(text))


def parse_expression(text: str) -> Expression:
    """Parse one runtime expression; :class:`ExpressionError` if it is not one.

    >>> parse_expression("$response.body#/id").evaluate(Scope(response={"body": {"id": "b1"}}))
    'b1'
    """
    match = _GRAMMAR.match(text)
    if match is None:
        raise ExpressionError(f"not a runtime expression: {text!r}", expression=text)
    return Expression(text, match)


def embedded_expressions(text: str) -> list[str]:
    """The ``{$...}`` expressions a string embeds, without their braces."""
    return [m.group(1) for m in _EMBEDDED.finditer(text)]


def resolve_value(value: JSON, scope: Scope) -> JSON:
    """Resolve expressions in a value, recursively through lists and mappings.

    >>> resolve_value({"auth": "Bearer {$inputs.token}", "n": "$inputs.n", "p": "$5"},
    ...               Scope(inputs={"token": "t", "n": 2}))
    {'auth': 'Bearer t', 'n': 2, 'p': '$5'}
    """
    if isinstance(value, str):
        if value.startswith("$") and is_expression(value):
            return parse_expression(value).evaluate(scope)
        if "{$" in value:
            return _EMBEDDED.sub(lambda m: _substitute(m, scope), value)
        return value
    if isinstance(value, Mapping):
        return {key: resolve_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_value(item, scope) for item in value]
    return value


def _substitute(match: re.Match[str], scope: Scope) -> str:
    text = match.group(1)
    if not is_expression(text):
        return match.group(0)
    value = parse_expression(text).evaluate(scope)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def resolve_pointer(document: JSON, pointer: str) -> JSON:
    """Follow an RFC 6901 JSON pointer (``/a/0/b``, ``~0`` and ``~1`` escapes); None if absent."""
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                return None
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or int(token) >= len(current):
                return None
            current = current[int(token)]
        else:
            return None
    return current


def _header(headers: Mapping[str, JSON], name: str) -> JSON:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _dotted(values: Mapping[str, JSON], name: str) -> JSON:
    """A name may itself contain dots (output names may); otherwise walk nested mappings."""
    if name in values:
        return values[name]
    current: JSON = values
    for part in name.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current
