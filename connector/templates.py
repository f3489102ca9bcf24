"""Templates: one sandboxed, strict, bounded Jinja2 environment and JSON-safe rendering.

A body template is JSON text with Jinja expressions in it. At load the template is parsed by
Jinja itself (its lexer and parser, never a regular expression), and each expression written
out is classified by where it stands in the JSON text: inside a string literal it is wrapped to
escape its value as JSON string content; standing bare it is wrapped to write its value as
JSON. So ``{"content": "{{content}}"}`` stays valid JSON whatever ``content`` holds,
``{{max_tokens}}`` renders ``100`` and an Array placeholder placed bare renders a JSON list. An
``{% if %}`` or ``{% for %}`` block may not open or close a JSON string (its branches would put
a value in two contexts), and no expression may follow a backslash inside a string.

Path templates percent-encode each value as one path segment, so ``/``, ``..``, ``?`` and ``#``
inside a value can never change which endpoint is called.

What a template may contain and what one render may cost is bounded by
:mod:`connector.template_limits`. A template made only of text and ``{{ name }}`` placeholders
(nearly all of them) is rendered without Jinja: pieces joined with each value's escaping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache

import jinja2
from jinja2 import meta, nodes, pass_context
from jinja2.runtime import Context

from . import template_limits as limits
from .template_positions import (
    Classifier,
    Mode,
    Piece,
    PositionProblem,
    pieces_from_tokens,
    plain_pieces,
)
from .types import JSON

__all__ = [
    "Mode",
    "RenderError",
    "TemplateSyntaxProblem",
    "compile_template",
    "render_safely",
    "to_json_text",
]


class TemplateSyntaxProblem(Exception):
    """A template that cannot compile; turned into a located DefinitionError by the loader."""


def _defined(value: JSON) -> JSON:
    # Our filters see an undefined name before Jinja does; without this json.dumps would
    # report "StrictUndefined is not JSON serializable" instead of naming the missing value.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


def to_json_text(value: JSON) -> str:
    """Compact JSON text; falls back to ASCII escapes where a string holds lone surrogates.

    NaN and infinities are refused (``ValueError``): they are not JSON, and an API would
    reject the body they make.
    """
    value = _defined(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _json_string_content(value: JSON) -> str:
    value = _defined(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    text = value if isinstance(value, str) else to_json_text(value)
    return to_json_text(text)[1:-1]


def _path_segment(value: JSON) -> str:
    from urllib.parse import quote

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


_WRAPPERS: dict[str, Callable[[JSON], str]] = {
    "_json": to_json_text,
    "_json_str": _json_string_content,
    "_segment": _path_segment,
    "_text": _plain_text,
}


def _charged(function: Callable[[JSON], str]) -> Callable[[Context, JSON], str]:
    # What an expression writes is charged to the budget before it is built; pass_context
    # keeps Jinja from folding the call while compiling, outside any budget.
    @pass_context
    def wrapper(context: Context, value: JSON) -> str:
        budget = limits.active_budget()
        if not isinstance(value, str):
            budget.spend(limits.weight(value, budget.chars))
        return function(value)

    return wrapper


def _make_environment() -> limits.BoundedEnvironment:
    env = limits.BoundedEnvironment(
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
    limits.restrict(env)
    env.filters.update({name: _charged(function) for name, function in _WRAPPERS.items()})
    return env


ENVIRONMENT = _make_environment()


def _variables(tree: nodes.Template) -> frozenset[str]:
    """The names a template reads from its context."""
    if any(True for _ in tree.find_all(nodes.For)):
        # Loops bind names in their own scope: let Jinja's own analysis tell them apart.
        return frozenset(meta.find_undeclared_variables(tree))
    # Without loops (and with no {% set %}, refused) every name read is a context name.
    return frozenset(node.name for node in tree.find_all(nodes.Name))


class CompiledTemplate:
    """A template compiled at load: ``variables`` it reads and ``render(context)``."""

    __slots__ = ("_constant", "_pieces", "_template", "mode", "source", "variables")

    def __init__(self, source: str, mode: Mode) -> None:
        self.source = source
        self.mode = mode
        if len(source) > limits.MAX_SOURCE:
            raise TemplateSyntaxProblem(
                f"the template is longer than {limits.MAX_SOURCE} characters"
            )
        self._template: jinja2.Template | None = None
        if "{" not in source:
            # Every Jinja delimiter starts with "{" (line statements are off): plain text.
            self.variables: frozenset[str] = frozenset()
            self._constant: str | None = source
            self._pieces: list[Piece] | None = [(source, None)]
            return
        try:
            pieces = pieces_from_tokens(ENVIRONMENT, source, mode)
        except PositionProblem as exc:
            raise TemplateSyntaxProblem(str(exc)) from None
        if pieces is not None:
            self._pieces = pieces
            self.variables = frozenset(name for _, name in pieces if name is not None)
            self._constant = None if self.variables else "".join(t for t, _ in pieces)
            return
        try:
            tree = ENVIRONMENT.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateSyntaxProblem(f"template syntax error: {exc.message}") from None
        except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
            raise TemplateSyntaxProblem(f"template cannot be parsed: {exc}") from None
        try:
            limits.check_tree(tree)
        except ValueError as exc:
            raise TemplateSyntaxProblem(str(exc)) from None
        self.variables = _variables(tree)
        try:
            Classifier(mode).body(tree.body)
        except PositionProblem as exc:
            raise TemplateSyntaxProblem(str(exc)) from None
        self._constant = None
        self._pieces = plain_pieces(tree, _WRAPPERS)
        if self._pieces is not None:
            if not self.variables:
                self._constant = "".join(text for text, _ in self._pieces)
            return
        limits.guard_tree(tree)
        token = limits.activate(limits.Budget())
        try:
            self._template = ENVIRONMENT.from_string(tree)
        except jinja2.TemplateError as exc:
            raise TemplateSyntaxProblem(f"template does not compile: {exc}") from None
        except (RecursionError, MemoryError, SyntaxError, ValueError) as exc:
            raise TemplateSyntaxProblem(f"template does not compile: {exc}") from None
        finally:
            limits.deactivate(token)

    def render(self, context: Mapping[str, JSON]) -> str:
        """Render with ``context``; raises jinja2 errors for the caller to translate.

        A render that would exceed its budget raises ``BudgetExceeded`` (a SecurityError).
        """
        if self._constant is not None:
            return self._constant
        if self._pieces is not None:
            out: list[str] = []
            for text, name in self._pieces:
                if name is None:
                    out.append(text)
                elif name in context:
                    out.append(_WRAPPERS[text](context[name]))
                else:
                    raise jinja2.UndefinedError(f"{name!r} is undefined")
            return "".join(out)
        assert self._template is not None
        budget = limits.budget_for(context)
        token = limits.activate(budget)
        try:
            template = self._template
            written: list[str] = []
            for piece in template.root_render_func(template.new_context(dict(context))):
                budget.spend(len(piece))
                written.append(piece)
        finally:
            limits.deactivate(token)
        text = "".join(written)
        if not self.variables:
            # A template that reads no variable always renders the same text: keep it.
            self._constant = text
        return text

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r}, mode={self.mode!r})"


@lru_cache(maxsize=8192)
def compile_template(source: str, mode: Mode) -> CompiledTemplate:
    """Compile ``source`` for ``mode`` (``json`` body, ``path`` segments, plain ``text``).

    Compiled templates are immutable and shared: the same text compiles once per process.
    """
    return CompiledTemplate(source, mode)


RenderError = (jinja2.TemplateError, TypeError, ValueError, OverflowError, RecursionError)
"""What rendering may raise (``SecurityError`` and ``BudgetExceeded`` are TemplateErrors);
callers translate these into InputError at the boundary."""


def render_safely(
    template: CompiledTemplate, context: Mapping[str, JSON], on_error: Callable[[str], None]
) -> str | None:
    """Render, reporting a failure through ``on_error`` instead of raising."""
    try:
        return template.render(context)
    except RenderError as exc:
        on_error(str(exc) or type(exc).__name__)
        return None


def names_read(source: str, variable: str) -> tuple[set[str], bool]:
    """The keys a template reads from ``variable`` (``env.X``, ``env['X']``), and whether it
    uses ``variable`` any other way (``env|list``, ``env[name]``), which cannot be checked."""
    try:
        tree = ENVIRONMENT.parse(source)
    except (jinja2.TemplateSyntaxError, RecursionError, ValueError):
        return set(), False
    keys: set[str] = set()
    other = False
    for parent in tree.find_all(nodes.Node):
        for child in parent.iter_child_nodes():
            if not (isinstance(child, nodes.Name) and child.name == variable):
                continue
            if isinstance(parent, nodes.Getattr):
                keys.add(parent.attr)
            elif (
                isinstance(parent, nodes.Getitem)
                and isinstance(parent.arg, nodes.Const)
                and isinstance(parent.arg.value, str)
            ):
                keys.add(parent.arg.value)
            else:
                other = True
    return keys, other
