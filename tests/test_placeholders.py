"""Placeholders: typed inputs coerced from command-line strings, all problems reported at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import InputError
from connector.definitions import Placeholder
from connector.placeholders import _Mistyped, coerce_inputs, coerce_value


@pytest.mark.parametrize(
    ("type_name", "given_value", "expected"),
    [
        ("Integer", "100", 100),
        ("Integer", " 7 ", 7),
        ("Integer", "-3", -3),
        ("Integer", 5, 5),
        ("Integer", 5.0, 5),
        ("Number", "0.5", 0.5),
        ("Number", "2", 2),
        ("Number", "2.0", 2.0),
        ("Number", 3, 3),
        ("Number", 1.25, 1.25),
        ("Boolean", "true", True),
        ("Boolean", "False", False),
        ("Boolean", "yes", True),
        ("Boolean", "0", False),
        ("Boolean", "ON", True),
        ("Boolean", True, True),
        ("String", "100", "100"),
        ("String", 100, "100"),
        ("String", "", ""),
        ("DateTime", "2025-01-31T12:00:00Z", "2025-01-31T12:00:00Z"),
        ("DateTime", datetime(2025, 1, 31, tzinfo=UTC), "2025-01-31T00:00:00+00:00"),
        ("Object", '{"a": [1]}', {"a": [1]}),
        ("Object", {"a": 1}, {"a": 1}),
        ("Array", "[1, 2]", [1, 2]),
        ("Array", ("x", "y"), ["x", "y"]),
        ("Array", [], []),
    ],
)
def test_coerce_value_converts(type_name: str, given_value: Any, expected: Any) -> None:
    """CLI strings and native values become the placeholder's type (`max_tokens=100` → 100)."""
    result = coerce_value(given_value, type_name)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "given_value"),
    [
        ("Integer", "abc"),
        ("Integer", "1.5"),
        ("Integer", 1.5),
        ("Integer", True),
        ("Integer", None),
        ("Number", "nan"),
        ("Number", "inf"),
        ("Number", "x"),
        ("Number", False),
        ("Boolean", "maybe"),
        ("Boolean", 1),
        ("String", None),
        ("String", True),
        ("String", {"a": 1}),
        ("DateTime", "yesterday"),
        ("DateTime", 5),
        ("Object", "[1]"),
        ("Object", "{not json"),
        ("Array", '{"a": 1}'),
        ("Array", 5),
        ("Colour", "red"),
    ],
)
def test_coerce_value_refuses(type_name: str, given_value: Any) -> None:
    with pytest.raises(_Mistyped):
        coerce_value(given_value, type_name)


@settings(max_examples=200, deadline=None)
@given(number=st.integers(min_value=-(10**30), max_value=10**30))
def test_coerce_value_integer_strings_round_trip(number: int) -> None:
    assert coerce_value(str(number), "Integer") == number


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_coerce_value_string_keeps_any_text(text: str) -> None:
    assert coerce_value(text, "String") == text


def _placeholders() -> list[Placeholder]:
    return [
        Placeholder(name="model", type="String", required=True, description="Model to use."),
        Placeholder(name="max_tokens", type="Integer", required=True),
        Placeholder(name="stream", type="Boolean", default=False),
        Placeholder(name="batch_id", type="String", aliases=["message_batch_id"]),
        Placeholder(name="tier", type="String", options=["auto", "standard_only"]),
        Placeholder(name="token", type="Integer", secret=True),
    ]


def test_coerce_inputs_types_values_and_applies_defaults() -> None:
    values = coerce_inputs(_placeholders(), {"model": "m", "max_tokens": "100"})
    assert values == {"model": "m", "max_tokens": 100, "stream": False}


def test_coerce_inputs_lists_every_problem_at_once() -> None:
    """Missing, mistyped and undeclared inputs come back together in one InputError."""
    with pytest.raises(InputError) as caught:
        coerce_inputs(
            _placeholders(),
            {"max_tokens": "lots", "colour": "red"},
            resource="messages",
            operation="create",
        )
    error = caught.value
    assert {p.parameter for p in error.problems} == {"max_tokens", "colour", "model"}
    by_name = {p.parameter: p for p in error.problems}
    assert by_name["max_tokens"].found == "lots"
    assert "Integer" in by_name["max_tokens"].message
    assert "model" in by_name["colour"].message  # the known names are listed
    assert "required" in by_name["model"].message
    assert "Model to use." in by_name["model"].message
    assert (error.resource, error.operation) == ("messages", "create")
    assert "messages.create" in str(error)


def test_coerce_inputs_alias_binds_to_its_placeholder() -> None:
    values = coerce_inputs(
        _placeholders(), {"model": "m", "max_tokens": 1, "message_batch_id": "b"}
    )
    assert values["batch_id"] == "b"


def test_coerce_inputs_name_and_alias_together_is_a_problem() -> None:
    with pytest.raises(InputError) as caught:
        coerce_inputs(
            _placeholders(),
            {"model": "m", "max_tokens": 1, "batch_id": "a", "message_batch_id": "b"},
        )
    assert caught.value.problems[0].parameter == "message_batch_id"
    assert "twice" in caught.value.problems[0].message


def test_coerce_inputs_options_are_enforced() -> None:
    with pytest.raises(InputError) as caught:
        coerce_inputs(_placeholders(), {"model": "m", "max_tokens": 1, "tier": "premium"})
    problem = caught.value.problems[0]
    assert problem.parameter == "tier"
    assert "standard_only" in problem.message


def test_coerce_inputs_optional_names_are_not_required() -> None:
    """A body given whole makes the body placeholders optional for that call."""
    values = coerce_inputs(_placeholders(), {}, optional=frozenset({"model", "max_tokens"}))
    assert values == {"stream": False}


def test_coerce_inputs_secret_value_is_never_echoed() -> None:
    """A mistyped secret placeholder is reported without its value."""
    with pytest.raises(InputError) as caught:
        coerce_inputs(
            _placeholders(),
            {"model": "m", "max_tokens": 1, "token": "sk-ant-supersecret"},
        )
    error = caught.value
    assert error.problems[0].parameter == "token"
    assert error.problems[0].found is None
    assert "sk-ant-supersecret" not in str(error)
    assert "sk-ant-supersecret" not in repr(error.problems)
