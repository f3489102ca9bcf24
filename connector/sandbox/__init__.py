"""A local imitation of the Anthropic API for tests, benchmarks and demos.

::

    from connector.sandbox import ManualClock, SandboxServer

    clock = ManualClock()
    with SandboxServer(clock=clock, batch_seconds=2) as server:
        ...                 # point a client at server.base_url
        clock.advance(3)    # every batch has ended

See ``docs/sandbox.md`` for what is imitated and what is not.
"""

from __future__ import annotations

from .app import SEED_PREFIX, create_app
from .catalog import ModelRecord
from .clock import Clock, ManualClock, system_clock
from .faults import ConnectionDropped, FaultPlan, FaultRule
from .server import SandboxServer
from .state import SandboxState

__all__ = [
    "SEED_PREFIX",
    "Clock",
    "ConnectionDropped",
    "FaultPlan",
    "FaultRule",
    "ManualClock",
    "ModelRecord",
    "SandboxServer",
    "SandboxState",
    "create_app",
    "system_clock",
]
