"""Service mode: ``connector serve``, an HTTP API for low-code platforms (and a web console).

Named ``platform`` (not ``service``: :mod:`connector.emitter.service` is the emitter's loop).
:func:`create_app` builds the Starlette app over a :class:`Runtime`; ``connector serve`` runs
it under uvicorn. See ``docs/service.md``.
"""

from __future__ import annotations

from connector.platform.app import create_app
from connector.platform.runtime import Runtime, load_definitions

__all__ = ["Runtime", "create_app", "load_definitions"]
