"""Write-through events: the engine's own successful creates become ``<handle>.created``.

Messages cannot be listed, so this is the only source of ``messages.created``; for listable
resources (a file upload, a skill) it fires the same event the poller would find later, with
the same deterministic id, so the store keeps one of them and the subscriber gets it sooner.

Pass a :class:`WriteRecorder` as the connector's ``on_write`` observer::

    recorder = WriteRecorder(definition, store)
    with Connector(definition, on_write=recorder) as api:
        api.call("messages", "create", {...})     # records messages.created
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from connector.definitions import Definition
from connector.emitter.store import Store, build_event
from connector.emitter.triggers import Rule, record_id, resource_rules
from connector.selectors import Selector
from connector.types import JSON

__all__ = ["WriteRecorder"]

log = logging.getLogger("connector.emitter")


class WriteRecorder:
    """An ``on_write`` observer recording ``created`` events for creating calls (an operation
    declaring ``"creates": true``, else a POST to the resource's collection).

    Recording never raises into the caller: the API write has already happened, and an
    exception would invite a retry that creates the record twice. A failure to record is
    logged as an error instead. ``recorded`` counts the events that were new.
    """

    def __init__(
        self, definition: Definition, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.clock = clock
        self.recorded = 0
        self._rules: dict[str, tuple[Selector, list[Rule]]] = {}
        self._creating: set[tuple[str, str]] = set()
        for resource in definition.resources:
            created = [r for r in resource_rules(resource) if r.kind == "created"]
            if created:
                self._rules[resource.handle] = (resource.compiled.id, created)
            self._creating |= {
                (resource.handle, name)
                for name, op in resource.operations.items()
                if op.is_creating
            }

    def __repr__(self) -> str:
        return f"<WriteRecorder {sorted(self._rules)}>"

    def __call__(self, handle: str, operation: str, body: JSON) -> None:
        """Record ``<handle>.created`` for a successful create-like ``operation``; never raises."""
        try:
            self._record(handle, operation, body)
        except Exception as exc:
            # The write happened (and may have been billed): whatever went wrong here is the
            # emitter's to report, not a reason to fail the call and invite a second write.
            log.error("cannot record the %s.%s write-through event: %r", handle, operation, exc)

    def _record(self, handle: str, operation: str, body: JSON) -> None:
        if (handle, operation) not in self._creating or handle not in self._rules:
            return
        id_selector, rules = self._rules[handle]
        rid = record_id(id_selector, body)
        if rid is None:
            log.warning("%s.%s answered without an id; no event recorded", handle, operation)
            return
        now = self.clock()
        for rule in rules:
            if not rule.condition_holds(body):
                continue
            event = build_event(
                rule.event,
                resource=handle,
                record_id=rid,
                marker=rule.marker,
                data=rule.data(body),
                timestamp=rule.timestamp(body, now),
                path=rule.path,
                created_at=now,
            )
            if self.store.record_event(event):
                self.recorded += 1
