"""Configuration: where the definition, the key, the base URL and the state store come from.

Flags win over environment variables, which win over defaults (``DESIGN.md`` §2).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from .client import Connector
from .definitions import Definition, load_definition
from .errors import ConfigurationError

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_VALUE = re.compile(r"[\x20-\x7e]*")

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
    from_env = len(lines) - len(getattr(args, "header", None) or [])

    def where(number: int) -> str:
        if number < from_env:
            return f"line {number + 1} of CONNECTOR_HEADERS"
        return f"--header number {number - from_env + 1}"

    for number, line in enumerate(lines):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            # Never echo the line: it may well be a key pasted without its name.
            raise ConfigurationError(
                f"{where(number)} is not a header: write 'Name: value' (its text is not shown, "
                "in case it is a secret)",
                setting="--header / CONNECTOR_HEADERS",
            )
        name, value = name.strip(), value.strip()
        if not _TOKEN.fullmatch(name):
            raise ConfigurationError(
                f"{where(number)}: a header name is ASCII letters, digits and -_.!#$%&'*+^`|~ "
                "(no spaces or other characters)",
                setting="--header / CONNECTOR_HEADERS",
            )
        if not _VALUE.fullmatch(value):
            raise ConfigurationError(
                f"{where(number)} ({name}): a header value is printable ASCII (its text is not "
                "shown, in case it is a secret)",
                setting="--header / CONNECTOR_HEADERS",
            )
        headers[name] = value
    return headers


def connector_options(args: argparse.Namespace) -> dict[str, Any]:
    """``base_url``, ``api_key`` and ``headers`` for a Connector, from the global options."""
    return {
        "base_url": getattr(args, "base_url", None),
        "api_key": getattr(args, "api_key", None),
        "headers": configured_headers(args),
    }


def open_connector(args: argparse.Namespace, **options: Any) -> Connector:
    """A Connector from the global options (``--definition``, ``--base-url``, ``--api-key``,
    ``--header``)."""
    return Connector(load_configured_definition(args), **connector_options(args), **options)
