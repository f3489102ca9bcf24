"""Settings: which definition, which API (base URL, key, extra headers), which emitter store.

One plain typed object that the command line, the library and a service all build the same
way: flags (or a service's own configuration) win over environment variables, which win over
defaults (``docs/architecture.md``, Configuration). Nothing here needs argparse::

    settings = Settings.from_env(base_url="http://127.0.0.1:8080")
    with settings.connector() as api:
        api.call("models", "list")

Secrets (the API key, header values) never appear in the repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bundled import bundled_definition_path
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .client import AsyncConnector, Connector
    from .definitions import Definition

__all__ = [
    "DEFAULT_STATE",
    "Settings",
    "bundled_definition_path",
    "check_base_url",
    "parse_headers",
]

DEFAULT_STATE = "connector-state.db"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_VALUE = re.compile(r"[\x20-\x7e]*")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def parse_headers(env_lines: Sequence[str] = (), flag_lines: Sequence[str] = ()) -> dict[str, str]:
    """Extra headers from ``CONNECTOR_HEADERS`` lines, then ``--header`` values, each
    ``Name: value``. A malformed line is named by its position, never printed (it may be a
    key pasted without its name)."""
    headers: dict[str, str] = {}
    setting = "--header / CONNECTOR_HEADERS"
    for number, line in enumerate([*env_lines, *flag_lines]):
        where = (
            f"line {number + 1} of CONNECTOR_HEADERS"
            if number < len(env_lines)
            else f"--header number {number - len(env_lines) + 1}"
        )
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ConfigurationError(
                f"{where} is not a header: write 'Name: value' (its text is not shown, "
                "in case it is a secret)",
                setting=setting,
            )
        if not _TOKEN.fullmatch(name):
            raise ConfigurationError(
                f"{where}: a header name is ASCII letters, digits and -_.!#$%&'*+^`|~ "
                "(no spaces or other characters)",
                setting=setting,
            )
        if not _VALUE.fullmatch(value):
            raise ConfigurationError(
                f"{where} ({name}): a header value is printable ASCII (its text is not "
                "shown, in case it is a secret)",
                setting=setting,
            )
        headers[name] = value
    return headers


def check_base_url(url: str, setting: str, resolved: str | None = None) -> str:
    """``url`` without a trailing slash, or a ConfigurationError that says how to fix it:
    a missing scheme (``127.0.0.1:8080``), another scheme than http(s), or a path segment
    that the definition's base URL then repeats (``…/v1`` given, ``…/v1/v1`` resolved)."""
    if not _SCHEME.match(url):
        raise ConfigurationError(
            f"{setting}: {url!r} has no scheme; write http://{url} or https://{url}",
            setting=setting,
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ConfigurationError(
            f"{setting}: the scheme must be http or https, not {scheme}", setting=setting
        )
    trimmed = url.rstrip("/")
    segments = (resolved or trimmed).split("://", 1)[1].partition("/")[2].split("/")
    last = segments[-1]
    if len(segments) >= 2 and last and segments[-2] == last and trimmed.endswith("/" + last):
        raise ConfigurationError(
            f"{setting}: drop the trailing /{last} (the definition adds it): "
            f"use {trimmed[: -len(last) - 1]}",
            setting=setting,
        )
    return trimmed


@dataclass(frozen=True)
class Settings:
    """Where things are. ``definition=None`` means the bundled Anthropic definition;
    ``base_url``/``api_key`` ``None`` leave them to the definition's service block (which
    reads ``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY``)."""

    definition: Path | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    state: str = DEFAULT_STATE
    debug: bool = False
    connection: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The connection parameters (``service.params``) given as ``--set NAME=VALUE``."""

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        definition: str | Path | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: Sequence[str] = (),
        state: str | None = None,
        debug: bool | None = None,
        connection: Mapping[str, str] | None = None,
    ) -> Settings:
        """Explicit values (a flag, a service's configuration) over the environment:
        ``CONNECTOR_DEFINITION``, ``CONNECTOR_HEADERS`` (one ``Name: value`` a line),
        ``CONNECTOR_STATE``, ``CONNECTOR_DEBUG``. The base URL is checked (a scheme, http
        or https), so a typo is a configuration error rather than a retried failure."""
        env = os.environ if environ is None else environ
        chosen = definition or env.get("CONNECTOR_DEFINITION") or None
        if base_url is not None:
            base_url = check_base_url(base_url, "--base-url")
        return cls(
            definition=Path(chosen) if chosen else None,
            base_url=base_url,
            api_key=api_key,
            headers=parse_headers(env.get("CONNECTOR_HEADERS", "").splitlines(), headers),
            state=state or env.get("CONNECTOR_STATE") or DEFAULT_STATE,
            debug=bool(debug) or env.get("CONNECTOR_DEBUG", "") not in ("", "0"),
            connection=dict(connection or {}),
        )

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @property
    def definition_path(self) -> Path:
        """The definition file to load."""
        return self.definition or bundled_definition_path()

    def load_definition(self) -> Definition:
        """The definition, loaded and checked."""
        from .definitions import load_definition

        return load_definition(self.definition_path)

    def connector_options(self) -> dict[str, Any]:
        """``base_url``, ``api_key``, ``headers`` and the connection parameters (``settings``)
        as :class:`Connector` takes them."""
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "headers": dict(self.headers),
            "settings": dict(self.connection),
        }

    def checked_definition(self, environ: Mapping[str, str] | None = None) -> Definition:
        """The definition, with the base URL it will use checked: the explicit one, or the
        environment variable its service block reads (``ANTHROPIC_BASE_URL`` for the bundled
        definition)."""
        definition = self.load_definition()
        env = os.environ if environ is None else environ
        url, setting = self.base_url, "--base-url"
        if url is None and definition.service is not None:
            variable = definition.service.variables.get("baseURL")
            if variable and env.get(variable):
                url, setting = env[variable], variable
        if url:
            check_base_url(url, setting)
            from .requests import resolve_service

            service = resolve_service(definition, env=env, **self.connector_options())
            check_base_url(url, setting, service.base_url)
        return definition

    def connector(self, **options: Any) -> Connector:
        """A sync :class:`Connector` for these settings (``options``: more keyword arguments)."""
        from .client import Connector

        return Connector(self.checked_definition(), **self.connector_options(), **options)

    def async_connector(self, **options: Any) -> AsyncConnector:
        """An :class:`AsyncConnector` for these settings."""
        from .client import AsyncConnector

        return AsyncConnector(self.checked_definition(), **self.connector_options(), **options)
