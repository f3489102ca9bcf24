"""The load-time pass over a validated definition: compile templates and selectors, check that
every placeholder is declared and used, and locate every problem in the document.

Kept apart from the models so that ``definitions.py`` reads as the format and this module as
the rules; both run inside :func:`connector.definitions.load_definition`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from typing import TYPE_CHECKING

from jinja2.exceptions import SecurityError

from .auth import NEEDED_PARAMS as NEEDED_AUTH_PARAMS
from .definition_rules import (
    header_name_problem,
    header_value_problem,
    parameter_name_problem,
    path_start_problem,
    webhook_path_problem,
)
from .errors import Problem
from .jsontext import JSONTextError, parse_strict
from .locations import format_location, locate_validation_errors
from .pagination import compile_paginator
from .placeholders import coerce_value
from .pulls.spec import check_pulls
from .selectors import Selector, SelectorSyntaxError, path_selector
from .shaping import RecordShape, compile_shape
from .templates import (
    CompiledTemplate,
    Mode,
    RenderError,
    TemplateSyntaxProblem,
    compile_template,
    names_read,
)
from .types import JSON

if TYPE_CHECKING:
    from .definition_parts import Field
    from .definitions import Connection, Operation, Placeholder, Resource, Template, TemplateMap

_SELECTOR_ALLOWED = "a list of keys and indices, or JSONPath starting with '$'"

__all__ = ["compile_connection", "compile_steps", "format_location", "locate_validation_errors"]

_ROLES = ("baseURL", "apiKey")

_SAMPLE: dict[str, JSON] = {
    "String": "sample",
    "Integer": 1,
    "Number": 1.5,
    "Boolean": True,
    "DateTime": "2025-01-01T00:00:00Z",
    "Object": {"key": "value"},
    "Array": [1, 2],
}


class _Checker:
    def __init__(self, bare: bool) -> None:
        self.settings: set[str] = set()
        """The connection parameters (``service.params``) every template may read."""
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
        self, loc: list[str | int], template: Template, mode: Mode
    ) -> CompiledTemplate | None:
        compiled = self.text([*loc, "value"], template.value, mode)
        if compiled is not None:
            template._compiled = compiled
        return compiled

    def text(self, loc: list[str | int], text: str, mode: Mode) -> CompiledTemplate | None:
        """Compile the template ``text`` found at ``loc``, or report why it cannot."""
        try:
            return compile_template(text, mode)
        except TemplateSyntaxProblem as exc:
            self.add(loc, str(exc), text)
            return None

    def renders(
        self, loc: list[str | int], compiled: CompiledTemplate, samples: dict[str, JSON]
    ) -> None:
        """Render once with sample values: a template over its budget is refused at load."""
        try:
            compiled.render(samples)
        except SecurityError as exc:
            self.add(loc, str(exc))
        except RenderError:
            pass  # other failures depend on real values; the call reports them

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
        check.settings = {p.name for p in connection.service.params}
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


def compile_steps(
    located: Sequence[tuple[list[str | int] | dict[str, list[str | int]], Resource]],
    *,
    bare: bool,
    settings: set[str],
) -> list[Problem]:
    """Compile the operations of hidden resources: the steps of multi-step operations
    (``step0``, ``step1`` ..., located at ``operations[i].steps[j].http``), or calls whose
    location is given by name (a feed's, :mod:`connector.feeds`)."""
    check = _Checker(bare)
    check.settings = settings
    for loc, resource in located:
        base = loc if isinstance(loc, list) else []
        endpoint = check.template([*base, "endpoint"], resource.endpoint, "path")
        for index, (name, operation) in enumerate(resource.operations.items()):
            operation._name = name
            operation._handle = resource.handle
            at = loc[name] if isinstance(loc, dict) else [*loc, "steps", index, "http"]
            _compile_operation(check, at, resource, operation, endpoint)
    return check.problems


def _compile_service(check: _Checker, connection: Connection) -> None:

    service = connection.service
    assert service is not None
    loc: list[str | int] = ["service"]
    declared = set(service.variables.values())
    for role in service.variables:
        close = get_close_matches(role, _ROLES, n=1, cutoff=0.6)
        if role not in _ROLES and close:
            check.add(
                [*loc, "variables", role],
                f"unknown role; did you mean {close[0]!r}? (other names declare variables "
                "read by templates but stand for no flag)",
                role,
            )
    texts: list[tuple[list[str | int], str]] = [([*loc, "baseURL"], service.base_url)]
    texts += [([*loc, "headers", k], v) for k, v in service.headers.items()]
    texts += [([*loc, "auth", "params", k], v) for k, v in service.auth.params.items()]
    for key in service.headers:
        problem = header_name_problem(key)
        if problem:
            check.add([*loc, "headers", key], problem, key)
    header = service.auth.params.get("header")
    if header is not None and header_name_problem(header):
        check.add([*loc, "auth", "params", "header"], str(header_name_problem(header)), header)
    sample = {"env": dict.fromkeys(declared, "")}
    for where, text in texts:
        if where[1] == "headers" or where[-1] in ("header", "prefix"):
            problem = header_value_problem(text)
            if problem:
                check.add(where, problem, text)
        compiled = check.text(where, text, "text")
        if compiled is None:
            continue
        for name in sorted(compiled.variables - {"env"} - check.settings):
            check.add(where, f"service templates may only read 'env', not {name!r}", text)
        keys, other = names_read(text, "env")
        if other:
            check.add(
                where,
                "service templates may read env only as env.NAME or env['NAME'] "
                "(so that the variables read can be checked)",
                text,
            )
        for key in sorted(keys - declared):
            check.add(
                where,
                f"reads the environment variable {key!r}, which service.variables does not "
                "declare; templates may read only declared variables",
                key,
                allowed=", ".join(sorted(declared)) or "none declared",
            )
        check.renders(where, compiled, sample)
    if service.probe is not None:
        check.template([*loc, "probe", "path"], service.probe.path, "path")
    auth = service.auth
    required, optional = NEEDED_AUTH_PARAMS[auth.method]
    for key in sorted(required - auth.params.keys()):
        check.add(
            [*loc, "auth", "params"], f"auth method {auth.method!r} needs the parameter {key!r}"
        )
    for key in sorted(auth.params.keys() - required - optional):
        known = ", ".join(sorted(required | optional)) or "none"
        check.add(
            [*loc, "auth", "params", key],
            f"auth method {auth.method!r} has no parameter {key!r}",
            allowed=known,
        )
    if auth.method == "api_token" and ("header" in auth.params) == ("query" in auth.params):
        check.add(
            [*loc, "auth", "params"],
            "auth method 'api_token' needs exactly one of 'header' and 'query'",
        )


def _record_shape(fields: Sequence[Field]) -> RecordShape | None:
    """The fields compiled into one shaping function (None while a selector is broken: the
    definition then fails to load anyway)."""
    parts = [(f.name, f.type, f._selector) for f in fields]
    if any(selector is None for _, _, selector in parts):
        return None
    return compile_shape([(name, kind, s) for name, kind, s in parts if s is not None])


def _compile_resource(
    check: _Checker,
    loc: list[str | int],
    resource: Resource,
    operation_ids: dict[str, str],
    events: set[str],
) -> None:
    endpoint = check.template([*loc, "endpoint"], resource.endpoint, "path")
    problem = path_start_problem(resource.endpoint.value, may_be_empty=False)
    if problem:
        check.add([*loc, "endpoint", "value"], problem, resource.endpoint.value)
    if endpoint is not None and endpoint.variables:
        samples = {p.name: _SAMPLE[p.type] for p in resource.endpoint.placeholders}
        check.renders([*loc, "endpoint", "value"], endpoint, samples)
    for f_index, field in enumerate(resource.fields):
        field._selector = check.selector([*loc, "fields", f_index, "selector"], field.selector)
    resource._shape = _record_shape(resource.fields)
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
        problem = webhook_path_problem(webhook.path)
        if problem:
            check.add([*w_loc, "path"], problem, webhook.path)
        for p_index, field in enumerate(webhook.payload):
            field._selector = check.selector(
                [*w_loc, "payload", p_index, "selector"], field.selector
            )
        webhook._shape = _record_shape(webhook.payload)
        trigger = webhook.trigger
        if trigger is not None:
            if trigger.selector is not None:
                check.selector([*w_loc, "trigger", "selector"], trigger.selector)
            elif trigger.type == "transition":
                check.add([*w_loc, "trigger", "selector"], "a transition trigger needs a selector")
            if trigger.where is not None:
                check.selector([*w_loc, "trigger", "where", "selector"], trigger.where.selector)
            if trigger.time is not None:
                check.selector([*w_loc, "trigger", "time"], trigger.time)


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
    declared = {p.name for p in placeholders} | check.settings
    used: set[str] = set(endpoint.variables) if endpoint else set()
    parts: list[tuple[list[str | int], CompiledTemplate | None]] = []
    path = check.template([*loc, "path"], operation.path, "path")
    problem = path_start_problem(operation.path.value, may_be_empty=True)
    if problem:
        check.add([*loc, "path", "value"], problem, operation.path.value)
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
    if endpoint is not None:
        for name in sorted(endpoint.variables - declared):
            check.add(
                [*loc[:-2], "endpoint"],
                f"the endpoint uses {name!r}, which neither the endpoint nor operation "
                f"{loc[-1]!r} declares as a placeholder (nor service.params)",
                allowed=", ".join(sorted(declared)) or None,
            )
    _coerce_defaults(check, loc, resource, operation)
    samples = {p.name: _SAMPLE[p.type] for p in placeholders}
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
    if operation.records is not None:
        operation._records = check.selector([*loc, "records"], operation.records)
    if operation.response_map is not None:
        operation._response_map = {
            name: selector
            for name, text in operation.response_map.items()
            if (selector := check.selector([*loc, "responseMap", name], path_selector(text)))
        }
    pagination = operation.pagination
    if pagination is not None:
        paginator, wrong = compile_paginator(pagination)
        for key, message, found in wrong:
            check.add([*loc, "pagination", key], message, found, _SELECTOR_ALLOWED)
        operation._paginator = paginator
        if operation.method != "GET":
            check.add([*loc, "pagination"], "only GET operations paginate", operation.method, "GET")
    if operation.multipart is not None and operation.body_template is not None:
        check.add(
            [*loc, "multipart"], "an operation has a bodyTemplate or multipart parts, not both"
        )


def _coerce_defaults(
    check: _Checker, loc: list[str | int], resource: Resource, operation: Operation
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


def _compile_map(
    check: _Checker, loc: list[str | int], template_map: TemplateMap
) -> list[tuple[list[str | int], CompiledTemplate | None]]:

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
        parse_strict(text)
    except JSONTextError as exc:
        where = f" at column {exc.column}" if exc.column else ""
        check.add(
            loc, f"body template does not render valid JSON ({exc.message}{where})", text[:120]
        )
