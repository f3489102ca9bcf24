"""The load-time pass over a validated definition: compile templates and selectors, check that
every placeholder is declared and used, and locate every problem in the document.

Kept apart from the models so that ``definitions.py`` reads as the format and this module as
the rules; both run inside :func:`connector.definitions.load_definition`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from .errors import Problem
from .pulls.spec import check_pulls
from .selectors import Selector, SelectorSyntaxError
from .templates import CompiledTemplate, TemplateSyntaxProblem, compile_template

if TYPE_CHECKING:
    from .definitions import Connection, Operation, Placeholder, Resource, Template, TemplateMap

__all__ = ["compile_connection", "locate_validation_errors"]

_SAMPLE = {
    "String": "sample",
    "Integer": 1,
    "Number": 1.5,
    "Boolean": True,
    "DateTime": "2025-01-01T00:00:00Z",
    "Object": {"key": "value"},
    "Array": [1, 2],
}


def _vocabulary() -> list[str]:
    from . import definitions

    words: set[str] = set()
    for item in vars(definitions).values():
        if isinstance(item, type) and issubclass(item, BaseModel) and item is not BaseModel:
            for name, info in item.model_fields.items():
                words.add(info.alias or name)
    return sorted(words)


def format_location(loc: Sequence[str | int], *, bare: bool) -> str:
    """``("resources", 1, "operations", "create")`` → ``resources[1].operations.create``."""
    parts = list(loc)
    if bare and parts[:1] == ["resources"]:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def locate_validation_errors(exc: ValidationError, *, bare: bool) -> list[Problem]:
    """Turn pydantic's errors into located problems; unknown keys name the nearest known key."""
    problems: list[Problem] = []
    vocabulary = _vocabulary()
    unions: dict[tuple[str | int, ...], list[object]] = {}
    for error in exc.errors(include_url=False):
        raw_loc = list(error["loc"])
        union_at = next((i for i, part in enumerate(raw_loc) if _is_plain_union_tag(part)), None)
        if union_at is not None:
            # One problem per value that fits no member of a union (a selector is a list of
            # keys and indices or a JSONPath string), not one per member tried.
            unions.setdefault(tuple(_strip_tags(raw_loc[:union_at])), []).append(error.get("input"))
            continue
        loc = _strip_tags(raw_loc)
        location = format_location(loc, bare=bare)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            close = get_close_matches(key, vocabulary, n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "remove it (free-form data belongs in 'meta')"
            )
            problems.append(Problem(location, f"unknown key {key!r}; {hint}"))
            continue
        allowed = None
        ctx = error.get("ctx") or {}
        if kind == "literal_error":
            allowed = str(ctx.get("expected", ""))
        elif kind == "string_pattern_mismatch":
            allowed = f"text matching {ctx.get('pattern')}"
        elif kind == "union_tag_invalid":
            allowed = str(ctx.get("expected_tags", ""))
        found = None if kind == "missing" else error.get("input")
        if isinstance(found, dict | list):
            found = type(found).__name__
        problems.append(Problem(location, error["msg"], found, allowed))
    for union_loc, inputs in unions.items():
        found = inputs[-1]
        if isinstance(found, dict | list):
            found = type(found).__name__
        key = next((p for p in reversed(union_loc) if isinstance(p, str)), "")
        if key in _SELECTOR_KEYS:
            message, allowed = (
                "not a selector",
                "a list of string keys and integer indices, or a JSONPath string starting with '$'",
            )
        else:
            message, allowed = "a value of the wrong shape", None
        problems.append(
            Problem(format_location(list(union_loc), bare=bare), message, found, allowed)
        )
    return problems


_SELECTOR_KEYS = {"selector", "records", "idField", "cursor", "hasMore", "token"}


def _is_plain_union_tag(part: str | int) -> bool:
    # pydantic names the member it tried for plain unions ("list[union[str,int]]", "str");
    # these are not keys of the user's document.
    return isinstance(part, str) and ("[" in part or part in ("str", "int"))


def _strip_tags(loc: list[str | int]) -> list[str | int]:
    """Drop the member names pydantic inserts: plain-union tags anywhere, and the tag of the
    pagination union right after ``pagination`` (a key named ``cursor`` stays)."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        if _is_plain_union_tag(part):
            continue
        if index and loc[index - 1] == "pagination" and part in ("cursor", "pageToken"):
            continue
        out.append(part)
    return out


class _Checker:
    def __init__(self, bare: bool) -> None:
        self.bare = bare
        self.problems: list[Problem] = []

    def add(
        self,
        loc: Sequence[str | int],
        message: str,
        found: object = None,
        allowed: str | None = None,
    ) -> None:
        self.problems.append(Problem(format_location(loc, bare=self.bare), message, found, allowed))

    def template(
        self, loc: list[str | int], template: Template, mode: str
    ) -> CompiledTemplate | None:
        try:
            compiled = compile_template(template.value, mode)  # type: ignore[arg-type]
        except TemplateSyntaxProblem as exc:
            self.add([*loc, "value"], str(exc), template.value)
            return None
        template._compiled = compiled
        return compiled

    def selector(self, loc: list[str | int], spec: object) -> Selector | None:
        try:
            return Selector(spec)  # type: ignore[arg-type]
        except SelectorSyntaxError as exc:
            self.add(
                loc, str(exc), spec, "a list of keys and indices, or JSONPath starting with '$'"
            )
            return None

    def unique_placeholders(
        self, loc: list[str | int], placeholders: Iterable[Placeholder]
    ) -> None:
        seen: set[str] = set()
        for index, placeholder in enumerate(placeholders):
            names = [placeholder.name, *placeholder.aliases]
            for name in names:
                if name in seen:
                    self.add(
                        [*loc, "placeholders", index, "name"], "placeholder declared twice", name
                    )
                seen.add(name)


def compile_connection(connection: Connection, *, bare: bool) -> list[Problem]:
    """Compile every template and selector in place; return every problem found."""
    check = _Checker(bare)
    if connection.service is not None:
        _compile_service(check, connection)
    handles: set[str] = set()
    operation_ids: dict[str, str] = {}
    events: set[str] = set()
    for r_index, resource in enumerate(connection.resources):
        loc: list[str | int] = ["resources", r_index]
        if resource.handle in handles:
            check.add([*loc, "handle"], "handle used by another resource", resource.handle)
        handles.add(resource.handle)
        _compile_resource(check, loc, resource, operation_ids, events)
    for where, message, found in check_pulls(connection):
        check.add(where, message, found)
    return check.problems


def _compile_service(check: _Checker, connection: Connection) -> None:
    from .definitions import Template

    service = connection.service
    assert service is not None
    loc: list[str | int] = ["service"]
    allowed = {"env"}
    texts: list[tuple[list[str | int], str]] = [([*loc, "baseURL"], service.base_url)]
    texts += [([*loc, "headers", k], v) for k, v in service.headers.items()]
    texts += [([*loc, "auth", "params", k], v) for k, v in service.auth.params.items()]
    for where, text in texts:
        compiled = check.template(where, Template(value=text), "text")
        if compiled is not None:
            for name in sorted(compiled.variables - allowed):
                check.add(where, f"service templates may only read 'env', not {name!r}", text)
    auth = service.auth
    needed = {"none": set(), "api_token": {"header", "token"}, "basic": {"username", "password"}}[
        auth.method
    ]
    for key in sorted(needed - auth.params.keys()):
        check.add(
            [*loc, "auth", "params"], f"auth method {auth.method!r} needs the parameter {key!r}"
        )


def _compile_resource(
    check: _Checker,
    loc: list[str | int],
    resource: Resource,
    operation_ids: dict[str, str],
    events: set[str],
) -> None:
    endpoint = check.template([*loc, "endpoint"], resource.endpoint, "path")
    for f_index, field in enumerate(resource.fields):
        field._selector = check.selector([*loc, "fields", f_index, "selector"], field.selector)
    check.selector([*loc, "idField"], resource.id_field)
    for name, operation in resource.operations.items():
        operation._name = name
        operation._handle = resource.handle
        op_loc: list[str | int] = [*loc, "operations", name]
        _compile_operation(check, op_loc, resource, operation, endpoint)
        if operation.operation_id:
            where = f"{resource.handle}.{name}"
            if operation.operation_id in operation_ids:
                check.add(
                    [*op_loc, "operationId"],
                    f"operationId already used by {operation_ids[operation.operation_id]}",
                    operation.operation_id,
                )
            operation_ids[operation.operation_id] = where
    for w_index, webhook in enumerate(resource.webhooks):
        w_loc: list[str | int] = [*loc, "webhooks", w_index]
        if webhook.event in events:
            check.add([*w_loc, "event"], "event declared twice", webhook.event)
        events.add(webhook.event)
        if not webhook.path.startswith("/"):
            check.add([*w_loc, "path"], "a webhook path starts with '/'", webhook.path)
        for p_index, field in enumerate(webhook.payload):
            field._selector = check.selector(
                [*w_loc, "payload", p_index, "selector"], field.selector
            )
        trigger = webhook.trigger
        if trigger is not None:
            if trigger.selector is not None:
                check.selector([*w_loc, "trigger", "selector"], trigger.selector)
            elif trigger.type == "transition":
                check.add([*w_loc, "trigger", "selector"], "a transition trigger needs a selector")
            if trigger.where is not None:
                check.selector([*w_loc, "trigger", "where", "selector"], trigger.where.selector)


def _compile_operation(
    check: _Checker,
    loc: list[str | int],
    resource: Resource,
    operation: Operation,
    endpoint: CompiledTemplate | None,
) -> None:
    placeholders = operation.placeholders() + (
        resource.endpoint.placeholders if resource.endpoint else []
    )
    check.unique_placeholders(loc, placeholders)
    declared = {p.name for p in placeholders}
    used: set[str] = set(endpoint.variables) if endpoint else set()
    parts: list[tuple[list[str | int], CompiledTemplate | None]] = []
    path = check.template([*loc, "path"], operation.path, "path")
    parts.append(([*loc, "path"], path))
    body = None
    if operation.body_template is not None:
        body = check.template([*loc, "bodyTemplate"], operation.body_template, "json")
        parts.append(([*loc, "bodyTemplate"], body))
    for key, template_map in (
        ("queryParams", operation.query_params),
        ("headers", operation.headers),
    ):
        if template_map is not None:
            parts += _compile_map(check, [*loc, key], template_map)
    if resource.headers is not None:
        parts += _compile_map(check, [*loc[:-2], "headers"], resource.headers)
    for where, compiled in parts:
        if compiled is None:
            continue
        used |= compiled.variables
        for name in sorted(compiled.variables - declared):
            check.add(
                where,
                f"template uses {name!r}, which no placeholder declares",
                allowed=", ".join(sorted(declared)) or None,
            )
    if operation.multipart is not None:
        for p_index, part in enumerate(operation.multipart.value):
            used.add(part.source)
            if part.source not in declared:
                check.add(
                    [*loc, "multipart", "value", p_index, "source"],
                    "no placeholder has this name",
                    part.source,
                )
    for p_index, placeholder in enumerate(operation.path.placeholders):
        if placeholder.name not in used:
            check.add(
                [*loc, "path", "placeholders", p_index, "name"],
                "placeholder is declared but never used",
                placeholder.name,
            )
    if operation.body_template is not None:
        for p_index, placeholder in enumerate(operation.body_template.placeholders):
            if placeholder.name not in used:
                check.add(
                    [*loc, "bodyTemplate", "placeholders", p_index, "name"],
                    "placeholder is declared but never used",
                    placeholder.name,
                )
    if body is not None:
        _check_body_renders(check, [*loc, "bodyTemplate", "value"], body, placeholders)
    if operation.records is not None:
        operation._records = check.selector([*loc, "records"], operation.records)
    pagination = operation.pagination
    if pagination is not None:
        selectors = (
            [("cursor", pagination.cursor), ("hasMore", pagination.has_more)]
            if pagination.type == "cursor"
            else [("token", pagination.token)]
        )
        for key, spec in selectors:
            check.selector([*loc, "pagination", key], spec)
        if operation.method != "GET":
            check.add([*loc, "pagination"], "only GET operations paginate", operation.method, "GET")
    if operation.multipart is not None and operation.body_template is not None:
        check.add(
            [*loc, "multipart"], "an operation has a bodyTemplate or multipart parts, not both"
        )


def _compile_map(
    check: _Checker, loc: list[str | int], template_map: TemplateMap
) -> list[tuple[list[str | int], CompiledTemplate | None]]:
    from .definitions import Template

    out: list[tuple[list[str | int], CompiledTemplate | None]] = []
    compiled_map: dict[str, CompiledTemplate] = {}
    for key, text in template_map.value.items():
        if any(c in key for c in "\r\n:") or not key:
            check.add([*loc, key], "not a valid header or parameter name", key)
            continue
        compiled = check.template([*loc, "value", key], Template(value=text), "text")
        if compiled is not None:
            compiled_map[key] = compiled
        out.append(([*loc, "value", key], compiled))
    template_map._compiled = compiled_map
    return out


def _check_body_renders(
    check: _Checker, loc: list[str | int], body: CompiledTemplate, placeholders: list[Placeholder]
) -> None:
    """Render the body with a sample value of each type: what comes out must be JSON."""
    context = {p.name: _SAMPLE[p.type] for p in placeholders}
    try:
        text = body.render(context)
    except Exception as exc:  # any render failure on sample data is the template's fault
        check.add(loc, f"body template does not render: {exc}")
        return
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        check.add(
            loc,
            f"body template does not render valid JSON ({exc.msg} at column {exc.colno})",
            text[:120],
        )
