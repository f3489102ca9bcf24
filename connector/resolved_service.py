"""The resolved service: the definition's ``service`` block rendered over the configuration
(base URL, API key, extra headers, connection parameters, environment) into what every
request of a client carries. Done once per client, with no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .auth import ClientCredentials, basic_header
from .conventions import packaged_service
from .definition_rules import header_name_problem, header_value_problem
from .definitions import Definition
from .errors import ConfigurationError
from .placeholders import coerce_inputs
from .templates import RenderError
from .types import JSON

__all__ = ["DEFAULT_HEADERS", "ResolvedService", "resolve_service"]

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
    header_problems: dict[str, str] = field(init=False, repr=False, compare=False)
    """Why a header of ``headers`` cannot be sent, by name (reported by every call that
    sends it): worked out once here rather than on every request."""

    def __post_init__(self) -> None:
        problems = {}
        for name, value in self.headers.items():
            problem = header_name_problem(name) or header_value_problem(value)
            if problem:
                problems[name] = problem
        object.__setattr__(self, "header_problems", problems)

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
