"""The command line's bridge to :class:`~connector.settings.Settings`.

Commands receive an ``argparse.Namespace``; these helpers read the global options from it
(``--definition``, ``--base-url``, ``--api-key``, ``--header``, ``--state``, ``--debug``) and
build the same typed :class:`Settings` a library user or a service builds without argparse.
Flags win over environment variables, which win over defaults (``docs/architecture.md``, Configuration).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from connector.config import bundled_definition_path, default_state
from connector.errors import ConfigurationError
from connector.settings import Settings, parse_headers

if TYPE_CHECKING:
    from connector.client import Connector
    from connector.definitions import Definition

__all__ = [
    "bundled_definition_path",
    "configured_headers",
    "connector_options",
    "default_state",
    "load_configured_definition",
    "open_connector",
    "settings_from_args",
]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the global options (and the environment) describe."""
    return Settings.from_env(
        definition=getattr(args, "definition", None),
        base_url=getattr(args, "base_url", None),
        api_key=getattr(args, "api_key", None),
        headers=list(getattr(args, "header", None) or []),
        state=getattr(args, "state", None),
        debug=getattr(args, "debug", None),
        connection=configured_settings(args),
    )


def load_configured_definition(args: argparse.Namespace) -> Definition:
    """The definition named by ``--definition`` / ``CONNECTOR_DEFINITION``, else the bundled
    one, with the base URL it will use checked."""
    return settings_from_args(args).checked_definition()


def configured_headers(args: argparse.Namespace) -> dict[str, str]:
    """Extra headers: ``CONNECTOR_HEADERS`` (one ``Name: value`` a line), then each ``--header``."""
    return parse_headers(
        os.environ.get("CONNECTOR_HEADERS", "").splitlines(), getattr(args, "header", None) or []
    )


def configured_settings(args: argparse.Namespace) -> dict[str, str]:
    """The connection parameters given as ``--set NAME=VALUE`` (typed by their placeholders)."""
    settings: dict[str, str] = {}
    for item in getattr(args, "set", None) or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(
                f"a connection parameter is written NAME=VALUE, not {item!r}", setting="--set"
            )
        settings[name.strip()] = value
    return settings


def connector_options(args: argparse.Namespace) -> dict[str, Any]:
    """``base_url``, ``api_key``, ``headers`` and the connection parameters (``settings``,
    from ``--set``) for a Connector, from the global options."""
    return settings_from_args(args).connector_options()


def open_connector(args: argparse.Namespace, **options: Any) -> Connector:
    """A Connector from the global options (``--definition``, ``--base-url``, ``--api-key``,
    ``--header``)."""
    return settings_from_args(args).connector(**options)
