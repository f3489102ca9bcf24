"""Criteria: simple, regex and jsonpath conditions, and their loose comparisons."""

from __future__ import annotations

import pytest

from connector.workflows.criteria import ConditionError, compare, compile_criterion
from connector.workflows.document import Criterion
from connector.workflows.expressions import Scope

SCOPE = Scope(
    inputs={"limit": 2, "name": "Ada"},
    status_code=200,
    response={
        "header": {"content-type": "application/json", "x-count": "12"},
        "body": {
            "processing_status": "ended",
            "ok": True,
            "items": [{"id": 1}, {"id": 2}],
            "n": 0,
            "s": "it's",
        },
    },
)


def _holds(condition: str, kind: str | None = None, context: str | None = None) -> bool:
    criterion = Criterion(condition=condition, type=kind, context=context)
    return compile_criterion(criterion).holds(SCOPE)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("$statusCode == 200", True),
        ("$statusCode != 200", False),
        ("$statusCode < 300 && $statusCode >= 200", True),
        ("$statusCode > 200 || $statusCode <= 100", False),
        ("!($statusCode == 404)", True),
        ("!$response.body#/ok", False),
        ("$response.body#/ok", True),
        ("$response.body#/n", False),
        ("$response.body#/processing_status == 'ENDED'", True),
        ('$response.body#/processing_status == "ended"', True),
        ("$response.body#/s == 'it''s'", True),
        ("$response.header.x-count > 10", True),
        ("$response.header.x-count == 12", True),
        ("$response.body#/items[1].id == 2", True),
        ("$response.body#/missing == null", True),
        ("$response.body#/ok == true && $inputs.limit == 2.0", True),
        ("$inputs.name < 'bob'", True),
        ("$inputs.name > 3", False),
        ("true", True),
        ("(($statusCode == 200))", True),
    ],
)
def test_simple_condition(condition: str, expected: bool) -> None:
    assert _holds(condition) is expected


@pytest.mark.parametrize(
    ("pattern", "context", "expected"),
    [
        ("^200$", "$statusCode", True),
        ("^2\\d\\d$", "$statusCode", True),
        ("json", "$response.header.content-type", True),
        ("^json", "$response.header.content-type", False),
        ('"ok":true', "$response.body", True),
    ],
)
def test_regex_condition_searches_the_context(pattern: str, context: str, expected: bool) -> None:
    """Patterns are searched, not full-matched: anchor them to match the whole value."""
    assert _holds(pattern, "regex", context) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # RFC 9535 queries over [context], holding when they select a node (spec and Respect)
        ("$[?@.processing_status == 'ended']", True),
        ("$[?(@.processing_status == 'ended')]", True),
        ('$[?@.processing_status == "running"]', False),
        ("$[?count(@.items[*]) > 1]", True),
        ("$[?count(@.items[*]) > 2]", False),
        ("$[?@.items[?@.id > 1]]", True),
        ("$[?@.items[?@.id > 5]]", False),
        ("$[0].items[*].id", True),
        ("$[?length(@.s) == 4]", True),
        ("$[?match(@.processing_status, 'end.*')]", True),
        ("$[?@.ok == true && @.n == 0]", True),
        ("$[?@.items[0].id < 2]", True),
        # a lone query is tested on [context], so '$.items' selects nothing, as in Respect
        ("$.items[*].id", False),
        ("$.nothing", False),
        # the comparison form (an extension: not RFC 9535 queries)
        ('$.processing_status != "ended"', False),
        ('$.processing_status == "ended"', True),
        ("$.items[1].id == 2", True),
        ("$.missing != 'x'", True),
        ("$.n == 0 && $.ok", True),
        ("$.items[0].id < $inputs.limit", True),
    ],
)
def test_jsonpath_condition(condition: str, expected: bool) -> None:
    assert _holds(condition, "jsonpath", "$response.body") is expected


def test_the_specifications_own_jsonpath_example_holds() -> None:
    # Arazzo 1.0.1 §4.6.21: context $response.body, condition $[?count(@.pets) > 0]
    scope = Scope(response={"body": {"pets": [{"name": "Rex"}]}})
    criterion = Criterion(
        condition="$[?count(@.pets) > 0]", type="jsonpath", context="$response.body"
    )
    compiled = compile_criterion(criterion)
    assert compiled.dialect == "rfc9535"
    assert compiled.holds(scope)
    # count() counts the nodes @.pets selects (one list), so it tests that pets is there
    assert compiled.holds(Scope(response={"body": {"pets": []}}))
    assert not compiled.holds(Scope(response={"body": {"cats": [1]}}))


def test_a_query_embeds_runtime_expressions_as_json_values() -> None:
    criterion = Criterion(
        condition="$[?@.items[0].id < {$inputs.limit} && @.s == {$inputs.name}]",
        type="jsonpath",
        context="$response.body",
    )
    assert compile_criterion(criterion).dialect == "rfc9535"
    assert not compile_criterion(criterion).holds(SCOPE)  # s is "it's", not "Ada"
    scope = Scope(inputs={"limit": 2, "name": "it's"}, response=SCOPE.response)
    assert compile_criterion(criterion).holds(scope)


def test_the_comparison_form_is_marked_as_the_extension() -> None:
    seed = Criterion(
        condition='$.processing_status != "ended"', type="jsonpath", context="$response.body"
    )
    assert compile_criterion(seed).dialect == "comparison"


def test_jsonpath_condition_accepts_an_expression_type_object() -> None:
    kind = {"type": "jsonpath", "version": "rfc9535"}
    assert _holds("$.ok == true", kind, "$response.body")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("condition", "kind", "context", "field"),
    [
        ("$statusCode ==", None, None, "condition"),
        ("$statusCode == 'open", None, None, "condition"),
        ("($statusCode == 200", None, None, "condition"),
        ("$statusCode ~ 2", None, None, "condition"),
        ("$statuscode == 200", None, None, "condition"),
        ("", None, None, "condition"),
        ("[", "regex", "$statusCode", "condition"),
        ("^2", "regex", None, "context"),
        ("/a", "xpath", "$response.body", "type"),
    ],
)
def test_compile_criterion_refuses(
    condition: str, kind: str | None, context: str | None, field: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_criterion(Criterion(condition=condition, type=kind, context=context))
    assert caught.value.field == field


def test_observed_reports_the_values_seen() -> None:
    compiled = compile_criterion(Criterion(condition="$statusCode == 201"))
    assert compiled.observed(SCOPE) == 200
    both = compile_criterion(Criterion(condition="$statusCode == 201 && $inputs.limit > 3"))
    assert both.observed(SCOPE) == {"$statusCode": 200, "$inputs.limit": 2}


def test_compare_keeps_booleans_apart_from_numbers() -> None:
    assert not compare("==", True, 1)
    assert compare("==", "200", 200)
    assert not compare("<", None, 1)
    assert compare("!=", [1], [2])
