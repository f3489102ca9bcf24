"""Selectors: Corteza arrays and JSONPath, compiled once; a missing path selects None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.definitions import Field
from connector.responses import extract_record
from connector.selectors import Selector, SelectorSyntaxError, compile_selector, convert_value

MESSAGE = {
    "id": "msg_1",
    "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}],
    "usage": {"input_tokens": 8, "output_tokens": 9},
    "stop_sequence": None,
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["id"], "msg_1"),
        (["content", 0, "text"], "Hi"),
        (["content", -1, "text"], "there"),
        (["content", "*", "text"], ["Hi", "there"]),
        (["usage", "input_tokens"], 8),
        ([], MESSAGE),
        ("$.usage.output_tokens", 9),
        ("$.content[1].text", "there"),
        ("$.content[*].text", ["Hi", "there"]),
        ("$.content[?type == 'text'].text", ["Hi", "there"]),
    ],
)
def test_selector_select_finds_the_value(spec: Any, expected: Any) -> None:
    assert compile_selector(spec).select(MESSAGE) == expected


@pytest.mark.parametrize(
    "spec",
    [
        ["missing"],
        ["content", 5, "text"],
        ["content", "text"],
        ["id", "deeper"],
        ["usage", 0],
        ["stop_sequence", "x"],
        ["content", 0, "text", "*"],
        "$.missing",
        "$.content[9].text",
    ],
)
def test_selector_select_missing_path_is_none(spec: Any) -> None:
    """A path that does not exist selects None; selecting never raises."""
    assert compile_selector(spec).select(MESSAGE) is None


@pytest.mark.parametrize("document", [None, 5, "text", [], {}, [1, 2], {"content": "x"}])
def test_selector_select_on_odd_shapes_is_none(document: Any) -> None:
    assert compile_selector(["content", 0, "text"]).select(document) is None
    assert compile_selector("$.content[0].text").select(document) is None


@pytest.mark.parametrize(
    "spec",
    ["id", "content.0", "$[[[", "$..[", ["a", 1.5], ["a", None], ["a", True], ["a", ["b"]]],
)
def test_compile_selector_refuses_bad_specs(spec: Any) -> None:
    with pytest.raises(SelectorSyntaxError):
        compile_selector(spec)


def test_selector_repr_shows_the_spec() -> None:
    assert repr(Selector(["a", 0])) == "Selector(['a', 0])"


@settings(max_examples=150, deadline=None)
@given(
    keys=st.lists(st.text(min_size=1).filter(lambda k: k != "*"), min_size=1, max_size=5),
    leaf=st.integers() | st.text(),
)
def test_selector_select_finds_any_nested_key_path(keys: list[str], leaf: Any) -> None:
    document: Any = leaf
    for key in reversed(keys):
        document = {key: document}
    assert compile_selector(keys).select(document) == leaf


@pytest.mark.parametrize(
    ("value", "field_type", "expected"),
    [
        (
            "2024-08-20T18:37:24.100435Z",
            "DateTime",
            datetime(2024, 8, 20, 18, 37, 24, 100435, tzinfo=UTC),
        ),
        (
            "2024-08-20T18:37:24+02:00",
            "DateTime",
            datetime(2024, 8, 20, 18, 37, 24, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("not a date", "DateTime", "not a date"),
        ("12", "Integer", 12),
        (12.0, "Integer", 12),
        ("x", "Integer", "x"),
        (True, "Integer", True),
        ("1.5", "Number", 1.5),
        (5, "String", "5"),
        ({"a": 1}, "Object", {"a": 1}),
        ([1], "Array", [1]),
        (None, "DateTime", None),
        (True, "Boolean", True),
    ],
)
def test_convert_value_gives_the_field_type(value: Any, field_type: Any, expected: Any) -> None:
    """Values convert to the field type; one that does not convert is kept, not lost."""
    result = convert_value(value, field_type)
    assert result == expected
    assert type(result) is type(expected)


def test_extract_record_types_every_field() -> None:
    fields = [
        Field(name="id", type="String", selector=["id"]),
        Field(name="text", type="String", selector=["content", 0, "text"]),
        Field(name="input", type="Integer", selector="$.usage.input_tokens"),
        Field(name="ended_at", type="DateTime", selector=["ended_at"]),
    ]
    record = extract_record(fields, {**MESSAGE, "ended_at": "2025-01-01T00:00:00Z"})
    assert record == {
        "id": "msg_1",
        "text": "Hi",
        "input": 8,
        "ended_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    assert extract_record(fields, {}) == dict.fromkeys(("id", "text", "input", "ended_at"))


def test_the_reused_jsonpath_lexer_tokenizes_exactly_as_the_librarys_own() -> None:
    """One ply lexer is built per process and cloned per text; a text that fails mid-string
    must not leave state behind for the next one."""
    from jsonpath_ng.ext import parser as ext

    from connector.selectors import _parser

    texts = [
        "$.a.b",
        "$['x y'][0]",
        '$.data[?(@.name == "From")].value',
        "$..id",
        "$.a[*].b",
        "$.`this`",
        "$['unterminated",  # fails inside a quoted string
        "$.after.the.failure",
        '$["dq \\\\" esc"]',
        "$.n[?(@.v > 3)]",
    ]
    reused = _parser().lexer_class()
    stock = ext.ExtendedJsonPathLexer()

    def tokens(lexer: object, text: str) -> list[tuple[object, ...]] | str:
        try:
            return [(t.type, t.value, t.lexpos, t.col) for t in lexer.tokenize(text)]  # type: ignore[attr-defined]
        except Exception as exc:
            return type(exc).__name__

    for _ in range(2):
        for text in texts:
            assert tokens(reused, text) == tokens(stock, text), text
