"""Building requests, with no I/O: (definition, operation, inputs) → ``httpx.Request``.

:func:`resolve_service` turns the definition's ``service`` block and the configuration (base
URL, API key, environment) into the base URL and headers every request carries; it is done
once per client. :func:`build_request` renders one operation's path, query, headers and body.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .auth import ClientCredentials, basic_header
from .bodies import encode_form
from .conventions import packaged_service
from .definition_rules import header_name_problem, header_value_problem
from .definitions import Definition, Operation
from .errors import ConfigurationError, InputError, InputProblem
from .jsontext import JSONTextError, check_strict, deepest_path
from .origins import origin_problem
from .placeholders import coerce_inputs
from .request_plans import Entry, RequestPlan
from .templates import RenderError, to_json_text
from .types import JSON
from .uploads import FileSource

__all__ = ["UNSET", "ResolvedService", "build_request", "origin_problem", "resolve_service"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
"""Marks "no body given": the operation's bodyTemplate is rendered."""

BODY_DEPTH = 512
"""Nesting levels a body given whole may have."""

# gzip is negotiated as the SDK and httpx do; httpx decodes it, streamed JSONL included.
DEFAULT_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate",
    "user-agent": "connector/0.1",
}


class _Env(dict[str, str]):
    # A missing variable reads as "", so `env.X or 'default'` works under StrictUndefined.
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class ResolvedService:
    """The base URL and the headers every request of a client carries.

    ``missing_auth`` holds the message to raise when a call needs the credentials the
    configuration does not have (checked at send time, so a workflow may pass its own header).
    The repr never shows header values: one of them is the API key.
    """

    base_url: str | None
    headers: dict[str, str] = field(repr=False)
    auth_header: str | None = None
    missing_auth: str | None = None
    base_url_hint: str = "--base-url"
    query: dict[str, str] = field(default_factory=dict, repr=False)
    """Query parameters every request carries (an ``api_token`` sent in the query)."""
    oauth: ClientCredentials | None = field(default=None, repr=False)
    """The OAuth2 client-credentials grant whose token the clients put on every request."""
    settings: dict[str, JSON] = field(default_factory=dict, repr=False)
    """The connection parameters' values, readable by every template."""
    content_type: str = "application/json"
    """How request bodies are sent unless an operation says otherwise."""

    def require_base_url(self) -> str:
        """The base URL, or a ConfigurationError saying how to set it."""
        if not self.base_url:
            raise ConfigurationError(
                f"no base URL: this definition has no service block; pass {self.base_url_hint}",
                setting=self.base_url_hint,
            )
        return self.base_url


def resolve_service(
    definition: Definition,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    settings: Mapping[str, JSON] | None = None,
) -> ResolvedService:
    """Render the ``service`` block over the environment, with explicit settings winning.

    ``headers`` are added to every request last, over the service's own (a bare resource
    array has no service, so this is where its ``anthropic-version`` comes from).
    ``settings`` are the values of the connection parameters (``service.params``, the CLI's
    ``--set NAME=VALUE``); a parameter not given is read from the environment variable that
    ``service.variables`` declares under its name, else its default.
    """
    extra = _checked_headers(headers or {})
    service = definition.service
    source = os.environ if env is None else env
    # Only the variables the definition declares are visible to its templates (the loader
    # refuses templates that name others): an untrusted definition cannot read the rest.
    declared = set(service.variables.values()) if service is not None else set()
    variables = _Env({name: source[name] for name in declared if name in source})
    if service is None:
        # A bare array sends the key in the packaged definition's header (conventions.py).
        plain = dict(DEFAULT_HEADERS)
        key_header = (packaged_service()[1] or "authorization").lower()
        if api_key:
            plain[key_header] = api_key
        plain.update(extra)
        return ResolvedService(
            base_url.rstrip("/") if base_url else None, plain, key_header if api_key else None
        )
    base_var = service.variables.get("baseURL")
    key_var = service.variables.get("apiKey")
    if base_url and base_var:
        variables[base_var] = base_url
    if api_key and key_var:
        variables[key_var] = api_key
    given = dict(settings or {})
    for placeholder in service.params:
        var = service.variables.get(placeholder.name)
        if placeholder.name not in given and var and source.get(var):
            given[placeholder.name] = source[var]
    connection_values = coerce_inputs(service.params, given, resource="service", operation="params")
    context: dict[str, JSON] = {**connection_values, "env": variables}

    templates = definition.compiled.service.templates if definition.compiled.service else {}

    def render(text: str, where: str) -> str:
        try:
            return templates[where].render(context)
        except RenderError as exc:
            raise ConfigurationError(
                f"service {where} does not render: {exc}", setting=where
            ) from None

    resolved_base = render(service.base_url, "baseURL").rstrip("/")
    if base_url and not base_var:
        resolved_base = base_url.rstrip("/")
    headers = dict(DEFAULT_HEADERS)
    headers.update({k.lower(): render(v, f"headers.{k}") for k, v in service.headers.items()})
    auth = service.auth
    auth_header = None
    missing = None
    query: dict[str, str] = {}
    oauth = None
    params = {k: render(v, f"auth.params.{k}") for k, v in auth.params.items()}
    if auth.method == "api_token":
        token = params["token"]
        if "query" in params:
            if token:
                query[params["query"]] = token
        else:
            auth_header = params["header"].lower()
            if token:
                headers[auth_header] = params.get("prefix", "") + token
        if not token:
            setting = key_var or "the API key"
            missing = (
                f"no API key: set {setting} or pass --api-key. To try connector without a key, "
                "run `connector sandbox` and point the base URL at the address it prints "
                "(or run `connector demo`)."
            )
    elif auth.method == "basic":
        auth_header = "authorization"
        if params["username"]:
            headers[auth_header] = basic_header(params["username"], params["password"])
        else:
            missing = "no credentials: the service's basic auth username renders empty"
    elif auth.method == "oauth2_client_credentials":
        auth_header = "authorization"
        if params["clientID"] and params["clientSecret"]:
            oauth = ClientCredentials(
                params["tokenURL"],
                params["clientID"],
                params["clientSecret"],
                scopes=params.get("scopes", ""),
                audience=params.get("audience", ""),
                client_auth=params.get("clientAuth", "basic") or "basic",
            )
        else:
            missing = "no credentials: the service's OAuth2 clientID or clientSecret renders empty"
    headers.update(extra)
    if missing and auth_header in extra:
        missing = None
    hint = f"--base-url (or {base_var})" if base_var else "--base-url"
    return ResolvedService(
        resolved_base or None,
        headers,
        auth_header,
        missing,
        hint,
        query=query,
        oauth=oauth,
        settings=connection_values,
        content_type=service.content_type or "application/json",
    )


def _checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in headers.items():
        problem = header_name_problem(name) or header_value_problem(value)
        if problem:
            # The value is never shown: configured headers often carry credentials.
            raise ConfigurationError(f"not a valid header {name!r}: {problem}", setting="--header")
        checked[name.lower()] = value
    return checked


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
    query_params.update(_render_entries(plan.query, values, problems))
    query_params.update({k: _query_text(v) for k, v in (query or {}).items() if v is not None})
    merged = dict(service.headers)
    merged.update(_render_entries(plan.headers, values, problems))
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    for name, value in merged.items():
        problem = header_name_problem(name) or header_value_problem(value)
        if problem:
            problems.append(InputProblem(f"header {name}", problem))
    given = {k.lower() for k in merged if merged[k]}
    if service.missing_auth and (service.auth_header is None or service.auth_header not in given):
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
