"""Hostile templates (issue 8, items 6 and 7): each is refused at load or bounded when rendered,
without large allocations; and no placeholder value can change a body's shape or a path."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError

from connector import DefinitionError, load_definition
from connector.template_limits import BudgetExceeded
from connector.templates import TemplateSyntaxProblem, compile_template

BIG_INT = "9" * 1200

# Refused at load: constructs outside the allow-lists, or too large or deep to parse.
REFUSED = [
    "{% set x = 99999 %}{% set x = x * x %}{% set x = x * x %}{{ x }}",
    "{% set x = 'ab' %}{% set x = x ~ x %}{% set x = x ~ x %}{{ x }}",
    "{{ 'a'.center(2000000000) }}",
    "{{ 'a'|center(2000000000) }}",
    "{{ 'a'|indent(2000000000) }}",
    "{{ 'a'|indent(2000000000, true) }}",
    "{{ 'a'.ljust(2000000000) }}",
    "{{ 'a'.rjust(2000000000) }}",
    "{{ '1'.zfill(2000000000) }}",
    "{{ 'a\tb'.expandtabs(2000000000) }}",
    "{{ '{:>2000000000}'.format(1) }}",
    "{{ 'a'.replace('', 'bbbbbbbbbbbbbbbbbbbb') }}",
    "{{ ','.join(s) }}",
    "{{ s|wordwrap(1) }}",
    "{{ 2 ** 100000000 }}",
    "{{ 10 ** 10 ** 10 }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% filter upper %}{{ s }}{% endfilter %}",
    "{% for x in s recursive %}{{ loop(s) }}{% endfor %}",
    "{% include 'other' %}",
    "{% extends 'other' %}",
    "{% import 'other' as o %}",
    "{% with a = s * 1000 %}{{ a }}{% endwith %}",
    "{{ range(10 ** 9)|list }}",
    "{{ lipsum(1000000) }}",
    "{{ s|map('center', 2000000000)|list }}",
    "{{ s|select('odd')|list }}",
    "{{ s|batch(1)|list }}",
    "{{ s|attr('center') }}",
    "{{ s|sum(start=[]) }}",
    "{{ s|pprint }}",
    "{{ s|format(1) }}",
    "{{ s.__class__ }}",
    "{{ s.split.__self__ }}",
    "{{ s.upper(*s) }}",
    "{{ " + "(" * 400 + "1" + ")" * 400 + " }}",
    "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "x" * 200_000,
    "{{ s|truncate(10) }}{{ s|xmlattr }}",
    "{{ s|tojson }}",
]

# Compile (nothing in them is refused outright) but stop at their budget when rendered.
BOUNDED: list[tuple[str, dict[str, Any]]] = [
    (
        "{% for a in s %}{% for b in s %}{% for c in s %}x{% endfor %}{% endfor %}{% endfor %}",
        {"s": "x" * 1000},
    ),
    ("{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}", {}),
    ("{% for a in s %}{% for b in s %}{{ a ~ b }}{% endfor %}{% endfor %}", {"s": "y" * 5000}),
    ("{% for a in s %}{{ 'x' * 100000 }}{% endfor %}", {"s": "z" * 100}),
    ("{{ '%.2000000000d' % 1 }}", {}),
    ("{{ '%s%s' % (s, s) }}", {"s": "a"}),
    ("{{ [[1] * 100000] * 100000 }}", {}),
    ("{{ [s] * 100000 }}", {"s": "q" * 100}),
    ("{{ 'a' * 2000000000 }}", {}),
    ("{{ s * 2000000000 }}", {"s": "ab"}),
    ("{{ (s * 50000) + (s * 50000) }}", {"s": "abcdefghij"}),
    ("{{ " + " * ".join([BIG_INT] * 6) + " }}", {}),
    ("{{ s|replace('', s) }}", {"s": "r" * 10000}),
    ("{{ s|replace('r', s) }}", {"s": "r" * 10000}),
    ("{{ s|join(s) }}", {"s": "j" * 10000}),
    ("{{ " + " ~ ".join(["('x' * 90000)"] * 30) + " }}", {}),
    ("{{ {'a': s * 2000000} }}", {"s": "d"}),
    ("{% if s %}{{ 'x' * 3000000 }}{% endif %}", {"s": "t"}),
    ("{% for a in s %}{% for b in s|list %}{% endfor %}{% endfor %}", {"s": "l" * 2000}),
    ("{{ (s|upper) * 3000000 }}", {"s": "u"}),
    ("{% for a in s %}{{ s }}{% endfor %}", {"s": "o" * 4000}),
]


def test_the_corpus_has_at_least_forty_hostile_templates() -> None:
    assert len(REFUSED) + len(BOUNDED) >= 40


@pytest.mark.parametrize("source", REFUSED, ids=range(len(REFUSED)))
def test_hostile_template_is_refused_at_load(source: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateSyntaxProblem):
            compile_template(source, "text")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20


@pytest.mark.parametrize(("source", "context"), BOUNDED, ids=range(len(BOUNDED)))
def test_hostile_template_is_bounded_when_rendered(source: str, context: dict[str, Any]) -> None:
    tracemalloc.start()
    try:
        template = compile_template(source, "text")
        # BudgetExceeded, or the sandbox's refusal of an operation it will not run at all
        # ("string formatting with %", "integer too large"): both are SecurityErrors.
        with pytest.raises(SecurityError) as caught:
            template.render(context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if "%" not in source and BIG_INT not in source:
        assert isinstance(caught.value, BudgetExceeded)
    # Bounded before building: nothing near the sizes the templates ask for is ever allocated.
    assert peak < 64 * 2**20


def test_a_large_value_is_not_refused_by_the_budget() -> None:
    """The budget grows with the values given: a 10 MB message renders whole."""
    template = compile_template(
        '{"a": [{% for m in ms %}"{{ m }}"{% if not loop.last %},{% endif %}{% endfor %}]}', "json"
    )
    big = "x" * 10_000_000
    assert json.loads(template.render({"ms": [big, "b"]})) == {"a": [big, "b"]}


def _definition(**operation: Any) -> dict[str, Any]:
    return {
        "service": {"baseURL": "http://127.0.0.1:9"},
        "resources": [
            {"handle": "h", "endpoint": "/h", "operations": {"op": {"method": "POST", **operation}}}
        ],
    }


@pytest.mark.parametrize(
    ("operation", "location"),
    [
        (
            {"bodyTemplate": {"value": '{"a": "{{ \'a\'|center(2000000000) }}"}'}},
            "resources[0].operations.op.bodyTemplate.value",
        ),
        (
            {"bodyTemplate": {"value": '{"a": "{{ [[1] * 100000] * 100000 }}"}'}},
            "resources[0].operations.op.bodyTemplate.value",
        ),
        (
            {
                "headers": {
                    "x-a": "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"
                }
            },
            "resources[0].operations.op.headers.value.x-a",
        ),
        (
            {"queryParams": {"q": "{{ '%.2000000000d' % 1 }}"}},
            "resources[0].operations.op.queryParams.value.q",
        ),
    ],
)
def test_hostile_template_in_a_definition_is_refused_with_its_location(
    operation: dict[str, Any], location: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(_definition(**operation))
    assert [p.location for p in caught.value.problems] == [location]


# --- item 7: no value changes the body's shape or the path ------------------------------------

BODIES = [
    '{"a": "{{v}}"}',
    '{"a": {{v}}}',
    '{"a": "x{{v}}y", "b": [{{v}}, "{{v}}"]}',
    '{"{{v}}": 1, "b": 2}',
    '{"a": "{{ v|lower }}"}',
    '{"a": "{{ v ~ "}}" }}", "b": "{{ "}}" }}{{ v }}"}',
    '{"a": "{{ "\\"" ~ v }}"}',
    '{"a": {% if true %}"{{v}}"{% else %}null{% endif %}}',
    '{"a": [{% for c in ["x", "y"] %}"{{ c ~ v }}"{% if not loop.last %},{% endif %}{% endfor %}]}',
    '{"a": "{{ v }}", "n": {{ v|length }}}',
    '{"a": "{# "}} #}{{v}}"}',
    '{% raw %}{"r": "{{x}}",{% endraw %} "a": "{{v}}"}',
    '{"a": "\\\\{{v}}"}',
    '{"a": "{{ v }}{{ v }}", "b": {"c": "{{- v -}}"}}',
    '{"a": "{{ v|replace("\\"", "") }}"}',
    '{"a": "{{ v.strip() }}", "b": "{{ v|default("}}") }}"}',
]

PATHS = [
    "/things/{{v}}",
    "/things/{{v}}/sub",
    '/{{ v ~ "}}" }}',
    "/a/{{ v|lower }}/b",
    "/{% if v %}{{v}}{% else %}none{% endif %}",
    "/x/{{ v }}{{ v }}",
    '/{{ "}}/../" ~ v }}',
]


def _shape(document: Any) -> Any:
    """The document with every string and number replaced by its kind (keys count, not text)."""
    if isinstance(document, dict):
        return ("object", len(document), tuple(sorted(map(repr, map(_shape, document.values())))))
    if isinstance(document, list):
        return ("array", tuple(_shape(item) for item in document))
    return type(document).__name__


@pytest.mark.parametrize("source", BODIES)
@settings(max_examples=60, deadline=None)
@given(value=st.text())
def test_no_value_changes_the_shape_of_a_body(source: str, value: str) -> None:
    template = compile_template(source, "json")
    baseline = _shape(json.loads(template.render({"v": "sample"})))
    text = template.render({"v": value})
    try:
        document = json.loads(text)
    except json.JSONDecodeError:  # pragma: no cover - would be an escaping bug
        pytest.fail(f"value {value!r} broke the JSON: {text!r}")
    if source.startswith('{"{{v}}"') and value == "b":
        return  # a templated key equal to a literal one: refused at call time (duplicate key)
    assert _shape(document) == baseline


@pytest.mark.parametrize("source", PATHS)
@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=1))
def test_no_value_changes_a_path(source: str, value: str) -> None:
    template = compile_template(source, "path")
    baseline = template.render({"v": "sample"}).split("/")
    try:
        rendered = template.render({"v": value})
    except UnicodeEncodeError:
        return  # a lone surrogate: refused at call time
    segments = rendered.split("/")
    assert len(segments) == len(baseline)
    assert "?" not in rendered and "#" not in rendered
    assert not {".", ".."} & set(segments)
    for before, after in zip(baseline, segments, strict=True):
        if "sample" not in before:
            assert after == before  # literal segments never move


@pytest.mark.parametrize(
    ("source", "mode", "reason"),
    [
        # The old rewrite cut the expression at the first "}}", inside the string literal, so
        # this compiled and wrote `v` raw: `x/../admin?x=1` changed the endpoint.
        ("/things/{{ '}}' ~ v) ~ '' }}", "path", "syntax"),
        ("{\"a\": \"{{ '}}' ~ v) ~ '' }}\"}", "json", "syntax"),
        # A backslash before an expression would escape the value's first character.
        ('{"a": "\\{{v}}"}', "json", "backslash"),
        # A block that opens a JSON string puts the value in two contexts.
        ('{"a": {% if x %}"{% endif %}{{v}}{% if x %}"{% endif %}}', "json", "JSON string"),
        ('{"a": {% for c in x %}"{% endfor %}{{v}}"}', "json", "JSON string"),
    ],
)
def test_escaping_bypasses_are_refused_at_load(source: str, mode: str, reason: str) -> None:
    with pytest.raises(TemplateSyntaxProblem, match=reason):
        compile_template(source, mode)  # type: ignore[arg-type]


def test_old_bypass_could_inject_body_keys_now_cannot() -> None:
    """The crafted `"injected": true` value stays string content in every corpus template."""
    value = '", "injected": true, "x": "'
    for source in BODIES:
        document = json.loads(compile_template(source, "json").render({"v": value}))
        assert "injected" not in document
