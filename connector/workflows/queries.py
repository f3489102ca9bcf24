"""``jsonpath`` criteria read as the Arazzo specification and Redocly Respect read them.

The condition is one RFC 9535 JSONPath query (jsonpath-rfc9535, a conformant implementation),
applied to the criterion's ``context`` *wrapped in a one-element array*, and it holds when it
selects at least one node. The wrapping is what makes the specification's own example work
(``$[?count(@.pets) > 0]`` against ``$response.body``: the filter tests the body itself, not its
members) and is exactly what Respect does. So a batch that has ended is tested with
``$[?@.processing_status == 'ended']`` (parentheses around the filter are allowed too).

Embedded runtime expressions (``$[?@.id == {$inputs.id}]``) are replaced by their value as JSON
text before the query runs, as Respect does; such a query is compiled once per value.

A condition that is not an RFC 9535 query (the seed's ``$.processing_status != "ended"``) is
read by :mod:`connector.workflows.criteria` as the comparison-form extension; ``workflow
validate`` warns about it, since other runners read it as an invalid query (always false).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from .expressions import JSON, Scope, embedded_expressions, is_expression, parse_expression

if TYPE_CHECKING:
    from jsonpath_rfc9535 import JSONPathQuery

__all__ = ["compile_query", "is_query"]

Test = Callable[[Scope, JSON], bool]


class _NotAQuery(Exception):
    pass


@lru_cache(maxsize=256)
def _compiled(text: str) -> JSONPathQuery:
    # Imported on the first jsonpath criterion (with its regex engine, a tenth of a
    # workflow's start-up), not by every run of a document that has none.
    import jsonpath_rfc9535

    try:
        return jsonpath_rfc9535.compile(text)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise _NotAQuery(str(exc)) from None


def _substituted(condition: str, scope: Scope | None) -> str:
    """The condition with each embedded ``{$expr}`` replaced by its value's JSON text
    (``null`` when no scope is given: enough to check the syntax)."""
    for text in embedded_expressions(condition):
        if not is_expression(text):
            continue
        value = None if scope is None else parse_expression(text).evaluate(scope)
        condition = condition.replace("{" + text + "}", json.dumps(value))
    return condition


def is_query(condition: str) -> bool:
    """Whether ``condition`` is a well-formed RFC 9535 query (after embedded expressions)."""
    try:
        _compiled(_substituted(condition.strip(), None))
    except _NotAQuery:
        return False
    return True


def compile_query(condition: str) -> Test | None:
    """The test for an RFC 9535 ``condition``, or None when it is not a query."""
    text = condition.strip()
    if not is_query(text):
        return None
    if not embedded_expressions(text):
        query = _compiled(text)
        return lambda _scope, context: query.find_one([context]) is not None

    def test(scope: Scope, context: JSON) -> bool:
        try:
            query = _compiled(_substituted(text, scope))
        except _NotAQuery:
            return False  # a value that breaks the query (Respect: false as well)
        return query.find_one([context]) is not None

    return test
