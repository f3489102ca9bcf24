"""``connector serve --emit``: the emitter of every connection that has subscriptions, in the
service's process.

Every ``interval`` seconds the supervisor looks at the connections: one with subscriptions
and no emitter gets one; one that was deleted or changed (new credentials, a new origin) has
its emitter stopped (and a changed one started again with the new settings). On shutdown
each emitter stops as ``connector emit`` does on SIGTERM: attempts in flight finish and their
leases are handed back. An emitter that fails is logged by its error's type and retried at the
next look, never taking the service down.
"""

from __future__ import annotations

import logging

import anyio

from connector.emitter.service import Emitter
from connector.platform.registry import Connection
from connector.platform.runtime import Runtime

__all__ = ["run_emitters"]

log = logging.getLogger("connector.platform")


async def _run_one(
    runtime: Runtime, connection: Connection, stop: anyio.Event, interval: float
) -> None:
    try:
        connector = await runtime.connector(connection)
        store = runtime.hooks(connection.id)
        async with Emitter(connector, store, guard=runtime.guard) as emitter:
            await emitter.run(stop, interval=interval)
    except Exception as exc:  # one tenant's failure must not stop the others or the service
        log.warning("the emitter of %s stopped: %s", connection.id, type(exc).__name__)


async def run_emitters(runtime: Runtime, stop: anyio.Event, interval: float) -> None:
    """Supervise the connections' emitters until ``stop`` is set."""
    running: dict[str, tuple[float, anyio.Event]] = {}

    async def supervised(connection: Connection, own_stop: anyio.Event) -> None:
        try:
            await _run_one(runtime, connection, own_stop, interval)
        finally:
            if running.get(connection.id, (None, None))[1] is own_stop:
                del running[connection.id]

    async with anyio.create_task_group() as group:
        while not stop.is_set():
            connections = {c.id: c for c in runtime.registry.list_connections()}
            for connection_id, (version, own_stop) in list(running.items()):
                current = connections.get(connection_id)
                if current is None or current.updated_at != version:
                    own_stop.set()
                    del running[connection_id]
            for connection in connections.values():
                if connection.id in running or not runtime.has_hooks(connection.id):
                    continue
                if runtime.hooks(connection.id).list_subscriptions():
                    own_stop = anyio.Event()
                    running[connection.id] = (connection.updated_at, own_stop)
                    group.start_soon(supervised, connection, own_stop)
            with anyio.move_on_after(interval):
                await stop.wait()
        for _, own_stop in running.values():
            own_stop.set()
