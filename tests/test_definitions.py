"""Loading definitions: the seed, the shipped claude-api.json, and every way to get one wrong."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector import DefinitionError, InputError, definition_json_schema, load_definition

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "definitions" / "seed" / "claude-api.seed.json"
SHIPPED = ROOT / "definitions" / "claude-api.json"
BUNDLED = ROOT / "connector" / "data" / "claude-api.json"


def _raw(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the seed and the shipped definition ------------------------------------------------------


def test_load_definition_seed_loads_verbatim() -> None:
    """The seed file, byte for byte as shipped, loads as a bare resource array."""
    definition = load_definition(SEED)
    assert definition.bare is True
    assert definition.service is None
    assert [r.handle for r in definition.resources] == [r["handle"] for r in _raw(SEED)]
    assert definition.file == str(SEED)


def test_load_definition_seed_keeps_the_seed_mapping_of_delete() -> None:
    """The seed maps message_batches.delete to POST .../cancel; that meaning stays."""
    delete = load_definition(SEED).resource("message_batches").operation("delete")
    assert delete.method == "POST"
    assert delete.path.value.endswith("/cancel")


@pytest.mark.parametrize("source", ["path", "text", "object"])
def test_load_definition_accepts_a_file_text_or_object(source: str) -> None:
    given: Any = {"path": SHIPPED, "text": SHIPPED.read_text(), "object": _raw(SHIPPED)}[source]
    definition = load_definition(given)
    assert definition.bare is False
    assert definition.service is not None
    assert len(definition.resources) == 5


def _extends(mine: Any, seed: Any) -> bool:
    """Whether ``mine`` holds everything ``seed`` holds (objects may gain keys, nothing else)."""
    if isinstance(seed, dict):
        return isinstance(mine, dict) and all(
            k in mine and _extends(mine[k], v) for k, v in seed.items()
        )
    if isinstance(seed, list):
        return (
            isinstance(mine, list)
            and len(mine) == len(seed)
            and all(_extends(m, s) for m, s in zip(mine, seed, strict=True))
        )
    return bool(mine == seed and type(mine) is type(seed))


def test_load_definition_shipped_keeps_seed_resources_fields_and_webhooks() -> None:
    """claude-api.json only extends the seed: seed fields are unchanged, resources, operations
    and webhooks only gain keys."""
    seed = _raw(SEED)
    shipped = {r["handle"]: r for r in _raw(SHIPPED)["resources"]}
    assert list(shipped)[: len(seed)] == [r["handle"] for r in seed]
    for resource in seed:
        mine = shipped[resource["handle"]]
        assert mine["fields"][: len(resource["fields"])] == resource["fields"]
        assert _extends(
            {k: v for k, v in mine.items() if k not in ("fields", "webhooks")},
            {k: v for k, v in resource.items() if k not in ("fields", "webhooks")},
        ), resource["handle"]
        by_event = {w["event"]: w for w in mine["webhooks"]}
        for webhook in resource["webhooks"]:
            # Payloads keep the seed's fields first, as written, and may add the API's real
            # fields after them (issue 13: every event should say something useful).
            shipped_hook = by_event[webhook["event"]]
            payload = shipped_hook["payload"]
            assert payload[: len(webhook["payload"])] == webhook["payload"], webhook["event"]
            assert _extends(
                {k: v for k, v in shipped_hook.items() if k != "payload"},
                {k: v for k, v in webhook.items() if k != "payload"},
            ), webhook["event"]


def test_extends_sees_a_changed_value() -> None:
    """The comparison above can fail: a changed, removed or retyped value is caught."""
    seed = {"a": [{"b": 1}], "c": "x"}
    assert _extends({"a": [{"b": 1, "new": 2}], "c": "x", "d": 0}, seed)
    assert not _extends({"a": [{"b": 2}], "c": "x"}, seed)
    assert not _extends({"a": [{"b": 1}]}, seed)
    assert not _extends({"a": [{"b": True}], "c": "x"}, {"a": [{"b": 1}], "c": "x"})


def test_load_definition_shipped_has_the_issue_operations() -> None:
    definition = load_definition(SHIPPED)
    names = {(r.handle, name) for r in definition.resources for name in r.operations}
    assert {
        ("messages", "count_tokens"),
        ("message_batches", "cancel"),
        ("message_batches", "results"),
        ("message_batches", "remove"),
        ("files", "upload"),
        ("files", "download"),
        ("skills", "create"),
    } <= names
    batches = definition.resource("message_batches")
    assert batches.operation("results").response_format == "jsonl"
    assert batches.operation("remove").method == "DELETE"
    assert definition.resource("files").operation("download").response_format == "binary"
    assert definition.resource("files").operation("upload").multipart is not None
    assert definition.resource("skills").operation("create").multipart is not None


def test_load_definition_shipped_list_operations_have_records_and_pagination() -> None:
    definition = load_definition(SHIPPED)
    lists = [r.operations["list"] for r in definition.resources if "list" in r.operations]
    assert len(lists) == 4
    for operation in lists:
        assert operation.records is not None
        assert operation.pagination is not None


def test_find_operation_finds_the_arazzo_operation_ids() -> None:
    definition = load_definition(SHIPPED)
    expected = {
        "createMessageBatch": ("message_batches", "create"),
        "retrieveMessageBatch": ("message_batches", "read"),
        "retrieveMessageBatchResults": ("message_batches", "results"),
        "cancelMessageBatch": ("message_batches", "cancel"),
    }
    for operation_id, (handle, name) in expected.items():
        found = definition.find_operation(operation_id)
        assert found is not None
        assert (found[0].handle, found[1]) == (handle, name)
    assert definition.find_operation("noSuchOperation") is None


def test_load_definition_shipped_beta_headers_on_beta_resources() -> None:
    definition = load_definition(SHIPPED)
    for handle, token in (("files", "files-api-2025-04-14"), ("skills", "skills-2025-10-02")):
        headers = definition.resource(handle).headers
        assert headers is not None
        assert headers.value["anthropic-beta"] == token


def test_load_definition_bundled_copy_equals_the_shipped_one() -> None:
    """The package's data copy is what `connector` uses by default; it must not drift."""
    assert BUNDLED.read_bytes() == SHIPPED.read_bytes()


def test_definition_resource_unknown_handle_names_the_nearest() -> None:
    definition = load_definition(SHIPPED)
    with pytest.raises(InputError) as caught:
        definition.resource("message_batch")
    assert "message_batches" in str(caught.value)
    assert caught.value.problems[0].found == "message_batch"


def test_resource_operation_unknown_lists_the_known_ones() -> None:
    resource = load_definition(SHIPPED).resource("models")
    with pytest.raises(InputError) as caught:
        resource.operation("create")
    assert "list" in caught.value.problems[0].message


def test_field_extract_gives_typed_values() -> None:
    definition = load_definition(SHIPPED)
    shape = definition.resource("message_batches").compiled.shape
    ended = shape({"ended_at": "2024-08-20T18:37:24.100435Z"})["ended_at"]
    assert isinstance(ended, datetime)
    assert ended.year == 2024 and ended.utcoffset() is not None
    assert shape({})["ended_at"] is None


# --- malformed definitions --------------------------------------------------------------------


def _good() -> dict[str, Any]:
    """A small connection document that loads; each case below breaks one thing in it."""
    return {
        "handle": "things-api",
        "service": {
            "baseURL": "https://things.example",
            "auth": {"method": "api_token", "params": {"header": "x-key", "token": "{{ env.K }}"}},
            "variables": {"apiKey": "K"},
        },
        "resources": [
            {
                "handle": "things",
                "endpoint": {"value": "/things"},
                "fields": [
                    {"name": "id", "type": "String", "selector": ["id"]},
                    {"name": "when", "type": "DateTime", "selector": "$.created_at"},
                ],
                "operations": {
                    "create": {
                        "method": "POST",
                        "operationId": "createThing",
                        "bodyTemplate": {
                            "value": '{"name": "{{name}}", "size": {{size}}}',
                            "placeholders": [
                                {"name": "name", "type": "String", "required": True},
                                {"name": "size", "type": "Integer", "required": True},
                            ],
                        },
                    },
                    "read": {
                        "method": "GET",
                        "operationId": "readThing",
                        "path": {"value": "/{{id}}", "placeholders": [{"name": "id"}]},
                    },
                    "list": {
                        "method": "GET",
                        "records": ["data"],
                        "pagination": {"type": "cursor"},
                    },
                },
                "webhooks": [
                    {"event": "things.created", "path": "/hooks/things.created"},
                ],
            },
            {
                "handle": "others",
                "endpoint": "/others",
                "operations": {"list": {"method": "GET"}},
            },
        ],
    }


Edit = Callable[[Any], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets (or, with value _DROP, removes) the key at a dotted path."""

    def edit(doc: Any) -> None:
        *parents, last = _parse(path)
        node = doc
        for part in parents:
            node = node[part]
        if value is _DROP:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value

    return edit


_DROP = object()


def _parse(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


BODY = "resources.0.operations.create.bodyTemplate"
THINGS = "resources.0"


def _both(*edits: Edit) -> Edit:
    def edit(doc: Any) -> None:
        for one in edits:
            one(doc)

    return edit


# (case id, edit, expected location, a word the message must hold)
CASES: list[tuple[str, Edit, str, str]] = [
    (
        "unknown operation key",
        _set(f"{THINGS}.operations.create.bodyTemplat", "x"),
        "resources[0].operations.create.bodyTemplat",
        "bodyTemplate",
    ),
    ("unknown resource key", _set(f"{THINGS}.endpont", "/x"), "resources[0].endpont", "endpoint"),
    (
        "unknown placeholder key",
        _set(f"{BODY}.placeholders.0.requird", True),
        "resources[0].operations.create.bodyTemplate.placeholders[0].requird",
        "required",
    ),
    ("unknown top-level key", _set("resourses", []), "resourses", "resources"),
    (
        "wrong placeholder type",
        _set(f"{BODY}.placeholders.1.type", "Int"),
        "resources[0].operations.create.bodyTemplate.placeholders[1].type",
        "Integer",
    ),
    (
        "bad field type",
        _set(f"{THINGS}.fields.0.type", "Text"),
        "resources[0].fields[0].type",
        "String",
    ),
    (
        "selector string not JSONPath",
        _set(f"{THINGS}.fields.0.selector", "id"),
        "resources[0].fields[0].selector",
        "JSONPath",
    ),
    (
        "bad JSONPath",
        _set(f"{THINGS}.fields.1.selector", "$[[["),
        "resources[0].fields[1].selector",
        "JSONPath",
    ),
    (
        "bad records selector",
        _set(f"{THINGS}.operations.list.records", "data"),
        "resources[0].operations.list.records",
        "JSONPath",
    ),
    (
        "bad pagination cursor selector",
        _set(f"{THINGS}.operations.list.pagination.cursor", "last_id"),
        "resources[0].operations.list.pagination.cursor",
        "JSONPath",
    ),
    (
        "template syntax error",
        _set(f"{BODY}.value", '{"name": "{{ name "}'),
        "resources[0].operations.create.bodyTemplate.value",
        "syntax",
    ),
    (
        "undeclared template variable",
        _set(f"{BODY}.value", '{"name": "{{nam}}", "size": {{size}}}'),
        "resources[0].operations.create.bodyTemplate",
        "nam",
    ),
    (
        "undeclared path variable",
        _set(f"{THINGS}.operations.read.path.value", "/{{thing_id}}"),
        "resources[0].operations.read.path",
        "thing_id",
    ),
    (
        "unused body placeholder",
        _set(f"{BODY}.placeholders.2", {"name": "colour"}),
        "resources[0].operations.create.bodyTemplate.placeholders[2].name",
        "never used",
    ),
    (
        "unused path placeholder",
        _set(f"{THINGS}.operations.read.path.value", "/fixed"),
        "resources[0].operations.read.path.placeholders[0].name",
        "never used",
    ),
    (
        "placeholder declared twice",
        _set(f"{BODY}.placeholders.2", {"name": "size", "type": "Integer"}),
        "resources[0].operations.create.placeholders[2].name",
        "twice",
    ),
    (
        "placeholder name not an identifier",
        _set(f"{BODY}.placeholders.0.name", "my-name"),
        "resources[0].operations.create.bodyTemplate.placeholders[0].name",
        "pattern",
    ),
    (
        "duplicate handle",
        _set("resources.1.handle", "things"),
        "resources[1].handle",
        "another resource",
    ),
    (
        "duplicate operationId",
        _set(f"{THINGS}.operations.read.operationId", "createThing"),
        "resources[0].operations.read.operationId",
        "things.create",
    ),
    (
        "duplicate event",
        _set(f"{THINGS}.webhooks.1", {"event": "things.created", "path": "/again"}),
        "resources[0].webhooks[1].event",
        "twice",
    ),
    (
        "bad pagination type",
        _set(f"{THINGS}.operations.list.pagination.type", "scroll"),
        "resources[0].operations.list.pagination",
        "scroll",
    ),
    (
        "pagination on POST",
        _set(f"{THINGS}.operations.create.pagination", {"type": "pageToken"}),
        "resources[0].operations.create.pagination",
        "GET",
    ),
    (
        "unsafe template attribute",
        _set(f"{BODY}.value", '{"name": "{{ \'\'.__class__ }}{{name}}", "size": {{size}}}'),
        "resources[0].operations.create.bodyTemplate.value",
        "__class__",
    ),
    (
        "unsafe template subscript",
        _set(f"{THINGS}.operations.read.path.value", "/{{ id['__class__'] }}"),
        "resources[0].operations.read.path.value",
        "__class__",
    ),
    (
        "unsafe template attr filter",
        _set(f"{THINGS}.operations.read.path.value", "/{{ id|attr('__class__') }}"),
        "resources[0].operations.read.path.value",
        "__class__",
    ),
    (
        "body template not JSON",
        _set(f"{BODY}.value", '{"name": "{{name}}", "size": {{size}}'),
        "resources[0].operations.create.bodyTemplate.value",
        "JSON",
    ),
    (
        "bad method",
        _set(f"{THINGS}.operations.read.method", "FETCH"),
        "resources[0].operations.read.method",
        "GET",
    ),
    ("missing endpoint", _set(f"{THINGS}.endpoint", _DROP), "resources[0].endpoint", "required"),
    (
        "missing method",
        _set(f"{THINGS}.operations.read.method", _DROP),
        "resources[0].operations.read.method",
        "required",
    ),
    (
        "auth missing params",
        _set("service.auth.params", {"header": "x-key"}),
        "service.auth.params",
        "token",
    ),
    (
        "unknown auth method",
        _set("service.auth.method", "oauth"),
        "service.auth.method",
        "api_token",
    ),
    (
        "service template reads a non-env name",
        _set("service.baseURL", "https://{{ host }}"),
        "service.baseURL",
        "env",
    ),
    (
        "bad handle",
        _set(f"{THINGS}.handle", "my things"),
        "resources[0].handle",
        "pattern",
    ),
    (
        "event without a dot",
        _set(f"{THINGS}.webhooks.0.event", "created"),
        "resources[0].webhooks[0].event",
        "pattern",
    ),
    (
        "webhook path without slash",
        _set(f"{THINGS}.webhooks.0.path", "hooks"),
        "resources[0].webhooks[0].path",
        "/",
    ),
    (
        "transition trigger without selector",
        _set(f"{THINGS}.webhooks.0.trigger", {"type": "transition", "to": "ended"}),
        "resources[0].webhooks[0].trigger.selector",
        "selector",
    ),
    (
        "bad trigger type",
        _set(f"{THINGS}.webhooks.0.trigger", {"type": "modified"}),
        "resources[0].webhooks[0].trigger.type",
        "transition",
    ),
    (
        "bad response format",
        _set(f"{THINGS}.operations.read.response", {"format": "xml"}),
        "resources[0].operations.read.response.format",
        "jsonl",
    ),
    (
        "multipart source not declared",
        _set(
            f"{THINGS}.operations.upload",
            {
                "method": "POST",
                "multipart": {"value": [{"name": "f", "kind": "file", "source": "path"}]},
            },
        ),
        "resources[0].operations.upload.multipart.value[0].source",
        "placeholder",
    ),
    (
        "multipart and bodyTemplate together",
        _set(
            f"{THINGS}.operations.create.multipart",
            {"value": [{"name": "f", "kind": "file", "source": "name"}]},
        ),
        "resources[0].operations.create.multipart",
        "not both",
    ),
    (
        "bad header name",
        _set(f"{THINGS}.operations.read.headers", {"bad:name": "x"}),
        "resources[0].operations.read.headers.bad:name",
        "header",
    ),
    (
        "operations not a map",
        _set(f"{THINGS}.operations", []),
        "resources[0].operations",
        "dictionary",
    ),
    (
        "template not a string or object",
        _set(f"{BODY}", 5),
        "resources[0].operations.create.bodyTemplate",
        "Template",
    ),
    ("resources missing", _set("resources", _DROP), "resources", "required"),
]


@pytest.mark.parametrize(
    ("edit", "location", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_load_definition_refuses_malformed(edit: Edit, location: str, word: str) -> None:
    """Each malformed definition is refused at load with the problem at its JSON location."""
    document = _good()
    edit(document)
    with pytest.raises(DefinitionError) as caught:
        load_definition(document, file="things.json")
    error = caught.value
    assert error.file == "things.json"
    located = [p for p in error.problems if p.location == location]
    assert located, f"no problem at {location}: {[str(p) for p in error.problems]}"
    text = " ".join(f"{p.message} {p.found} {p.allowed}" for p in located)
    assert word.lower() in text.lower()
    assert "things.json" in str(error)


def test_good_document_loads() -> None:
    """The base of the malformed table loads, so each case fails for its own edit only."""
    definition = load_definition(_good())
    assert [r.handle for r in definition.resources] == ["things", "others"]


def test_load_definition_lists_every_problem_not_just_the_first() -> None:
    document = _good()
    _set(f"{BODY}.placeholders.1.type", "Int")(document)
    _set(f"{THINGS}.operations.read.method", "FETCH")(document)
    _set(f"{THINGS}.endpont", "/x")(document)
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    locations = {p.location for p in caught.value.problems}
    assert {
        "resources[0].operations.create.bodyTemplate.placeholders[1].type",
        "resources[0].operations.read.method",
        "resources[0].endpont",
    } <= locations


def test_load_definition_compile_problems_are_all_listed() -> None:
    """Problems found while compiling (after the shape is valid) are also gathered together."""
    document = _good()
    _set("resources.1.handle", "things")(document)
    _set(f"{THINGS}.operations.read.operationId", "createThing")(document)
    _set(f"{THINGS}.fields.1.selector", "$[[[")(document)
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    assert {
        "resources[1].handle",
        "resources[0].operations.read.operationId",
        "resources[0].fields[1].selector",
    } <= {p.location for p in caught.value.problems}


def test_load_definition_bare_array_locations_start_with_the_index() -> None:
    """For a bare resource array the location reads `[1].operations...`, as in the issue."""
    seed = _raw(SEED)
    seed[1]["operations"]["create"]["bodyTemplate"]["placeholders"][2]["type"] = "Int"
    with pytest.raises(DefinitionError) as caught:
        load_definition(seed)
    problem = caught.value.problems[0]
    assert problem.location == "[1].operations.create.bodyTemplate.placeholders[2].type"
    assert problem.found == "Int"
    assert problem.allowed is not None and "Integer" in problem.allowed


def test_load_definition_unknown_key_in_bare_array_names_the_nearest() -> None:
    seed = _raw(SEED)
    seed[1]["operations"]["create"]["bodyTemplat"] = {}
    with pytest.raises(DefinitionError) as caught:
        load_definition(seed)
    problem = caught.value.problems[0]
    assert problem.location == "[1].operations.create.bodyTemplat"
    assert "'bodyTemplate'" in problem.message


def test_load_definition_unknown_key_far_from_any_points_to_meta() -> None:
    document = _good()
    document["resources"][0]["zzqqxx"] = 1
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    problem = caught.value.problems[0]
    assert problem.location == "resources[0].zzqqxx"
    assert "'meta'" in problem.message


def test_load_definition_x_prefixed_keys_are_refused_too() -> None:
    """Unknown keys are always reported, even `x-` ones; free-form data goes in `meta`."""
    document = _good()
    document["resources"][0]["x-owner"] = "team"
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    assert caught.value.problems[0].location == "resources[0].x-owner"


def test_load_definition_invalid_json_text_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"handle": "x",,\n]\n', encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    error = caught.value
    assert error.file == str(path)
    assert error.problems[0].location == "line 2 column 18"


def test_load_definition_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(tmp_path / "nope.json")
    assert caught.value.file == str(tmp_path / "nope.json")


def test_load_definition_bad_selector_step_is_located() -> None:
    document = _good()
    document["resources"][0]["fields"][0]["selector"] = ["a", 1.5]
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    assert all(
        p.location.startswith("resources[0].fields[0].selector") for p in caught.value.problems
    )


def test_load_definition_transition_trigger_with_where_loads() -> None:
    document = _good()
    document["resources"][0]["webhooks"][0]["trigger"] = {
        "type": "transition",
        "selector": ["status"],
        "to": "ended",
        "where": {"selector": ["counts", "expired"], "op": ">", "value": 0},
    }
    webhook = load_definition(document).resources[0].webhooks[0]
    assert webhook.trigger is not None and webhook.trigger.where is not None
    assert webhook.trigger.where.op == ">"


def test_load_definition_bare_string_templates_are_normalised() -> None:
    """A template may be a bare string (Corteza's shorthand); it is normalised once at load."""
    resource = load_definition(_good()).resource("others")
    assert resource.endpoint.value == "/others"
    assert resource.endpoint.placeholders == []


# --- the exported JSON Schema -----------------------------------------------------------------


def _validate(
    schema: dict[str, Any], value: Any, root: dict[str, Any], where: str = "$"
) -> list[str]:
    """The subset of JSON Schema that pydantic emits, enough to check the shipped files.

    (jsonschema is not a dependency of the project; this keeps the test honest without it.)
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        errors = _validate(root["$defs"][name], value, root, where)
        rest = {k: v for k, v in schema.items() if k not in ("$ref", "default")}
        return errors + (_validate(rest, value, root, where) if rest else [])
    if "if" in schema:
        branch = "then" if not _validate(schema["if"], value, root, where) else "else"
        return _validate(schema[branch], value, root, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [_validate(s, value, root, where) for s in schema[key]]
            passing = sum(1 for b in branches if not b)
            if passing == 0 or (key == "oneOf" and passing > 1):
                return [f"{where}: {key} ({passing} branches pass)"]
    errors: list[str] = []
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in enum")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}.{name}: required")
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties", {})
        for name, item in value.items():
            matching = [p for p in patterns if re.search(p, name)]
            for pattern in matching:
                errors += _validate(patterns[pattern], item, root, f"{where}.{name}")
            if name in properties:
                errors += _validate(properties[name], item, root, f"{where}.{name}")
            elif matching:
                continue
            elif extra is False:
                errors.append(f"{where}.{name}: not allowed")
            elif isinstance(extra, dict):
                errors += _validate(extra, item, root, f"{where}.{name}")
        if "propertyNames" in schema:
            for name in value:
                errors += _validate(schema["propertyNames"], name, root, f"{where}[{name!r}]")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += _validate(schema["items"], item, root, f"{where}[{index}]")
    return errors


def test_definition_json_schema_shape() -> None:
    schema = definition_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    definitions = schema["$defs"]
    assert {"Resource", "Operation", "Placeholder", "Field", "Webhook", "Service"} <= set(
        definitions
    )
    operation = definitions["Operation"]
    assert operation["additionalProperties"] is False
    assert {"bodyTemplate", "operationId", "queryParams", "pagination"} <= set(
        operation["properties"]
    )
    assert "baseURL" in definitions["Service"]["properties"]
    assert definitions["Placeholder"]["properties"]["type"]["enum"] == [
        "String",
        "Integer",
        "Number",
        "Boolean",
        "DateTime",
        "Object",
        "Array",
    ]
    json.dumps(schema)  # the export is plain JSON


@pytest.mark.parametrize("path", [SEED, SHIPPED], ids=["seed", "claude-api"])
def test_definition_json_schema_validates_the_shipped_definitions(path: Path) -> None:
    schema = definition_json_schema()
    assert _validate(schema, _raw(path), schema) == []


def test_definition_json_schema_refuses_an_unknown_key() -> None:
    """The schema is strict like the loader: an unknown key fails validation too."""
    schema = definition_json_schema()
    document = _raw(SHIPPED)
    document["resources"][0]["operations"]["create"]["bodyTemplat"] = "x"
    assert _validate(schema, document, schema) != []


def test_load_definition_does_not_mutate_the_given_object() -> None:
    document = _good()
    before = copy.deepcopy(document)
    load_definition(document)
    assert document == before


def _one_resource(**operation: Any) -> list[dict[str, Any]]:
    return [
        {"handle": "h", "endpoint": "/h", "operations": {"op": {"method": "POST", **operation}}}
    ]


@pytest.mark.parametrize(
    "body",
    ['{"a": "{{ x * 1000000 }}"}', '{"a": {{ 2 ** 100 }}}', '{"a": {{ [1] * 10**6 }}}'],
    ids=["string-repeat", "power", "list-repeat"],
)
def test_load_definition_refuses_templates_that_build_huge_values(body: str) -> None:
    """A template that could exhaust memory when rendered is refused at load, not run."""
    placeholders = [{"name": "x", "type": "String", "required": True}] if "x" in body else []
    with pytest.raises(DefinitionError) as caught:
        load_definition(_one_resource(bodyTemplate={"value": body, "placeholders": placeholders}))
    (problem,) = caught.value.problems
    assert problem.location == "[0].operations.op.bodyTemplate.value"


def test_load_definition_booleans_are_strict() -> None:
    """`"required": "yes"` is refused rather than silently read as true."""
    path = {"value": "/{{x}}", "placeholders": [{"name": "x", "required": "yes"}]}
    with pytest.raises(DefinitionError) as caught:
        load_definition(_one_resource(path=path))
    (problem,) = caught.value.problems
    assert problem.location == "[0].operations.op.path.placeholders[0].required"
    assert problem.found == "yes"


@pytest.mark.parametrize(
    ("edit", "location"),
    [
        ({"fields": [{"name": "a", "selector": ["a", 1.5]}]}, "[0].fields[0].selector"),
        ({"idField": {"a": 1}}, "[0].idField"),
    ],
)
def test_load_definition_bad_selector_is_one_problem(edit: dict[str, Any], location: str) -> None:
    """A selector that fits neither spelling gives one problem saying what is allowed."""
    with pytest.raises(DefinitionError) as caught:
        load_definition([{"handle": "h", "endpoint": "/h", **edit}])
    (problem,) = caught.value.problems
    assert problem.location == location
    assert problem.allowed is not None and "JSONPath" in problem.allowed


def test_load_definition_pagination_cursor_key_is_kept_in_the_location() -> None:
    operation = {"method": "GET", "pagination": {"type": "cursor", "cursor": 5}}
    with pytest.raises(DefinitionError) as caught:
        load_definition([{"handle": "h", "endpoint": "/h", "operations": {"list": operation}}])
    (problem,) = caught.value.problems
    assert problem.location == "[0].operations.list.pagination.cursor"


def test_load_definition_shipped_every_operation_has_an_operation_id() -> None:
    definition = load_definition(SHIPPED)
    missing = [
        f"{r.handle}.{name}"
        for r in definition.resources
        for name, operation in r.operations.items()
        if not operation.operation_id
    ]
    assert missing == []


def test_a_stray_key_is_one_located_error_for_a_json_schema_validator() -> None:
    """jsonschema (Draft 2020-12) on the exported schema: the root picks its shape by type, so
    a typo is reported once, where it is, not as 'not valid under any of the given schemas'
    with the whole document printed."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(definition_json_schema())
    for document in (_raw(SHIPPED), _raw(SEED)):
        assert list(validator.iter_errors(document)) == []
    document = _raw(SHIPPED)
    document["resources"][0]["operations"]["create"]["bodyTemplat"] = "x"
    (error,) = validator.iter_errors(document)
    assert list(error.absolute_path) == ["resources", 0, "operations", "create"]
    assert "'bodyTemplat' was unexpected" in error.message
    assert len(error.message) < 300
    bare = _raw(SEED)
    bare[0]["handel"] = "x"
    (error,) = validator.iter_errors(bare)
    assert list(error.absolute_path) == [0] and "'handel' was unexpected" in error.message
