"""Runtime expressions: the grammar, evaluation, embedding and literal dollars."""

from __future__ import annotations

import pytest

from connector.workflows.expressions import (
    ExpressionError,
    Scope,
    is_expression,
    parse_expression,
    resolve_pointer,
    resolve_value,
)

SCOPE = Scope(
    inputs={"apiKey": "k", "user": {"name": "Ada"}, "n": 3},
    steps={"submit": {"batchId": "b1", "a.b": "dotted"}},
    workflows={"other": {"token": "t"}},
    outputs={"sub": {"x": [10, 20]}},
    url="http://h/v1/x",
    method="GET",
    status_code=200,
    request={
        "header": {"X-Api-Key": "k"},
        "query": {"limit": 5},
        "path": {"id": "p"},
        "body": {"q": 1},
    },
    response={
        "header": {"Retry-After": "3"},
        "body": {"id": "r", "items": [{"id": 7}], "a/b": 1, "m~n": 2},
    },
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$url", "http://h/v1/x"),
        ("$method", "GET"),
        ("$statusCode", 200),
        ("$request.header.x-api-key", "k"),
        ("$request.query.limit", 5),
        ("$request.path.id", "p"),
        ("$request.body#/q", 1),
        ("$response.header.retry-after", "3"),
        ("$response.body", SCOPE.response["body"]),
        ("$response.body#/id", "r"),
        ("$response.body#/items/0/id", 7),
        ("$response.body#/a~1b", 1),
        ("$response.body#/m~0n", 2),
        ("$response.body#/missing/deep", None),
        ("$inputs.apiKey", "k"),
        ("$inputs.user.name", "Ada"),
        ("$inputs.user#/name", "Ada"),
        ("$steps.submit.outputs.batchId", "b1"),
        ("$steps.submit.outputs.a.b", "dotted"),
        ("$steps.ghost.outputs.x", None),
        ("$workflows.other.outputs.token", "t"),
        ("$outputs.sub#/x/1", 20),
    ],
)
def test_expression_evaluates(text: str, value: object) -> None:
    assert parse_expression(text).evaluate(SCOPE) == value


@pytest.mark.parametrize(
    "text", ["$", "$inputs", "$5", "$response.bdy", "$steps.x.batchId", "inputs.x", "$statusCode2"]
)
def test_parse_expression_refuses_non_expressions(text: str) -> None:
    assert not is_expression(text)
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert caught.value.expression == text


def test_resolve_value_embeds_and_keeps_literal_dollars() -> None:
    """A '$' that does not start an expression stays as written (Redocly #2798)."""
    payload = {
        "auth": "Bearer {$inputs.apiKey}",
        "count": "$inputs.n",
        "price": "$5.00",
        "template": "$inputs",
        "mixed": ["cost: $1", "{$statusCode}/{$inputs.user}", "{$not.an.expression}"],
        "nested": {"id": "$steps.submit.outputs.batchId", "n": 1, "t": True, "z": None},
    }
    assert resolve_value(payload, SCOPE) == {
        "auth": "Bearer k",
        "count": 3,
        "price": "$5.00",
        "template": "$inputs",
        "mixed": ["cost: $1", '200/{"name":"Ada"}', "{$not.an.expression}"],
        "nested": {"id": "b1", "n": 1, "t": True, "z": None},
    }


def test_resolve_pointer_handles_lists_and_misses() -> None:
    document = {"a": [1, {"b": 2}]}
    assert resolve_pointer(document, "") == document
    assert resolve_pointer(document, "/a/1/b") == 2
    assert resolve_pointer(document, "/a/9") is None
    assert resolve_pointer(document, "/a/x") is None
    assert resolve_pointer(3, "/a") is None
