"""Configuration: where the definition, the key, the base URL and the state store come from.

Flags win over environment variables, which win over defaults (``DESIGN.md`` §2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .client import Connector
from .definitions import Definition, load_definition

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


def open_connector(args: argparse.Namespace, **options: object) -> Connector:
    """A Connector from the global options (``--definition``, ``--base-url``, ``--api-key``)."""
    return Connector(
        load_configured_definition(args),
        base_url=getattr(args, "base_url", None),
        api_key=getattr(args, "api_key", None),
        **options,  # type: ignore[arg-type]
    )
