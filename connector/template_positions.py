"""Where each expression of a template stands, read from Jinja's own lexer and parser (never a
regular expression): in a body template, inside a JSON string literal or bare; in a path, one
segment; elsewhere, plain text. Each written expression is wrapped in the filter its position
needs (``_json_str``, ``_json``, ``_segment``, ``_text``).

Two layouts are refused because no wrapper could make them safe: an expression right after a
backslash inside a JSON string (the backslash would escape the value's first character), and an
``{% if %}`` / ``{% for %}`` block that opens or closes a JSON string (its value would land in
two contexts). A template made only of text and ``{{ name }}`` is recognised from the token
stream alone, without running the parser.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import jinja2
from jinja2 import Environment, nodes

__all__ = ["Classifier", "Mode", "Piece", "PositionProblem", "pieces_from_tokens", "plain_pieces"]

Mode = Literal["json", "path", "text"]


class PositionProblem(Exception):
    """A layout no escaping can make safe (the template compiler reports it as a syntax problem)."""


# JSON text states while scanning a body template's literal text.
_OUT, _IN, _ESCAPE = 0, 1, 2


class Classifier:
    """Wraps every written expression of a parsed template in the filter its position needs."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.state = _OUT

    def body(self, statements: list[nodes.Node]) -> None:
        for statement in statements:
            if isinstance(statement, nodes.Output):
                self.output(statement)
            elif isinstance(statement, nodes.If):
                self.block(statement.body, "{% if %}")
                for branch in statement.elif_:
                    self.block(branch.body, "{% elif %}")
                self.block(statement.else_, "{% else %}")
            elif isinstance(statement, nodes.For):
                self.block(statement.body, "{% for %}")
                self.block(statement.else_, "{% else %}")

    def block(self, statements: list[nodes.Node], name: str) -> None:
        entry = self.state
        self.body(statements)
        if self.state != entry:
            raise PositionProblem(
                f"a {name} block opens or closes a JSON string; keep the quotes of a string "
                "outside the block (or wholly inside it)"
            )

    def output(self, output: nodes.Output) -> None:
        for index, node in enumerate(output.nodes):
            if isinstance(node, nodes.TemplateData):
                if self.mode == "json":
                    self.state = _scan_json(node.data, self.state)
                continue
            if self.state == _ESCAPE:
                raise PositionProblem(
                    "an expression follows a backslash inside a JSON string; the backslash "
                    "would escape the value's first character"
                )
            output.nodes[index] = nodes.Filter(
                node, self.wrapper(), [], [], None, None, lineno=node.lineno
            )

    def wrapper(self) -> str:
        if self.mode == "path":
            return "_segment"
        if self.mode == "text":
            return "_text"
        return "_json_str" if self.state == _IN else "_json"


def _scan_json(text: str, state: int) -> int:
    """The JSON string state after ``text``, given the state before it."""
    if state == _OUT and '"' not in text:
        return _OUT
    for char in text:
        if state == _OUT:
            if char == '"':
                state = _IN
        elif state == _ESCAPE:
            state = _IN
        elif char == "\\":
            state = _ESCAPE
        elif char == '"':
            state = _OUT
    return state


Piece = tuple[str, str | None]
"""One piece of a plain template: literal text, or (wrapper, placeholder name)."""


def plain_pieces(tree: nodes.Template, wrappers: Collection[str]) -> list[Piece] | None:
    """The pieces of a template made only of text and ``{{ name }}``, else None."""
    pieces: list[Piece] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                pieces.append((node.data, None))
            elif (
                isinstance(node, nodes.Filter)
                and node.name in wrappers
                and isinstance(node.node, nodes.Name)
            ):
                pieces.append((node.name, node.node.name))
            else:
                return None
    return pieces


# Names the lexer reports as names that Jinja's parser reads as constants or operators.
_KEYWORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
)


def pieces_from_tokens(env: Environment, source: str, mode: Mode) -> list[Piece] | None:
    """The pieces of a template made only of text and ``{{ name }}``, read from Jinja's own
    token stream (so the parser, ~10x the cost, runs only for templates with more in them);
    None when the template holds anything else."""
    try:
        tokens = list(env.lexer.tokenize(source))
    except jinja2.TemplateSyntaxError:
        return None  # the parser reports it, with its message
    pieces: list[Piece] = []
    state = _OUT
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "data":
            pieces.append((token.value, None))
            if mode == "json":
                state = _scan_json(token.value, state)
            index += 1
            continue
        window = tokens[index : index + 3]
        if (
            len(window) < 3
            or [t.type for t in window] != ["variable_begin", "name", "variable_end"]
            or window[1].value in _KEYWORDS
            or window[1].value.startswith("_")
        ):
            return None
        if state == _ESCAPE:
            return None  # the classifier refuses it, with its message
        wrapper = Classifier(mode)
        wrapper.state = state
        pieces.append((wrapper.wrapper(), window[1].value))
        index += 3
    return pieces
