"""Building requests, with no I/O: (definition, operation, inputs) → ``httpx.Request``.

:func:`build_request` renders one operation's path, query, headers and body over the
:class:`ResolvedService` a client resolved once (:mod:`connector.resolved_service`: the
definition's ``service`` block and the configuration: base URL, API key, environment).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from .bodies import encode_form
from .definition_rules import header_name_problem, header_value_problem
from .definitions import Definition, Operation
from .errors import ConfigurationError, InputError, InputProblem
from .jsontext import JSONTextError, check_strict, deepest_path
from .origins import origin_problem
from .placeholders import coerce_inputs
from .request_plans import Entry, RequestPlan
from .resolved_service import ResolvedService, resolve_service
from .templates import RenderError, to_json_text
from .types import JSON
from .uploads import FileSource

__all__ = ["UNSET", "ResolvedService", "build_request", "origin_problem", "resolve_service"]
# ResolvedService and resolve_service live in resolved_service.py; they stay importable here.


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
"""Marks "no body given": the operation's bodyTemplate is rendered."""

BODY_DEPTH = 512
"""Nesting levels a body given whole may have."""


def build_request(
    definition: Definition,
    service: ResolvedService,
    handle: str,
    operation_name: str,
    params: Mapping[str, JSON] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, JSON] | None = None,
    body: JSON = UNSET,
) -> httpx.Request:
    """The request for one operation. Pure but for reading upload files named by placeholders.

    ``headers`` win over the service's and the operation's; ``query`` adds parameters;
    ``body`` (any JSON value, or bytes) replaces the bodyTemplate, whose placeholders are then
    not required. Raises InputError listing every bad input, ConfigurationError for settings.
    """
    resource = definition.resource(handle)
    operation = resource.operation(operation_name)
    plan = operation.compiled.plan
    values = coerce_inputs(
        plan.inputs,
        params or {},
        resource=handle,
        operation=operation_name,
        optional=plan.body_names if body is not UNSET else frozenset(),
    )
    if service.settings:
        values = {**service.settings, **values}
    problems: list[InputProblem] = []
    base_url = service.require_base_url()
    for name in plan.path_variables:
        if values.get(name) == "":
            problems.append(
                InputProblem(
                    name,
                    "cannot be empty: the value is part of the path, and an empty one would "
                    "call another endpoint",
                    "",
                )
            )
    path = _render_path(plan, values, problems)
    url = base_url + path
    query_params = dict(service.query) if service.query else {}
    if plan.query:
        query_params.update(_render_entries(plan.query, values, problems))
    if query:
        query_params.update({k: _query_text(v) for k, v in query.items() if v is not None})
    overrides = _render_entries(plan.headers, values, problems) if plan.headers else {}
    if headers:
        overrides.update({k.lower(): v for k, v in headers.items()})
    # The service's own headers were checked once, when it was resolved; what a call adds
    # (rendered or given) is checked on every call.
    for name, why in service.header_problems.items():
        if name not in overrides:
            problems.append(InputProblem(f"header {name}", why))
    for name, value in overrides.items():
        problem = header_name_problem(name) or header_value_problem(value)
        if problem:
            problems.append(InputProblem(f"header {name}", problem))
    merged = {**service.headers, **overrides} if overrides else dict(service.headers)
    if service.missing_auth and not (service.auth_header and merged.get(service.auth_header)):
        raise ConfigurationError(service.missing_auth, setting="api_key")
    content: bytes | None = None
    files: list[tuple[str, Any]] | None = None
    data: dict[str, str] | None = None
    if body is not UNSET:
        content = body if isinstance(body, bytes) else _body_text(body, problems)
        merged.setdefault("content-type", "application/json")
    elif operation.body_template is not None:
        content = _render_body(plan, values, problems)
        merged.setdefault("content-type", "application/json")
    elif operation.multipart is not None:
        files, data = _multipart(operation, values, problems)
    kind = operation.content_type or service.content_type
    if content is not None and kind != "application/json" and not isinstance(body, bytes):
        content, form_files, data = encode_form(content, kind, problems)
        files = form_files
        if merged.get("content-type") == "application/json":
            del merged["content-type"]
        if content is not None:
            merged["content-type"] = kind
    if problems:
        raise InputError(problems, resource=handle, operation=operation_name)
    try:
        request = httpx.Request(
            operation.method,
            url,
            params=query_params or None,
            headers=merged,
            content=content,
            files=files,
            data=data,
            extensions={"connector": {"resource": handle, "operation": operation_name}},
        )
    except httpx.InvalidURL as exc:  # "URL too long" for a 10 MB path or query value
        refused = InputProblem("path", f"the request URL cannot be built: {exc}")
        raise InputError([refused], resource=handle, operation=operation_name) from None
    # Checked on the URL httpx will send (parsed once, here), before anything is sent.
    problem = origin_problem(base_url, request.url)
    if problem:
        refused = InputProblem("path", problem, path)
        raise InputError([refused], resource=handle, operation=operation_name)
    return request


def _body_text(body: JSON, problems: list[InputProblem]) -> bytes | None:
    if deepest_path(body, BODY_DEPTH) is not None:
        problems.append(InputProblem("body", f"nested more than {BODY_DEPTH} levels deep"))
        return None
    try:
        return to_json_text(body).encode("utf-8")
    except (ValueError, TypeError) as exc:  # NaN or Infinity, or a value JSON cannot hold
        problems.append(InputProblem("body", f"not JSON: {exc}"))
        return None


def _render_path(plan: RequestPlan, values: dict[str, JSON], problems: list[InputProblem]) -> str:
    try:
        return plan.endpoint.render(values) + plan.path.render(values)
    except RenderError as exc:
        problems.append(InputProblem("path", f"cannot render: {exc}"))
        return ""


def _render_entries(
    entries: tuple[Entry, ...], values: dict[str, JSON], problems: list[InputProblem]
) -> dict[str, str]:
    rendered: dict[str, str] = {}
    for name, written, compiled in entries:
        # An entry whose placeholders were not given is left out: optional query parameters.
        if not compiled.variables <= values.keys():
            continue
        try:
            # Header names are case-insensitive (sent lower so later layers override them);
            # query parameter names are case-sensitive and kept as written.
            rendered[name] = compiled.render(values)
        except RenderError as exc:
            problems.append(InputProblem(written, f"cannot render: {exc}"))
    return rendered


def _query_text(value: JSON) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else to_json_text(value)


def _render_body(
    plan: RequestPlan, values: dict[str, JSON], problems: list[InputProblem]
) -> bytes | None:
    assert plan.body is not None
    try:
        text = plan.body.render(values)
    except RenderError as exc:
        problems.append(InputProblem("body", f"cannot render: {exc}"))
        return None
    try:
        check_strict(text)
    except JSONTextError as exc:
        # The load-time check renders sample values; a value that still breaks the JSON (or
        # names a key twice through a templated key) is an input problem, reported as such.
        problems.append(InputProblem("body", f"the rendered body is not valid JSON: {exc.message}"))
        return None
    return text.encode("utf-8")


def _multipart(
    operation: Operation, values: dict[str, JSON], problems: list[InputProblem]
) -> tuple[list[tuple[str, tuple[str, Any, str]]], dict[str, str]]:
    assert operation.multipart is not None
    files: list[tuple[str, tuple[str, Any, str]]] = []
    data: dict[str, str] = {}
    for part in operation.multipart.value:
        value = values.get(part.source)
        if value is None:
            continue
        if part.kind == "field":
            data[part.name] = value if isinstance(value, str) else to_json_text(value)
            continue
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            try:
                files.extend((part.name, item) for item in _file_parts(source))
            except OSError as exc:
                problems.append(
                    InputProblem(part.source, f"cannot read {source!r}: {exc.strerror or exc}")
                )
    return files, data


def _file_parts(source: JSON) -> Iterator[tuple[str, Any, str]]:
    """(filename, content, mime type) for a path; a directory gives every file below it, named
    ``<directory>/<relative path>`` (the layout skills uploads need)."""
    if isinstance(source, bytes):
        yield ("upload.bin", source, "application/octet-stream")
        return
    path = Path(str(source)).expanduser()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            name = f"{path.name}/{child.relative_to(path).as_posix()}"
            yield (
                name,
                FileSource(child),
                mimetypes.guess_type(child.name)[0] or "application/octet-stream",
            )
        return
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    yield (
        path.name,
        FileSource(path),
        mimetypes.guess_type(path.name)[0] or "application/octet-stream",
    )
