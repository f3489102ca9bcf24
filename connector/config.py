"""Configuration defaults the library and the command line share.

The command line's bridge from its flags to :class:`~connector.settings.Settings` is
:mod:`connector.cli.options`; a library user or a service builds ``Settings`` directly.
"""

from __future__ import annotations

import os

from .settings import DEFAULT_STATE, bundled_definition_path

__all__ = ["bundled_definition_path", "default_state"]


def default_state() -> str:
    """``CONNECTOR_STATE`` or ``./connector-state.db``."""
    return os.environ.get("CONNECTOR_STATE") or DEFAULT_STATE
