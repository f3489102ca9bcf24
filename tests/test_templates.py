"""Templates: sandboxed, strict, JSON-safe rendering, and paths that cannot leave their endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import InputError, load_definition
from connector.definitions import Operation, Resource
from connector.requests import build_request, resolve_service
from connector.templates import TemplateSyntaxProblem, compile_template, to_json_text

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
SERVICE = resolve_service(DEFINITION, base_url="http://api.test", api_key="sk-test", env={})

NASTY = [
    '"',
    "\\",
    '\\"',
    "\n\r\t",
    "\x00\x01\x1f\x7f",
    "{{ content }}",
    "{% raw %}",
    "</script><script>alert(1)</script>",
    '", "injected": "yes',
    '} ], "x": {',
    "\u2028\u2029",
    "é中文😀",
    "\ud800",
    "\udfff lone low surrogate",
    "",
]


# --- JSON-safe rendering ----------------------------------------------------------------------


@pytest.mark.parametrize("value", NASTY)
def test_render_json_string_position_keeps_the_value_intact(value: str) -> None:
    """A value placed inside a JSON string literal is escaped: the JSON parses, the value is equal."""
    template = compile_template('{"a": "{{a}}", "b": "x{{a}}y"}', "json")
    document = json.loads(template.render({"a": value}))
    assert document == {"a": value, "b": f"x{value}y"}


def test_render_json_bare_integer_is_a_number() -> None:
    template = compile_template('{"max_tokens": {{n}}}', "json")
    assert json.loads(template.render({"n": 100})) == {"max_tokens": 100}


@pytest.mark.parametrize(
    "value",
    [[{"role": "user", "content": 'say "hi"\n'}], {"k": [1, 2.5, None, True]}, None, "text", 1.5],
)
def test_render_json_bare_value_is_written_as_json(value: Any) -> None:
    """An Object/Array (or any value) placed bare becomes JSON, so `{{messages}}` may be a list."""
    template = compile_template('{"messages": {{messages}}}', "json")
    assert json.loads(template.render({"messages": value})) == {"messages": value}


def test_render_json_string_position_writes_objects_as_json_text() -> None:
    """An object placed inside quotes becomes its JSON text, escaped as a string."""
    template = compile_template('{"a": "{{o}}"}', "json")
    assert json.loads(template.render({"o": {"k": '"'}})) == {"a": '{"k":"\\""}'}


def test_render_json_datetime_becomes_iso_text() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    template = compile_template('{"at": "{{t}}", "bare": {{t}}}', "json")
    assert json.loads(template.render({"t": moment})) == {
        "at": "2025-01-02T03:04:05+00:00",
        "bare": "2025-01-02T03:04:05+00:00",
    }


def test_render_json_escaped_quote_in_the_template_does_not_confuse_positions() -> None:
    """A literal \\" inside the template's own string keeps the scanner inside that string."""
    template = compile_template('{"a": "say \\"{{a}}\\" now", "n": {{n}}}', "json")
    assert json.loads(template.render({"a": 'x"y', "n": 2})) == {"a": 'say "x"y" now', "n": 2}


@settings(max_examples=200, deadline=None)
@given(value=st.text())
def test_render_json_any_text_round_trips(value: str) -> None:
    template = compile_template('{"v": "{{v}}", "w": {{v}}}', "json")
    assert json.loads(template.render({"v": value})) == {"v": value, "w": value}


@settings(max_examples=100, deadline=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_render_json_any_json_value_bare_round_trips(value: Any) -> None:
    template = compile_template("[{{v}}]", "json")
    assert json.loads(template.render({"v": value})) == [value]


def test_to_json_text_lone_surrogate_falls_back_to_ascii_escapes() -> None:
    text = to_json_text("a\ud800")
    text.encode("utf-8")  # must not raise
    assert json.loads(text) == "a\ud800"


def test_to_json_text_keeps_unicode_readable() -> None:
    assert to_json_text("é") == '"é"'


# --- strictness and the sandbox ---------------------------------------------------------------


def test_render_undefined_name_is_an_error_not_an_empty_string() -> None:
    template = compile_template('{"a": "{{a}}"}', "json")
    with pytest.raises(jinja2.UndefinedError):
        template.render({})


def test_compile_template_lists_the_variables_it_reads() -> None:
    template = compile_template("/{{batch_id}}/x/{{other}}", "path")
    assert template.variables == {"batch_id", "other"}


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ a.__init__.__globals__ }}",
        "{{ a['__class__'] }}",
        "{{ a|attr('__class__') }}",
        "{{ a|attr(name) }}",
        "{{ a.mro }}",
        "{{ a.format }}",
        "{{ a._private }}",
    ],
)
def test_compile_template_refuses_interpreter_attributes_at_load(source: str) -> None:
    """A template that reaches for interpreter internals never compiles, so it never runs."""
    with pytest.raises(TemplateSyntaxProblem):
        compile_template(source, "text")


@pytest.mark.parametrize("source", ["{{ range(10) }}", "{{ lipsum() }}", "{{ cycler(1) }}"])
def test_globals_are_neither_defined_nor_callable(source: str) -> None:
    """range/lipsum/cycler are not globals, and calling a name is refused at load anyway."""
    with pytest.raises(TemplateSyntaxProblem, match="may only call"):
        compile_template(source, "text")
    name = source[3:].split("(")[0]
    with pytest.raises(jinja2.UndefinedError):
        compile_template("{{ " + name + " }}", "text").render({})


def test_compile_template_syntax_error_is_a_template_problem() -> None:
    with pytest.raises(TemplateSyntaxProblem, match="syntax"):
        compile_template("{{ a ", "text")


def test_render_text_mode_writes_strings_plainly_and_values_as_json() -> None:
    template = compile_template("{{s}}|{{n}}|{{o}}", "text")
    assert template.render({"s": 'a"b', "n": 3, "o": [1]}) == 'a"b|3|[1]'


def test_render_keeps_a_trailing_newline() -> None:
    assert compile_template("{{a}}\n", "text").render({"a": "x"}) == "x\n"


# --- path segments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("../../organizations", "..%2F..%2Forganizations"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("?x=1#y", "%3Fx%3D1%23y"),
        ("%2e%2e", "%252e%252e"),
        ("msgbatch_01", "msgbatch_01"),
    ],
)
def test_render_path_encodes_the_value_as_one_segment(value: str, segment: str) -> None:
    assert compile_template("/{{id}}", "path").render({"id": value}) == "/" + segment


def test_build_request_path_traversal_stays_inside_the_batches_endpoint() -> None:
    """`batch_id=../../organizations` must not climb out of /messages/batches/."""
    request = build_request(
        DEFINITION, SERVICE, "message_batches", "read", {"batch_id": "../../organizations"}
    )
    assert request.url.raw_path == b"/v1/messages/batches/..%2F..%2Forganizations"


def _operations() -> list[tuple[Resource, str, Operation]]:
    return [(r, n, op) for r in DEFINITION.resources for n, op in r.operations.items()]


def _sample_inputs(resource: Resource, operation: Operation) -> dict[str, Any]:
    samples = {"String": "s", "Integer": 5, "Number": 1.5, "Boolean": True}
    values: dict[str, Any] = {}
    for placeholder in operation.placeholders() + resource.endpoint.placeholders:
        if operation.multipart is not None:
            continue
        values[placeholder.name] = samples.get(placeholder.type, "s")
    return values


STRING_CASES = [
    (resource.handle, name, placeholder.name, where)
    for resource, name, operation in _operations()
    if operation.multipart is None
    for where, part in (
        ("path", operation.path),
        ("body", operation.body_template),
        ("query", operation.query_params),
    )
    if part is not None
    for placeholder in part.placeholders
    if placeholder.type == "String"
]


def test_string_cases_cover_every_kind_of_position() -> None:
    """The property test below really runs over path, body and query placeholders."""
    assert {where for *_, where in STRING_CASES} == {"path", "body", "query"}
    assert len(STRING_CASES) >= 20


def _string_leaves(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _string_leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _string_leaves(item)]
    return []


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.mark.parametrize(("handle", "operation", "name", "where"), STRING_CASES)
@settings(max_examples=40, deadline=None)
@given(value=st.text())
def test_build_request_any_string_in_any_placeholder_is_safe(
    handle: str, operation: str, name: str, where: str, value: str
) -> None:
    """Random text in every String placeholder of claude-api.json gives a valid JSON body with the
    value intact and a path that stays inside its endpoint (or an InputError for text that no
    URL can carry: a lone surrogate)."""
    resource = DEFINITION.resource(handle)
    op = resource.operation(operation)
    inputs = _sample_inputs(resource, op)
    inputs[name] = value
    try:
        request = build_request(DEFINITION, SERVICE, handle, operation, inputs)
    except InputError:
        # Text no URL can carry (a lone surrogate), or an empty path value (issue 8 item 8).
        assert (where in ("path", "query") and _has_surrogate(value)) or (
            where == "path" and value == ""
        )
        return
    prefix = b"/v1" + resource.endpoint.value.encode()
    assert request.url.raw_path.startswith(prefix)
    expected_segments = op.path.value.count("/")
    tail = request.url.raw_path[len(prefix) :].split(b"?")[0]
    assert tail.count(b"/") == expected_segments
    for segment in tail.split(b"/")[1:]:
        assert segment not in (b".", b"..")
    if where == "path":
        segments = [unquote(s.decode()) for s in tail.split(b"/")[1:]]
        assert value in segments
    if where == "query":
        assert request.url.params[name] == value
    if op.body_template is not None:
        body = json.loads(request.content)
        if where == "body":
            assert value in _string_leaves(body)
