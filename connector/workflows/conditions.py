"""The condition language of ``simple`` criteria (and of the ``jsonpath`` comparison-form
extension): comparisons ``== != < <= > >=`` joined by ``&& || !`` and parentheses, over runtime
expressions and literals, compiled once into a test (:mod:`.criteria` says how each criterion
type uses it). Comparisons are loose, as the Arazzo specification asks."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jsonpath_ng.ext.parser import parse as parse_jsonpath

from connector.errors import WorkflowError

from .expressions import JSON, ExpressionError, Scope, parse_expression

__all__ = ["ConditionError", "Evaluator", "compare", "compile_condition"]


class ConditionError(WorkflowError):
    """A criterion that does not compile.

    ``field`` names the criterion's key at fault (``condition``, ``type`` or ``context``);
    ``condition`` is its text and ``position`` the offset of the problem in it.
    """

    def __init__(
        self, message: str, *, condition: str, position: int | None = None, field: str = "condition"
    ) -> None:
        super().__init__(message)
        self.condition = condition
        self.position = position
        self.field = field


Evaluator = Callable[[Scope, JSON], JSON]


def compile_condition(
    condition: str, *, jsonpath: bool = False
) -> tuple[Callable[[Scope, JSON], bool], list[tuple[str, Evaluator]]]:
    """Compile a simple (or jsonpath-flavoured) condition into a test and its operands."""
    parser = _Parser(condition, jsonpath)
    node = parser.parse()
    return (lambda scope, context: _truth(node(scope, context))), parser.operands


# Token kinds: op, lparen, rparen, lbracket, rbracket, dot, value (literal), expr, query, name.
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_EXPR_CHARS = re.compile(r"\$[^\s()\[\]=!<>&|]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int
    value: JSON = None


def _tokenize(text: str, jsonpath: bool) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()[].":
            kind = {"(": "lparen", ")": "rparen", "[": "lbracket", "]": "rbracket", ".": "dot"}
            tokens.append(_Token(kind[char], char, i))
            i += 1
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", op, i))
            i += len(op)
        elif char in "'\"":
            end, value = _string(text, i)
            tokens.append(_Token("value", text[i:end], i, value))
            i = end
        elif char == "$":
            if jsonpath and (i + 1 == len(text) or text[i + 1] in ".[ \t"):
                end = _query_end(text, i)
                tokens.append(_Token("query", text[i:end], i))
            else:
                end = _EXPR_CHARS.match(text, i).end()  # type: ignore[union-attr]
                tokens.append(_Token("expr", text[i:end], i))
            i = end
        elif number := _NUMBER.match(text, i):
            literal = number.group(0)
            number_value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            tokens.append(_Token("value", literal, i, number_value))
            i = number.end()
        elif name := _NAME.match(text, i):
            word = name.group(0)
            literals = {"true": True, "false": False, "null": None}
            tokens.append(
                _Token("value" if word in literals else "name", word, i, literals.get(word))
            )
            i = name.end()
        else:
            raise ConditionError(f"unexpected {char!r} at {i}", condition=text, position=i)
    return tokens


def _string(text: str, start: int) -> tuple[int, str]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        char = text[i]
        if char == quote and text.startswith(quote * 2, i):
            out.append(quote)
            i += 2
        elif char == quote:
            return i + 1, "".join(out)
        elif char == "\\" and i + 1 < len(text) and quote == '"':
            out.append(text[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    raise ConditionError(f"unterminated string starting at {start}", condition=text, position=start)


def _query_end(text: str, start: int) -> int:
    """A JSONPath query runs to the first space, operator or ')' outside brackets and quotes."""
    depth, i, quote = 0, start, ""
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[" or (char == "(" and depth):
            depth += 1
        elif char in "])" and depth:
            depth -= 1
        elif depth == 0 and (char.isspace() or char in "=!<>&|)"):
            break
        i += 1
    return i


Node = Callable[[Scope, JSON], JSON]


class _Parser:
    """Recursive descent over the tokens; each rule returns a closure (scope, context) -> value."""

    def __init__(self, text: str, jsonpath: bool) -> None:
        self.text = text
        self.tokens = _tokenize(text, jsonpath)
        self.i = 0
        self.operands: list[tuple[str, Evaluator]] = []

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("empty condition", condition=self.text, position=0)
        node = self._or()
        if self.i < len(self.tokens):
            token = self.tokens[self.i]
            raise ConditionError(
                f"unexpected {token.text!r} at {token.position}",
                condition=self.text,
                position=token.position,
            )
        return node

    def _peek(self, *texts: str) -> _Token | None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        return token if token is not None and token.text in texts else None

    def _take(self) -> _Token:
        if self.i >= len(self.tokens):
            raise ConditionError(
                "condition ends too early", condition=self.text, position=len(self.text)
            )
        self.i += 1
        return self.tokens[self.i - 1]

    def _or(self) -> Node:
        node = self._and()
        while self._peek("||") and self._take():
            left, right = node, self._and()
            node = _either(left, right)
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._peek("&&") and self._take():
            left, right = node, self._not()
            node = _both(left, right)
        return node

    def _not(self) -> Node:
        if self._peek("!") and self._take():
            inner = self._not()
            return lambda s, c: not _truth(inner(s, c))
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._postfix(self._primary())
        token = self._peek("==", "!=", "<", "<=", ">", ">=")
        if token is None:
            return left
        self._take()
        right = self._postfix(self._primary())
        return lambda s, c: compare(token.text, _single(left(s, c)), _single(right(s, c)))

    def _primary(self) -> Node:
        token = self._take()
        if token.kind == "lparen":
            node = self._or()
            if self._take().kind != "rparen":
                raise ConditionError("missing ')'", condition=self.text, position=token.position)
            return node
        if token.kind == "value":
            value = token.value
            return lambda _s, _c: value
        if token.kind == "expr":
            try:
                expression = parse_expression(token.text)
            except ExpressionError as exc:
                raise ConditionError(
                    str(exc), condition=self.text, position=token.position
                ) from None
            evaluate: Evaluator = lambda s, _c: expression.evaluate(s)  # noqa: E731
            self.operands.append((token.text, evaluate))
            return evaluate
        if token.kind == "query":
            try:
                query = parse_jsonpath(token.text)
            except Exception as exc:  # jsonpath-ng raises several unrelated types
                raise ConditionError(
                    f"invalid JSONPath {token.text!r}: {exc}",
                    condition=self.text,
                    position=token.position,
                ) from None
            evaluate = lambda _s, c: _Matches(m.value for m in query.find(c))  # noqa: E731
            self.operands.append((token.text, lambda s, c: _single(evaluate(s, c))))
            return evaluate
        raise ConditionError(
            f"unexpected {token.text!r} at {token.position}",
            condition=self.text,
            position=token.position,
        )

    def _postfix(self, node: Node) -> Node:
        while True:
            if self._peek("[") and self._take():
                key = self._take()
                if key.kind != "value" or self._take().kind != "rbracket":
                    raise ConditionError(
                        "expected [index]", condition=self.text, position=key.position
                    )
                node = _indexed(node, key.value)
            elif self._peek(".") and self._take():
                key = self._take()
                if key.kind != "name":
                    raise ConditionError(
                        "expected .name", condition=self.text, position=key.position
                    )
                node = _indexed(node, key.text)
            else:
                return node


def _either(left: Node, right: Node) -> Node:
    return lambda s, c: _truth(left(s, c)) or _truth(right(s, c))


def _both(left: Node, right: Node) -> Node:
    return lambda s, c: _truth(left(s, c)) and _truth(right(s, c))


def _indexed(node: Node, key: JSON) -> Node:
    return lambda s, c: _index(_single(node(s, c)), key)


class _Matches(list[JSON]):
    """The nodes a JSONPath query matched (truthy when there is at least one)."""


def _single(value: JSON) -> JSON:
    if isinstance(value, _Matches):
        if not value:
            return None
        return value[0] if len(value) == 1 else list(value)
    return value


def _truth(value: JSON) -> bool:
    return len(value) > 0 if isinstance(value, _Matches) else bool(value)


def _index(value: JSON, key: JSON) -> JSON:
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    if isinstance(value, Mapping) and isinstance(key, str):
        return value.get(key)
    return None


def compare(op: str, left: JSON, right: JSON) -> bool:
    """Loose comparison: case-insensitive strings, numbers with numeric strings, bools apart."""
    left, right = _coerce(left, right)
    if op in ("==", "!="):
        equal = _equal(left, right)
        return equal if op == "==" else not equal
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not all(isinstance(v, str) for v in (left, right)):
        return False
    a, b = (left.casefold(), right.casefold()) if isinstance(left, str) else (left, right)
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _coerce(left: JSON, right: JSON) -> tuple[JSON, JSON]:
    def number(v: JSON) -> JSON:
        if isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
            return float(v) if any(c in v for c in ".eE") else int(v)
        return v

    def is_number(v: JSON) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if is_number(left) and isinstance(right, str):
        return left, number(right)
    if is_number(right) and isinstance(left, str):
        return number(left), right
    return left, right


def _equal(left: JSON, right: JSON) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return bool(left == right)
