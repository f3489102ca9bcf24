"""Criteria: ``simple``, ``regex`` and ``jsonpath`` conditions, compiled once, tested per step.

* ``simple``: comparisons ``== != < <= > >=`` joined by ``&& || !`` and parentheses, over
  runtime expressions and literals (numbers, ``'single'`` or ``"double"`` quoted strings,
  ``true``, ``false``, ``null``), with ``[index]`` and ``.name`` after an operand. A lone
  operand is read for its truth (``$response.body#/ok``). Comparisons are loose, as the
  specification asks: strings compare case-insensitively, and a number compares with a
  numeric string (a header value) by value.
* ``regex``: Python's ``re`` syntax, *searched* in the context's text (not full-matched): the
  specification's own example anchors its pattern (``^200$``), which only makes sense for a
  search. Anchor the pattern to match the whole value.
* ``jsonpath``: an RFC 9535 query over the context, holding when it selects a node, exactly
  as the specification and Redocly Respect read it (:mod:`connector.workflows.queries`:
  ``$[?@.processing_status == 'ended']``). A condition that is not a query is read as the
  *comparison-form extension*: the same little language as ``simple``, but ``$`` at the start
  of an operand (``$.a``, ``$[...]``, ``$..x``) is a JSONPath query (jsonpath-ng's extended
  dialect) over the context itself, and a query compared with a value takes its single match
  (``null`` when it matches nothing, the list of matches when several). That keeps the seed's
  ``$.processing_status != "ended"`` running as written; ``workflow validate`` warns about it,
  because other runners read it as an invalid query, which never holds.

``xpath`` is refused when the document loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .conditions import ConditionError, Evaluator, compare, compile_condition
from .document import Criterion
from .expressions import JSON, Expression, Scope, parse_expression
from .queries import compile_query

# ConditionError, compile_condition and compare live in .conditions (re-exported here).
__all__ = [
    "CompiledCriterion",
    "ConditionError",
    "compare",
    "compile_condition",
    "compile_criterion",
]

JSONPATH_VERSIONS = ("rfc9535", "draft-goessner-dispatch-jsonpath-00")


@dataclass(frozen=True)
class CompiledCriterion:
    """A criterion ready to test: ``holds(scope)`` and ``observed(scope)`` (what was seen)."""

    condition: str
    kind: str
    context: Expression | None
    _test: Callable[[Scope, JSON], bool]
    _operands: tuple[tuple[str, Evaluator], ...]
    dialect: str = ""
    """For ``jsonpath``: ``rfc9535`` (a query) or ``comparison`` (the extension)."""

    def holds(self, scope: Scope) -> bool:
        """Whether the condition is true for this scope."""
        return self._test(scope, self._context(scope))

    def observed(self, scope: Scope) -> JSON:
        """The values the condition looked at: one value, or a mapping of operand to value."""
        context = self._context(scope)
        if self.kind == "regex":
            return context
        if self.dialect == "rfc9535":
            return context
        seen = {text: evaluate(scope, context) for text, evaluate in self._operands}
        return next(iter(seen.values())) if len(seen) == 1 else seen

    def _context(self, scope: Scope) -> JSON:
        return None if self.context is None else self.context.evaluate(scope)


def compile_criterion(criterion: Criterion) -> CompiledCriterion:
    """Compile a :class:`Criterion`; :class:`ConditionError` or ExpressionError when it cannot."""
    kind = criterion.kind
    if isinstance(criterion.type, Mapping) and kind == "jsonpath":
        version = criterion.type.get("version")
        if version not in JSONPATH_VERSIONS:
            raise ConditionError(
                f"unknown jsonpath version {version!r}; allowed: {', '.join(JSONPATH_VERSIONS)}",
                condition=criterion.condition,
                field="type",
            )
    if kind not in ("simple", "regex", "jsonpath"):
        raise ConditionError(
            f"criterion type {kind!r} is not supported; allowed: simple, regex, jsonpath",
            condition=criterion.condition,
            field="type",
        )
    if kind != "simple" and criterion.context is None:
        raise ConditionError(
            f"a {kind} criterion needs a context", condition=criterion.condition, field="context"
        )
    context = parse_expression(criterion.context) if criterion.context else None
    if kind == "regex":
        try:
            pattern = re.compile(criterion.condition)
        except re.error as exc:
            raise ConditionError(
                f"invalid regular expression: {exc}",
                condition=criterion.condition,
                position=exc.pos,
            ) from None
        return CompiledCriterion(
            criterion.condition, kind, context, lambda _s, c: bool(pattern.search(_text(c))), ()
        )
    if kind == "jsonpath":
        query = compile_query(criterion.condition)
        if query is not None:
            return CompiledCriterion(criterion.condition, kind, context, query, (), "rfc9535")
    test, operands = compile_condition(criterion.condition, jsonpath=kind == "jsonpath")
    dialect = "comparison" if kind == "jsonpath" else ""
    return CompiledCriterion(criterion.condition, kind, context, test, tuple(operands), dialect)


def _text(value: JSON) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
