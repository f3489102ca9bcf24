"""Compiled record shapes give exactly what the field-by-field extraction gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.selectors import FieldType, compile_selector, convert_value
from connector.shaping import compile_shape

TYPES: list[FieldType] = ["String", "Integer", "Number", "Boolean", "DateTime", "Object", "Array"]
KEYS = st.sampled_from(["id", "a", "b", "created_at", "x y", "'", '"}', "\\n"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(
        ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00", "2024-13-01", "12", "1.5"]
    ),
)
JSONS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
SELECTORS = st.one_of(
    st.lists(KEYS, min_size=1, max_size=3),
    st.lists(st.one_of(KEYS, st.integers(-2, 2), st.just("*")), min_size=1, max_size=3),
    st.sampled_from(["$.a", "$.a.b", "$..id"]),
)


def _reference(fields: list[tuple[str, FieldType, Any]], document: Any) -> dict[str, Any]:
    return {name: convert_value(selector.select(document), t) for name, t, selector in fields}


@settings(max_examples=400, deadline=None)
@given(
    specs=st.lists(st.tuples(KEYS, st.sampled_from(TYPES), SELECTORS), min_size=1, max_size=5),
    document=JSONS,
)
def test_a_compiled_shape_equals_field_by_field_extraction(
    specs: list[tuple[str, FieldType, Any]], document: Any
) -> None:
    fields = [(name, t, compile_selector(spec)) for name, t, spec in specs]
    assert compile_shape(fields)(document) == _reference(fields, document)


def test_plain_paths_take_the_generated_fast_path() -> None:
    fields = [
        ("id", "String", compile_selector(["id"])),
        ("when", "DateTime", compile_selector(["meta", "created_at"])),
        ("n", "Integer", compile_selector(["n"])),
    ]
    shape = compile_shape(fields)  # type: ignore[arg-type]
    assert shape._fast is not None
    record = shape({"id": 7, "meta": {"created_at": "2024-01-02T03:04:05Z"}, "n": "3"})
    assert record["id"] == "7" and record["n"] == 3
    assert record["when"].isoformat() == "2024-01-02T03:04:05+00:00"
    assert shape([1, 2]) == {"id": None, "when": None, "n": None}


def test_keys_that_look_like_code_stay_data() -> None:
    hostile = "'); import os; os._exit(3); ('"
    shape = compile_shape([(hostile, "String", compile_selector([hostile]))])
    assert shape({hostile: "ok"}) == {hostile: "ok"}
