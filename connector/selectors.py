"""Selectors: where a field's value lives in a JSON document, compiled once at load.

Two spellings are accepted, as the Corteza format allows:

* a Corteza array: ``["content", 0, "text"]`` (string keys, integer indices, ``"*"`` to fan
  out over a list, so ``["data", "*", "id"]`` gives a list of ids);
* a JSONPath string starting with ``$`` (jsonpath-ng's extended dialect): ``"$.usage.input_tokens"``.

A path that does not exist selects ``None``; selecting never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from jsonpath_ng.ext import parser as jsonpath_parser
from jsonpath_ng.ext.arithmetic import Operation
from jsonpath_ng.ext.filter import Expression
from jsonpath_ng.ext.string import Sub

from .types import JSON

__all__ = [
    "FieldType",
    "Selector",
    "SelectorSyntaxError",
    "compile_selector",
    "convert_value",
    "path_selector",
]

FieldType = Literal["String", "Integer", "Number", "Boolean", "DateTime", "Object", "Array"]

SelectorSpec = Sequence[str | int] | str


class SelectorSyntaxError(Exception):
    """Raised at load for a selector that cannot compile; turned into a located DefinitionError."""


class Selector:
    """A compiled selector; ``select(document)`` returns the value or ``None``.

    >>> compile_selector(["content", 0, "text"]).select({"content": [{"text": "Hi"}]})
    'Hi'
    """

    __slots__ = ("_jsonpath", "_steps", "spec")

    def __init__(self, spec: SelectorSpec) -> None:
        self.spec = spec
        self._steps: tuple[str | int, ...] | None = None
        self._jsonpath = None
        if isinstance(spec, str):
            if not spec.startswith("$"):
                raise SelectorSyntaxError("a string selector must be JSONPath starting with '$'")
            self._jsonpath = _parse(spec)
        else:
            steps = tuple(spec)
            for step in steps:
                if isinstance(step, bool) or not isinstance(step, str | int):
                    raise SelectorSyntaxError(
                        f"selector steps are string keys or integer indices, not {step!r}"
                    )
            if any(isinstance(step, str) and _FILTER.match(step) for step in steps):
                # Corteza's filter segment (``headers[name=From]``): the first item of the list
                # whose field equals the value, done by the equivalent JSONPath filter.
                self.spec = _filter_path(steps)
                self._jsonpath = _parse(self.spec)
                return
            self._steps = steps

    @property
    def steps(self) -> tuple[str | int, ...] | None:
        """The steps of a Corteza array selector (``None`` for JSONPath)."""
        return self._steps

    def select(self, document: JSON) -> JSON:
        """The value at this selector in ``document``, or ``None`` where the path is missing."""
        if self._steps is not None:
            return _walk(document, self._steps)
        assert self._jsonpath is not None
        try:
            matches = [m.value for m in self._jsonpath.find(document)]
        except Exception:  # a JSONPath filter applied to an odd shape; missing means None
            return None
        if not matches:
            return None
        return matches[0] if len(matches) == 1 else matches

    def __repr__(self) -> str:
        return f"Selector({self.spec!r})"


_FILTER = re.compile(r"^(?P<key>[^\[\]=]*)\[(?P<field>[A-Za-z0-9_.-]+)=(?P<value>[^\]]*)\]$")


def _filter_path(steps: Sequence[str | int]) -> str:
    """The JSONPath equivalent of Corteza steps with filter segments."""
    path = "$"
    for step in steps:
        if isinstance(step, int):
            path += f"[{step}]"
            continue
        if step == "*":
            path += "[*]"
            continue
        match = _FILTER.match(step)
        if match is None:
            path += "[" + json.dumps(step) + "]"
            continue
        if match["key"]:
            path += "[" + json.dumps(match["key"]) + "]"
        value = match["value"].replace("\\", "\\\\").replace("'", "\\'")
        path += f"[?(@.{match['field']}=='{value}')]"
    return path


def _reusing_lexer(base: Any) -> Any:
    """jsonpath-ng's lexer builds a new ply lexer (its master regular expression and rule
    tables) for every text it tokenizes, about a quarter of a millisecond: the rules are
    stateless, so one is built per process and each text gets a fresh clone of it (own
    position, state stack and string buffer). Falls back to the library's own tokenize when
    its internals are not what this expects."""

    class ReusingLexer(base):  # type: ignore[misc]
        _built: Any = None

        def tokenize(self, string: str) -> Any:
            built = type(self)._built
            if built is None:
                try:
                    from jsonpath_ng import _ply  # the lexer generator jsonpath-ng vendors
                    from jsonpath_ng.lexer import logger

                    built = _ply.lex.lex(  # type: ignore[no-untyped-call]
                        module=self,
                        debug=False,
                        optimize=True,
                        lextab=self._ply_table_module,
                        errorlog=logger,
                    )
                except Exception:  # another jsonpath-ng layout: its own, slower, path
                    yield from super().tokenize(string)
                    return
                type(self)._built = built
            lexer = built.clone()
            lexer.lexstatestack = []
            lexer.begin("INITIAL")
            lexer.latest_newline = 0
            lexer.string_value = None
            lexer.input(string)
            while (token := lexer.token()) is not None:
                token.col = token.lexpos - lexer.latest_newline
                yield token
            if lexer.string_value is not None:
                from jsonpath_ng.exceptions import JsonPathLexerError

                raise JsonPathLexerError("Unexpected EOF in string literal or identifier")

    return ReusingLexer


@lru_cache(maxsize=1)
def _parser() -> Any:
    # jsonpath-ng's parse() builds a new parser (ply's tables) on every call: ~3 ms each.
    # The class was spelled "Extented" before jsonpath-ng 1.7; the old name now warns.
    parser_class: Any = getattr(jsonpath_parser, "ExtendedJsonPathParser", None)
    parser_class = parser_class or jsonpath_parser.ExtentedJsonPathParser
    lexer_class = getattr(jsonpath_parser, "ExtendedJsonPathLexer", None)
    if lexer_class is None:
        return parser_class()
    return parser_class(lexer_class=_reusing_lexer(lexer_class))


@lru_cache(maxsize=8192)
def _parse(spec: str) -> Any:
    """Parse JSONPath once per text (jsonpath-ng's parser costs about a millisecond) and refuse
    what could cost more than linear time per record."""
    try:
        parsed = _parser().parse(spec)
    except Exception as exc:  # jsonpath-ng raises several unrelated types
        raise SelectorSyntaxError(f"invalid JSONPath: {exc}") from None
    _refuse_unbounded(parsed)
    return parsed


def _refuse_unbounded(parsed: object) -> None:
    """Refuse regular expressions (``=~``, ``sub(/re/, ...)``: Python's engine backtracks, so
    ``(a+)+$`` takes seconds per record) and arithmetic (``$.a * 100000000`` builds a huge
    string per record). A selector selects; it does not compute."""
    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, Expression) and node.op == "=~":
            raise SelectorSyntaxError(
                "regular expression filters (=~) are not allowed in selectors: they can take "
                "exponential time per record; compare with ==, !=, <, > instead"
            )
        if isinstance(node, Sub):
            raise SelectorSyntaxError(
                "sub(/regex/, ...) is not allowed in selectors: a regular expression can take "
                "exponential time per record"
            )
        if isinstance(node, Operation):
            raise SelectorSyntaxError("arithmetic is not allowed in selectors")
        if isinstance(node, list | tuple):
            stack.extend(node)
        elif hasattr(node, "__dict__"):
            stack.extend(vars(node).values())


def _walk(value: JSON, steps: Sequence[str | int]) -> JSON:
    for index, step in enumerate(steps):
        if step == "*":
            if not isinstance(value, list):
                return None
            rest = steps[index + 1 :]
            return [_walk(item, rest) for item in value]
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        if value is None:
            return None
    return value


def compile_selector(spec: SelectorSpec) -> Selector:
    """Compile a Corteza array or a JSONPath string; raises SelectorSyntaxError if it cannot."""
    return Selector(spec)


def convert_value(value: JSON, field_type: FieldType) -> JSON | datetime:
    """Give a selected value its field type (``DateTime`` becomes an aware ``datetime``).

    A value that does not convert is returned unchanged rather than lost: the record keeps
    what the API sent.
    """
    if value is None:
        return None
    try:
        if field_type == "DateTime" and isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if field_type == "Integer" and not isinstance(value, bool):
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                return int(value)
        if field_type == "Number" and isinstance(value, str):
            return float(value)
        if (
            field_type == "String"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return str(value)
    except ValueError:
        return value
    return value


def iter_selected(selector: Selector, documents: Iterable[JSON]) -> list[JSON]:
    """Select from several documents at once (a convenience for list responses)."""
    return [selector.select(doc) for doc in documents]


def path_selector(text: str) -> list[str | int] | str:
    """Corteza's string paths (``responseMap``, webhook ``mapping``): JSONPath when it starts
    with ``$``, else dotted steps where digits are indices (``items.0.id``)."""
    if text.startswith("$"):
        return text
    return [int(step) if step.isdigit() else step for step in text.split(".") if step]
