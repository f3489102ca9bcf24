"""Templates: one sandboxed, strict Jinja2 environment and JSON-safe rendering.

A body template is JSON text with Jinja expressions in it. At load, each ``{{ ... }}`` is
classified by where it stands: inside a JSON string literal it is rewritten to escape its value
as JSON string content; standing bare it is rewritten to write its value as JSON. So
``{"content": "{{content}}"}`` stays valid JSON whatever ``content`` holds, ``{{max_tokens}}``
renders ``100`` and an Array placeholder placed bare renders a JSON list.

Path templates percent-encode each value as one path segment, so ``/``, ``..``, ``?`` and ``#``
inside a value can never change which endpoint is called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from .types import JSON

__all__ = [
    "TemplateSyntaxProblem",
    "compile_template",
    "to_json_text",
]

Mode = Literal["json", "path", "text"]


class TemplateSyntaxProblem(Exception):
    """A template that cannot compile; turned into a located DefinitionError by the loader."""


def _defined(value: JSON) -> JSON:
    # Our filters see an undefined name before Jinja does; without this json.dumps would
    # report "StrictUndefined is not JSON serializable" instead of naming the missing value.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def _json_string_content(value: JSON) -> str:
    value = _defined(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    text = value if isinstance(value, str) else to_json_text(value)
    return to_json_text(text)[1:-1]


def to_json_text(value: JSON) -> str:
    """Compact JSON text; falls back to ASCII escapes where a string holds lone surrogates."""
    value = _defined(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _path_segment(value: JSON) -> str:
    value = _defined(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    text = value if isinstance(value, str) else to_json_text(value)
    # safe="" so "/" is encoded; "." alone is not special once "/" cannot appear, but ".." as a
    # whole segment would still climb: encode dots when the segment is made of dots only.
    encoded = quote(text, safe="")
    if encoded.strip(".") == "":
        encoded = encoded.replace(".", "%2E")
    return encoded


def _plain_text(value: JSON) -> str:
    value = _defined(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return to_json_text(value)


_MAX_REPEAT = 100_000


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, plus bounds on the two operators that can build huge values.

    ``'a' * 10**12`` would exhaust memory while rendering (and every body template is rendered
    once at load), so ``**`` is refused and ``*`` may repeat a string or list only so far.
    """

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: object, right: object
    ) -> object:
        if operator == "**":
            raise SecurityError("the ** operator is not allowed in templates")
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            if len(sequence) * max(count, 0) > _MAX_REPEAT:
                raise SecurityError(
                    f"repeating a value to more than {_MAX_REPEAT} items is not allowed"
                )
        return super().call_binop(context, operator, left, right)


def _make_environment() -> SandboxedEnvironment:
    env = _BoundedEnvironment(
        # Undefined names are errors, never silently empty strings in a request.
        undefined=jinja2.StrictUndefined,
        # Escaping is ours (JSON or path), chosen per expression position, not HTML's.
        autoescape=False,
        # Keep the rendered text byte for byte: a body template's own newlines stay.
        keep_trailing_newline=True,
    )
    # No globals: range/lipsum/cycler/joiner/namespace/dict give loops and objects that a
    # request template never needs and an attacker could use for resource exhaustion.
    env.globals.clear()
    env.filters["_json"] = to_json_text
    env.filters["_json_str"] = _json_string_content
    env.filters["_segment"] = _path_segment
    env.filters["_text"] = _plain_text
    return env


ENVIRONMENT = _make_environment()

# Attribute names a template may never touch, refused at load (the sandbox would also refuse
# them when rendering, but a definition that tries is hostile or broken and must not load).
_FORBIDDEN_ATTRIBUTES = {"mro", "format", "format_map", "gi_frame", "func_globals", "f_globals"}

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _rewrite(source: str, mode: Mode) -> str:
    """Wrap every ``{{ expr }}`` in the filter its position needs."""
    out: list[str] = []
    position = 0
    in_string = False
    for match in _EXPRESSION.finditer(source):
        literal = source[position : match.start()]
        out.append(literal)
        if mode == "json":
            in_string = _scan_json_strings(literal, in_string)
        position = match.end()
        expression = match.group(1)
        if expression is None:  # a {% statement %} or {# comment #}: left as written
            out.append(match.group(0))
            continue
        if mode == "path":
            wrapper = "_segment"
        elif mode == "text":
            wrapper = "_text"
        else:
            wrapper = "_json_str" if in_string else "_json"
        out.append("{{ (" + expression.strip() + ") | " + wrapper + " }}")
    out.append(source[position:])
    return "".join(out)


def _scan_json_strings(text: str, in_string: bool) -> bool:
    """Whether the JSON text ends inside a string literal, given whether it started in one."""
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
    return in_string


class CompiledTemplate:
    """A template compiled at load: ``variables`` it reads and ``render(context)``."""

    __slots__ = ("_constant", "_template", "mode", "source", "variables")

    def __init__(self, source: str, mode: Mode) -> None:
        self.source = source
        self.mode = mode
        rewritten = _rewrite(source, mode)
        try:
            tree = ENVIRONMENT.parse(rewritten)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntaxProblem(f"template syntax error: {exc.message}") from None
        _refuse_unsafe(tree)
        self.variables: frozenset[str] = frozenset(meta.find_undeclared_variables(tree))
        self._template = ENVIRONMENT.from_string(tree)
        self._constant: str | None = None

    def render(self, context: Mapping[str, JSON]) -> str:
        """Render with ``context``; raises jinja2 errors for the caller to translate."""
        if self._constant is not None:
            return self._constant
        text = self._template.render(context)
        if not self.variables:
            # A template that reads no variable (most endpoints, paths and beta headers)
            # always renders the same text: keep it instead of rendering on every request.
            self._constant = text
        return text

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r}, mode={self.mode!r})"


def _refuse_unsafe(tree: nodes.Template) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Filter):
            if node.name != "attr":
                continue
            # `x|attr('__class__')` is `x.__class__` spelled as a filter; a computed name
            # cannot be checked at load, so it is refused outright.
            arg = node.args[0] if node.args else None
            if not isinstance(arg, nodes.Const):
                raise TemplateSyntaxProblem(
                    "template uses the attr filter with a computed name; templates may only "
                    "read placeholder values"
                )
            name = arg.value
        else:
            arg = getattr(node, "arg", None)
            name = arg.value if isinstance(arg, nodes.Const) else None
        if isinstance(name, str) and (name.startswith("_") or name in _FORBIDDEN_ATTRIBUTES):
            raise TemplateSyntaxProblem(
                f"template reaches for the attribute {name!r}; templates may only read "
                "placeholder values (no underscore or interpreter attributes)"
            )


def compile_template(source: str, mode: Mode) -> CompiledTemplate:
    """Compile ``source`` for ``mode`` (``json`` body, ``path`` segments, plain ``text``)."""
    return CompiledTemplate(source, mode)


RenderError = (jinja2.TemplateError, TypeError, ValueError, OverflowError)
"""What rendering may raise; callers translate these into InputError at the boundary."""


def render_safely(
    template: CompiledTemplate, context: Mapping[str, JSON], on_error: Callable[[str], None]
) -> str | None:
    """Render, reporting a failure through ``on_error`` instead of raising."""
    try:
        return template.render(context)
    except RenderError as exc:
        on_error(str(exc) or type(exc).__name__)
        return None
