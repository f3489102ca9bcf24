"""The poller: list a resource through the engine, diff it with the stored snapshot, and commit
the snapshot changes and the events they imply in one transaction (the outbox).

One :class:`Poller` watches one resource. Each :meth:`Poller.poll`:

1. lists the resource newest first, page by page, with the largest page the API allows;
2. applies the resource's :class:`~connector.emitter.triggers.Rule` s to every record:
   a new id fires ``created``, a watched field reaching its value fires the transition
   (once per record, for ever); a record already terminal in the snapshot is skipped without
   a look, so a stale read can never move it backwards;
3. stops early, without finishing the listing, once it has seen every known non-terminal
   record and then a whole page of known terminal ones: what lies beyond is older and can
   hold nothing new. Poll cost thus follows what changes, not the length of the history;
4. after a *complete* listing only, treats known ids that were not listed as vanished: each
   is read, and only a 404 deletes it (firing ``deleted``); a record still readable is
   applied like a listed one. When more than ``max(5, 20 %)`` of the known records vanish at
   once, nothing is deleted and an alert is logged (an API answering an empty list is far
   likelier than a mass deletion);
5. commits snapshot changes and events together through :meth:`Store.commit_poll`.

The first poll of a resource records a baseline (a complete listing) and fires nothing unless
``backfill=True``. A listing that fails part way commits what it saw but never infers a
deletion, and a failed baseline commits nothing.

Resources with a ``deleted`` webhook must be listed completely to see deletions; by default
they are, every cycle (``sweep_every=1``). Raise ``sweep_every`` to list them completely only
every n-th cycle and stop early in between.

A resource's feed triggers (the API's own change cursor) are polled first, each by its
:class:`~connector.emitter.feed_poll.FeedPoll`, into the same result.

The snapshot is cached in memory between polls: one poller per resource at a time is the
contract (``docs/architecture.md``, Scale). A second poller sharing the store stays safe,
because event ids are deterministic and the store ignores an event it already holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import anyio
import anyio.to_thread

from connector.client import AsyncConnector
from connector.definitions import Resource
from connector.emitter.encoding import json_bytes, storable_text
from connector.emitter.feed_poll import FeedPoll
from connector.emitter.poll_results import PollResult
from connector.emitter.store import Event, SnapshotRecord, Store, build_event
from connector.emitter.triggers import (
    Rule,
    compile_feeds,
    deleted_data,
    reached_transitions,
    record_id,
    resource_rules,
    transition_events,
)
from connector.errors import ConnectorError, EventError, NotFoundError, StoreError
from connector.types import JSON

__all__ = ["DEFAULT_PAGE_SIZE", "PollResult", "Poller"]

log = logging.getLogger("connector.emitter")

DEFAULT_PAGE_SIZE = 1000
HOLD_MINIMUM = 5
HOLD_RATIO = 0.2


@dataclass
class _Cycle:
    """The working state of one poll."""

    now: float
    baseline: bool
    fire: bool
    upserts: dict[str, SnapshotRecord] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    quarantined: dict[str, str] = field(default_factory=dict)


class Poller:
    """Watches one listable resource of a connector and writes what changed to ``store``.

    ``clock`` gives the observation time (epoch seconds) used where the API has no time of
    its own (deletions). ``page_size`` is sent as the list operation's page-size parameter
    (its paginator's ``pageSizeParam``, clamped to ``maxPageSize``) when it has one. See the module docstring for ``backfill``, ``sweep_every`` and the hold thresholds;
    ``release_held=True`` lets a mass deletion through (after an operator checked it).
    """

    def __init__(
        self,
        connector: AsyncConnector,
        store: Store,
        resource: Resource | str,
        *,
        clock: Callable[[], float] = time.time,
        backfill: bool = False,
        page_size: int | None = DEFAULT_PAGE_SIZE,
        sweep_every: int | None = None,
        hold_minimum: int = HOLD_MINIMUM,
        hold_ratio: float = HOLD_RATIO,
        release_held: bool = False,
    ) -> None:
        self.connector = connector
        self.store = store
        self.resource = (
            connector.definition.resource(resource) if isinstance(resource, str) else resource
        )
        self.handle = self.resource.handle
        self.rules: list[Rule] = resource_rules(self.resource)
        if self.rules:
            self.resource.operation("list")  # an InputError when the resource cannot list
        self._id = self.resource.compiled.id
        self.feeds = [
            FeedPoll(connector, store, self.handle, feed, self._id, clock)
            for feed in compile_feeds(self.resource)
        ]
        self.clock = clock
        self.backfill = backfill
        has_deleted = any(r.kind == "deleted" for r in self.rules)
        self.sweep_every = (1 if has_deleted else 0) if sweep_every is None else sweep_every
        self.hold_minimum = hold_minimum
        self.hold_ratio = hold_ratio
        self.release_held = release_held
        self._transitions = transition_events(self.rules)
        self._page_size = page_size
        self._read_param = self._read_parameter()
        self._snapshot: dict[str, SnapshotRecord] | None = None
        self._cycles = 0
        self._poison: set[str] = set()

    def __repr__(self) -> str:
        return f"<Poller {self.handle}>"

    def _read_parameter(self) -> str | None:
        """The read operation's placeholder that takes the record's id: the one named like
        the ``idField``'s last key (``id``, ``number``), else the path's only placeholder."""
        read = self.resource.operations.get("read")
        if read is None or not read.path.placeholders:
            return None
        names = [p.name for p in read.path.placeholders]
        steps = self.resource.id_field
        key = (
            next((s for s in reversed(steps) if isinstance(s, str)), None)
            if isinstance(steps, list)
            else None
        )
        if key in names:
            return key
        return names[0]

    # one poll ---------------------------------------------------------------------------

    async def poll(self) -> PollResult:
        """List, diff, commit; never raises for an API failure (see ``PollResult.error``)."""
        result = PollResult(self.handle)
        for feed in self.feeds:
            try:
                result.add(await feed.poll(), feed.feed.event)
            except StoreError as exc:
                result.error = f"feed {feed.feed.event} of {self.handle}: the store failed: {exc}"
                log.error("%s", result.error)
        if not self.rules:
            result.complete = result.error is None
            return result
        if self._snapshot is None:
            # Store calls run in a worker thread: the event loop never waits on the database.
            self._snapshot = await anyio.to_thread.run_sync(self.store.load_snapshot, self.handle)
        snapshot = self._snapshot
        baseline = snapshot is None
        cycle = _Cycle(self.clock(), baseline, fire=not baseline or self.backfill)
        result.baseline = baseline
        known = snapshot or {}
        force_complete = baseline or (self.sweep_every > 0 and self._cycles % self.sweep_every == 0)
        self._cycles += 1
        try:
            result.complete = await self._list(cycle, known, result, force_complete)
        except ConnectorError as exc:
            result.error = f"listing {self.handle} failed: {exc}"
            log.warning("%s; no deletion is inferred from this cycle", result.error)
            if baseline:
                return result
        if result.complete and not baseline:
            await self._vanished(cycle, known, result)
        await self._commit(cycle, result)
        return result

    async def _list(
        self, cycle: _Cycle, known: dict[str, SnapshotRecord], result: PollResult, complete: bool
    ) -> bool:
        """Read pages until the end (True) or until nothing new can follow (False)."""
        listing = self.connector.listing(self.handle, "list", raw=True, page_size=self._page_size)
        pending = {rid for rid, rec in known.items() if not rec.terminal}
        async for items in listing.pages():
            result.requests += 1
            settled_page = bool(items)
            for item in items:
                rid = record_id(self._id, item)
                if rid is None or rid in cycle.seen:
                    continue
                cycle.seen.add(rid)
                result.listed += 1
                previous = known.get(rid)
                if previous is None or not previous.terminal:
                    settled_page = False
                    pending.discard(rid)
                    self._apply(cycle, rid, item, previous)
            if listing.complete:
                return True
            if not complete and not pending and settled_page:
                return False
        # Only the API saying "last page" makes a listing complete; a walk that stopped
        # otherwise (a page cap) is partial, and no deletion is inferred from it.
        return listing.complete

    def _apply(
        self, cycle: _Cycle, rid: str, record: JSON, previous: SnapshotRecord | None
    ) -> None:
        """Fire what ``record`` implies against its ``previous`` state; stage the new state.

        A record that cannot become events or a snapshot entry (a poison record: an id that
        is not text, data JSON cannot hold) is quarantined instead; the others go on."""
        try:
            if storable_text(rid) != rid:
                raise EventError("its id is not valid Unicode text")
            events, upsert = self._changes(cycle, rid, record, previous)
            if upsert is not None:
                json_bytes(upsert.state)  # what the snapshot will hold must be writable
        except Exception as exc:
            self._quarantine(cycle, rid, exc)
            return
        cycle.events += events
        if upsert is not None:
            cycle.upserts[rid] = upsert

    def _quarantine(self, cycle: _Cycle, rid: str, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, EventError) else f"{type(exc).__name__}: {exc}"
        reason = storable_text(reason)[:500]
        cycle.quarantined[storable_text(rid)] = reason
        if rid not in self._poison:
            self._poison.add(rid)
            log.error(
                "ALERT %s record %s cannot become an event (%s); quarantined, the rest of "
                "the poll goes on (see connector status)",
                self.handle,
                storable_text(rid)[:200],
                reason,
            )

    def _changes(
        self, cycle: _Cycle, rid: str, record: JSON, previous: SnapshotRecord | None
    ) -> tuple[list[Event], SnapshotRecord | None]:
        before: set[str] = set(previous.state.get("reached", ())) if previous else set()
        now_reached = reached_transitions(self.rules, record)
        fired = now_reached - before
        events: list[Event] = []
        for rule in self.rules:
            due = (rule.kind == "created" and previous is None) or (
                rule.kind == "transition" and rule.event in fired
            )
            if due and cycle.fire and rule.condition_holds(record):
                events.append(self._event(rule, rid, record, cycle.now))
        reached = before | now_reached
        state: dict[str, JSON] = {}
        if reached:
            state["reached"] = sorted(reached)
        gone = deleted_data(self.rules, record)
        if gone:
            state["deleted"] = gone
        terminal = self._transitions <= reached
        if previous is None or previous.state != state or previous.terminal != terminal:
            return events, SnapshotRecord(state, terminal)
        return events, None

    def _event(self, rule: Rule, rid: str, record: JSON, now: float) -> Event:
        return build_event(
            rule.event,
            resource=self.handle,
            record_id=rid,
            marker=rule.marker,
            data=rule.data(record),
            timestamp=rule.timestamp(record, now),
            path=rule.path,
            created_at=now,
        )

    async def _vanished(
        self, cycle: _Cycle, known: dict[str, SnapshotRecord], result: PollResult
    ) -> None:
        """Known ids a complete listing did not hold: confirm each with a read before deleting."""
        missing = [rid for rid in known if rid not in cycle.seen]
        if not missing:
            return
        limit = max(self.hold_minimum, self.hold_ratio * len(known))
        if len(missing) > limit and not self.release_held:
            result.held = missing
            log.error(
                "ALERT %s: %d of %d known records vanished in one cycle (more than %d); "
                "deletions held, no *.deleted fired. Check the API and the key; rerun with "
                "release_held to accept them.",
                self.handle,
                len(missing),
                len(known),
                int(limit),
            )
            return
        for rid in missing:
            await self._confirm(cycle, rid, known[rid], result)

    async def _confirm(
        self, cycle: _Cycle, rid: str, previous: SnapshotRecord, result: PollResult
    ) -> None:
        if self._read_param is not None:
            try:
                result.requests += 1
                record = await self.connector.call(
                    self.handle, "read", {self._read_param: rid}, raw=True
                )
            except NotFoundError:
                pass
            except ConnectorError as exc:
                log.warning("%s %s not listed and not readable (%s); kept", self.handle, rid, exc)
                return
            else:
                if not previous.terminal:
                    self._apply(cycle, rid, record, previous)
                return
        cycle.deletes.append(rid)
        result.deleted.append(rid)
        stored = previous.state.get("deleted", {}) if isinstance(previous.state, dict) else {}
        for rule in self.rules:
            if rule.kind == "deleted":
                data = stored.get(rule.event) or rule.empty_data()
                try:
                    event = build_event(
                        rule.event,
                        resource=self.handle,
                        record_id=rid,
                        marker=rule.marker,
                        data=data,
                        timestamp=cycle.now,
                        path=rule.path,
                        created_at=cycle.now,
                    )
                except EventError as exc:
                    self._quarantine(cycle, rid, exc)
                    continue
                cycle.events.append(event)

    def forget(self) -> None:
        """Drop the cached snapshot (another emitter may have polled meanwhile)."""
        self._snapshot = None

    async def _commit(self, cycle: _Cycle, result: PollResult) -> None:
        result.quarantined = sorted(cycle.quarantined)
        if cycle.quarantined:
            try:
                await anyio.to_thread.run_sync(
                    self.store.quarantine, self.handle, cycle.quarantined, cycle.now
                )
            except StoreError as exc:
                log.error("cannot note the quarantined %s records: %s", self.handle, exc)
        if not (cycle.baseline or cycle.upserts or cycle.deletes or cycle.events):
            return
        try:
            result.events = await anyio.to_thread.run_sync(
                partial(
                    self.store.commit_poll,
                    self.handle,
                    cycle.upserts,
                    cycle.deletes,
                    cycle.events,
                    baseline=cycle.baseline,
                    now=cycle.now,
                )
            )
        except StoreError as exc:
            # The cache may now be ahead of the store: reload it next time.
            self._snapshot = None
            result.error = f"committing {self.handle} failed: {exc}"
            log.error("%s", result.error)
            return
        snapshot = self._snapshot if self._snapshot is not None else {}
        snapshot.update(cycle.upserts)
        for rid in cycle.deletes:
            snapshot.pop(rid, None)
        self._snapshot = snapshot
