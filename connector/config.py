"""Configuration: where the definition, the key, the base URL and the state store come from.

Flags win over environment variables, which win over defaults (``DESIGN.md`` §2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .client import Connector
from .definitions import Definition, load_definition
from .errors import ConfigurationError

__all__ = [
    "bundled_definition_path",
    "default_state",
    "load_configured_definition",
    "open_connector",
]


def bundled_definition_path() -> Path:
    """The shipped ``definitions/claude-api.json`` (from the checkout, or the installed copy)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "definitions" / "claude-api.json"
    return checkout if checkout.is_file() else here / "data" / "claude-api.json"


def default_state() -> str:
    """``CONNECTOR_STATE`` or ``./connector-state.db``."""
    return os.environ.get("CONNECTOR_STATE") or "connector-state.db"


def load_configured_definition(args: argparse.Namespace) -> Definition:
    """The definition named by ``--definition`` / ``CONNECTOR_DEFINITION``, else the bundled one."""
    path = (
        getattr(args, "definition", None)
        or os.environ.get("CONNECTOR_DEFINITION")
        or bundled_definition_path()
    )
    return load_definition(Path(path))


def configured_headers(args: argparse.Namespace) -> dict[str, str]:
    """Extra headers: ``CONNECTOR_HEADERS`` (one ``Name: value`` a line), then each ``--header``."""
    lines = os.environ.get("CONNECTOR_HEADERS", "").splitlines() + list(
        getattr(args, "header", None) or []
    )
    headers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ConfigurationError(
                f"a header is written 'Name: value', not {line!r}",
                setting="--header / CONNECTOR_HEADERS",
            )
        headers[name.strip()] = value.strip()
    return headers


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
    """``base_url``, ``api_key``, ``headers`` and ``settings`` for a Connector, from the
    global options."""
    return {
        "base_url": getattr(args, "base_url", None),
        "api_key": getattr(args, "api_key", None),
        "headers": configured_headers(args),
        "settings": configured_settings(args),
    }


def open_connector(args: argparse.Namespace, **options: Any) -> Connector:
    """A Connector from the global options (``--definition``, ``--base-url``, ``--api-key``,
    ``--header``)."""
    return Connector(load_configured_definition(args), **connector_options(args), **options)
