"""The load-time pass over one operation: its templates (path, body, headers, query)
compiled once and checked against its placeholders, placeholder defaults typed, selectors
and paginator compiled, and its request plan built (:mod:`connector.request_plans`)."""

from __future__ import annotations

from types import MappingProxyType

from .compile_checker import SAMPLE, SELECTOR_ALLOWED, Checker
from .compiled import CompiledOperation
from .definition_parts import Placeholder, TemplateMap
from .definition_rules import (
    header_name_problem,
    header_value_problem,
    parameter_name_problem,
    path_start_problem,
)
from .jsontext import JSONTextError, parse_strict
from .models import Operation, Resource
from .pagination import compile_paginator
from .placeholders import PlaceholderIndex, coerce_value
from .request_plans import RequestPlan, entries
from .selectors import path_selector
from .templates import CompiledTemplate

__all__ = ["CompiledMap", "compile_map", "compile_operation"]

CompiledMap = tuple[
    list[tuple[list[str | int], CompiledTemplate | None]], dict[str, CompiledTemplate]
]
"""A compiled templated map: each entry's (location, template or None), and the entries that
compiled, by name."""


def compile_operation(
    check: Checker,
    loc: list[str | int],
    resource: Resource,
    name: str,
    endpoint: CompiledTemplate | None,
    resource_headers: CompiledMap | None,
) -> CompiledOperation | None:
    """Compile and check one operation of ``resource`` (its ``endpoint`` and ``headers``
    compiled already, once per resource); None when a part does not compile."""
    operation = resource.operations[name]
    placeholders = operation.placeholders() + (
        resource.endpoint.placeholders if resource.endpoint else []
    )
    check.unique_placeholders(loc, placeholders)
    declared = {p.name for p in placeholders} | check.settings
    used: set[str] = set(endpoint.variables) if endpoint else set()
    parts: list[tuple[list[str | int], CompiledTemplate | None]] = []
    path = check.text([*loc, "path", "value"], operation.path.value, "path")
    problem = path_start_problem(operation.path.value, may_be_empty=True)
    if problem:
        check.add([*loc, "path", "value"], problem, operation.path.value)
    parts.append(([*loc, "path"], path))
    body = None
    if operation.body_template is not None:
        body = check.text([*loc, "bodyTemplate", "value"], operation.body_template.value, "json")
        parts.append(([*loc, "bodyTemplate"], body))
    maps: dict[str, dict[str, CompiledTemplate]] = {"queryParams": {}, "headers": {}}
    for key, template_map in (
        ("queryParams", operation.query_params),
        ("headers", operation.headers),
    ):
        if template_map is not None:
            found, maps[key] = compile_map(check, [*loc, key], template_map)
            parts += found
    if resource_headers is not None:
        parts += resource_headers[0]
    if endpoint is not None:
        for name in sorted(endpoint.variables - declared):
            check.add(
                [*loc[:-2], "endpoint"],
                f"the endpoint uses {name!r}, which neither the endpoint nor operation "
                f"{loc[-1]!r} declares as a placeholder (nor service.params)",
                allowed=", ".join(sorted(declared)) or None,
            )
    _coerce_defaults(check, loc, resource, operation)
    samples = {p.name: SAMPLE[p.type] for p in placeholders}
    for where, compiled in parts:
        if compiled is None:
            continue
        if compiled is not body:
            at = [*where, "value"] if where[-1] == "path" else where
            check.renders(at, compiled, samples)
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
    records = None
    if operation.records is not None:
        records = check.selector([*loc, "records"], operation.records)
    response_map = None
    if operation.response_map is not None:
        response_map = {
            key: selector
            for key, text in operation.response_map.items()
            if (selector := check.selector([*loc, "responseMap", key], path_selector(text)))
        }
    pagination = operation.pagination
    paginator = None
    if pagination is not None:
        paginator, wrong = compile_paginator(pagination)
        for key, message, problem in wrong:
            check.add([*loc, "pagination", key], message, problem, SELECTOR_ALLOWED)
        if operation.method != "GET":
            check.add([*loc, "pagination"], "only GET operations paginate", operation.method, "GET")
    if operation.multipart is not None and operation.body_template is not None:
        check.add(
            [*loc, "multipart"], "an operation has a bodyTemplate or multipart parts, not both"
        )
    broken = (
        endpoint is None
        or path is None
        or (operation.body_template is not None and body is None)
        or (operation.records is not None and records is None)
        or (pagination is not None and paginator is None)
        or (
            response_map is not None
            and operation.response_map is not None
            and len(response_map) < len(operation.response_map)
        )
    )
    if broken:
        return None
    assert endpoint is not None and path is not None
    plan = RequestPlan(
        inputs=PlaceholderIndex(placeholders),
        body_names=operation.body_placeholder_names(),
        path_variables=tuple(sorted(endpoint.variables | path.variables)),
        endpoint=endpoint,
        path=path,
        body=body,
        headers=tuple(
            entries(resource_headers[1] if resource_headers else None, lower=True)
            + entries(maps["headers"], lower=True)
        ),
        query=tuple(entries(maps["queryParams"], lower=False)),
    )
    return CompiledOperation(
        name=name,
        handle=resource.handle,
        plan=plan,
        headers=MappingProxyType(maps["headers"]),
        query=MappingProxyType(maps["queryParams"]),
        records=records,
        paginator=paginator,
        response_map=MappingProxyType(response_map) if response_map is not None else None,
    )


def _coerce_defaults(
    check: Checker, loc: list[str | int], resource: Resource, operation: Operation
) -> None:
    """Give each placeholder default its declared type, once, at load (a Number default
    ``"1"`` is sent as 1, like ``-p priority=1``); a default that cannot be is a problem."""
    parts: list[tuple[list[str | int], object]] = [
        ([*loc, "path"], operation.path),
        ([*loc, "queryParams"], operation.query_params),
        ([*loc, "headers"], operation.headers),
        ([*loc, "bodyTemplate"], operation.body_template),
        ([*loc, "multipart"], operation.multipart),
        ([*loc[:-2], "endpoint"], resource.endpoint),
    ]
    for where, part in parts:
        for index, placeholder in enumerate(getattr(part, "placeholders", None) or []):
            if placeholder.default is None:
                continue
            try:
                placeholder.default = coerce_value(placeholder.default, placeholder.type)
            except ValueError as exc:
                check.add(
                    [*where, "placeholders", index, "default"],
                    f"the default is not a {placeholder.type}: {exc}",
                    None if placeholder.secret else placeholder.default,
                )


def compile_map(check: Checker, loc: list[str | int], template_map: TemplateMap) -> CompiledMap:
    """Compile and check templated headers or query parameters: each entry's (location,
    template) for the checks that follow, and the compiled entries by name."""
    headers = loc[-1] == "headers"
    out: list[tuple[list[str | int], CompiledTemplate | None]] = []
    compiled_map: dict[str, CompiledTemplate] = {}
    for key, text in template_map.value.items():
        problem = header_name_problem(key) if headers else parameter_name_problem(key)
        if problem:
            check.add([*loc, key], problem, key)
            continue
        problem = header_value_problem(text) if headers else None
        if problem:
            check.add([*loc, "value", key], problem, text)
            continue
        compiled = check.text([*loc, "value", key], text, "text")
        if compiled is not None:
            compiled_map[key] = compiled
        out.append(([*loc, "value", key], compiled))
    return out, compiled_map


def _check_body_renders(
    check: Checker, loc: list[str | int], body: CompiledTemplate, placeholders: list[Placeholder]
) -> None:
    """Render the body with a sample value of each type: what comes out must be JSON."""
    context = {p.name: SAMPLE[p.type] for p in placeholders}
    try:
        text = body.render(context)
    except Exception as exc:  # any render failure on sample data is the template's fault
        check.add(loc, f"body template does not render: {exc}")
        return
    try:
        parse_strict(text)
    except JSONTextError as exc:
        where = f" at column {exc.column}" if exc.column else ""
        check.add(
            loc, f"body template does not render valid JSON ({exc.message}{where})", text[:120]
        )
