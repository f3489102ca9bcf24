"""One poll of a feed trigger (:mod:`connector.feeds`): Corteza's declarative poll, with the
outbox's guarantees.

1. No cursor stored yet: the ``seed`` call (else the ``list`` call from an empty cursor,
   walked to its end) gives the baseline cursor, committed WITHOUT firing.
2. Otherwise the ``list`` call runs from the stored cursor, following the page token, at
   most ``maxPages`` pages (default 50). Items are taken at ``items``, filtered, optionally
   enriched by the ``enrich`` read, and become events (payload fields by selector, id
   deterministic from the item's id, so a repeat never fires twice).
3. The events and the new cursor are committed in ONE transaction
   (:meth:`~connector.emitter.store.Store.commit_poll` with
   :func:`~connector.emitter.feed_cursors.advance`): a crash before the commit leaves the old
   cursor, the next poll lists the same items again and their events keep their ids.
4. A poll stopped by the page guard commits what it saw and the page token it reached: the
   next poll continues that listing (it says so in the log, the poll's result and
   ``connector status``). A 404 on the list call means a stale cursor: the feed is reseeded
   (logged). Any other bad answer (an error status, non-JSON, no cursor, ``items`` not a
   list) is a located error in the log, the result and ``connector status``; the cursor
   stays, nothing is lost, and the emitter goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import anyio.to_thread

from connector.client import AsyncConnector
from connector.emitter import feed_cursors
from connector.emitter.encoding import json_bytes
from connector.emitter.store import Event, Store, build_event
from connector.emitter.triggers import Feed, record_id
from connector.errors import ConnectorError, EventError, NotFoundError, ResponseError, StoreError
from connector.selectors import Selector
from connector.types import JSON

__all__ = ["FeedPoll", "FeedReport"]

log = logging.getLogger("connector.emitter")


@dataclass
class FeedReport:
    """What one poll of one feed did (folded into the resource's ``PollResult``)."""

    requests: int = 0
    listed: int = 0
    baseline: bool = False
    capped: bool = False
    reseeded: bool = False
    events: list[str] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass
class _Walk:
    items: list[JSON] = field(default_factory=list)
    cursor: JSON = None
    token: str | None = None
    capped: bool = False


def _scalar(value: JSON) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list | bool):
        return None
    return str(value)


class FeedPoll:
    """Polls one feed of ``resource`` through ``connector`` into ``store``."""

    def __init__(
        self,
        connector: AsyncConnector,
        store: Store,
        resource: str,
        feed: Feed,
        id_selector: Selector,
        clock: Callable[[], float],
    ) -> None:
        self.connector = connector
        self.store = store
        self.resource = resource
        self.feed = feed
        self._id = id_selector
        self.clock = clock

    def _bad(self, what: str, operation: str) -> ResponseError:
        return ResponseError(
            f"{self.feed.location}: {what}", resource=self.resource, operation=operation
        )

    async def poll(self) -> FeedReport:
        """Run one poll; never raises for an API failure (see ``FeedReport.error``)."""
        report = FeedReport()
        now = self.clock()
        feed = self.feed
        state = await anyio.to_thread.run_sync(
            feed_cursors.load, self.store, self.resource, feed.event
        )
        try:
            if state is None:
                report.baseline = True
                cursor = await self._seed(report)
                await self._commit(report, [], cursor, None, "baseline taken", now)
                return report
            try:
                walk = await self._walk(state.cursor, state.page_token, report)
            except NotFoundError as exc:
                log.warning(
                    "%s: the list call answered 404 (%s): the cursor is stale, reseeding; "
                    "changes between the old cursor and now are not fired",
                    feed.location,
                    exc,
                )
                report.reseeded = True
                cursor = await self._seed(report)
                why = f"reseeded: the list call answered 404 for cursor {state.cursor!r}"
                await self._commit(report, [], cursor, None, why, now)
                return report
            events = await self._events(walk.items, now, report)
        except StoreError:
            raise  # the store's failure, not the feed's (the poller reports it)
        except ConnectorError as exc:
            text = str(exc).replace(f"{feed.handle}.", "the feed's ")  # the call, by name
            report.error = text if text.startswith(feed.location) else f"{feed.location}: {text}"
            log.error("%s; its cursor stays where it was", report.error)
            try:
                await anyio.to_thread.run_sync(
                    feed_cursors.note_problem, self.store, self.resource, feed.event, text, now
                )
            except StoreError as store_exc:
                log.error("cannot note the feed's problem: %s", store_exc)
            return report
        note: str | None = None
        if walk.capped:
            report.capped = True
            note = (
                f"capped at {feed.max_pages} pages (maxPages): committed what it saw; the next "
                "poll continues from the page token it reached"
            )
            log.warning("%s: %s", feed.location, note)
        await self._commit(report, events, walk.cursor, walk.token, note, now)
        return report

    async def _call(self, operation: str, params: dict[str, JSON], report: FeedReport) -> JSON:
        report.requests += 1
        answer = await self.connector.call(self.feed.handle, operation, params, raw=True)
        if not isinstance(answer, dict | list):
            raise self._bad(
                f"the {operation} call answered {type(answer).__name__}, not a JSON object",
                operation,
            )
        return answer

    async def _seed(self, report: FeedReport) -> JSON:
        feed = self.feed
        if not feed.seeds:
            walk = await self._walk("", None, report, to_end=True)
            return walk.cursor
        answer = await self._call("seed", {}, report)
        cursor = feed.seed_cursor.select(answer)
        if _scalar(cursor) is None:
            raise self._bad(f"the seed answer has no cursor at {feed.seed_cursor.spec!r}", "seed")
        return cursor

    async def _walk(
        self, cursor: JSON, token: str | None, report: FeedReport, *, to_end: bool = False
    ) -> _Walk:
        """List from ``cursor`` (continuing at page ``token``) up to the page guard."""
        feed = self.feed
        walk = _Walk(cursor=None)
        tokens: set[str] = set()
        for _ in range(feed.max_pages):
            params: dict[str, JSON] = {"cursor": _scalar(cursor) or ""}
            if token is not None:
                params["pageToken"] = token
            answer = await self._call("list", params, report)
            items = feed.items.select(answer)
            if items is None:
                items = []  # an empty change list is often left out (Gmail's `history`)
            if not isinstance(items, list):
                raise self._bad(
                    f"the list answer's items at {feed.items.spec!r} are "
                    f"{type(items).__name__}, not a list",
                    "list",
                )
            walk.items += items
            report.listed += len(items)
            found = feed.cursor.select(answer)
            if _scalar(found) is not None:
                walk.cursor = found
            previous, token = (
                token,
                (_scalar(feed.page_token.select(answer)) if feed.page_token else None),
            )
            if token is None:
                break
            if token == previous or token in tokens:
                raise self._bad(
                    f"the page token {token!r} repeats: the listing makes no progress", "list"
                )
            tokens.add(token)
        else:
            if not to_end:
                # The guard stopped a listing with pages left: continue it next poll.
                walk.capped, walk.token = True, token
                walk.cursor = cursor
                return walk
            raise self._bad(f"the baseline listing has more than {feed.max_pages} pages", "list")
        if walk.cursor is None:
            raise self._bad(f"the list answer has no cursor at {feed.cursor.spec!r}", "list")
        return walk

    async def _events(self, items: list[JSON], now: float, report: FeedReport) -> list[Event]:
        feed = self.feed
        events: list[Event] = []
        seen: set[str] = set()
        for item in items:
            rid = record_id(self._id, item)
            if rid is None:  # no id: the item itself names the change
                rid = "sha256:" + hashlib.sha256(json_bytes(item)).hexdigest()[:32]
            if rid in seen or not feed.passes(item):
                continue
            seen.add(rid)
            record = item
            if feed.enriches:
                try:
                    record = await self._enrich(item, rid, report)
                except NotFoundError:
                    log.info("%s: item %s is gone before its read; not fired", feed.location, rid)
                    continue
            try:
                events.append(
                    build_event(
                        feed.event,
                        resource=self.resource,
                        record_id=rid,
                        marker=feed.rule.marker,
                        data=feed.rule.data(record),
                        timestamp=feed.rule.timestamp(record, now),
                        path=feed.rule.path,
                        created_at=now,
                    )
                )
            except EventError as exc:
                report.quarantined[rid] = str(exc)[:500]
                log.error("ALERT %s item %s cannot become an event (%s)", feed.location, rid, exc)
        return events

    async def _enrich(self, item: JSON, rid: str, report: FeedReport) -> JSON:
        """The item read again: by the resource's operation (its placeholders from the item's
        fields, the id placeholder from its id), or by the feed's own ``enrich`` call."""
        operation = self.feed.enrich_operation
        if operation is None:
            return await self._call("enrich", {"item": item}, report)
        declared = self.connector.definition.resource(self.resource).operations[operation]
        fields = item if isinstance(item, dict) else {}
        params = {p.name: fields[p.name] for p in declared.placeholders() if p.name in fields}
        missing = [p.name for p in declared.path.placeholders if p.name not in params]
        if len(missing) == 1:
            params[missing[0]] = rid
        report.requests += 1
        return await self.connector.call(self.resource, operation, params, raw=True)

    async def _commit(
        self,
        report: FeedReport,
        events: list[Event],
        cursor: JSON,
        token: str | None,
        note: str | None,
        now: float,
    ) -> None:
        also = feed_cursors.advance(self.resource, self.feed.event, cursor, token, note, now)
        if report.quarantined:
            await anyio.to_thread.run_sync(
                self.store.quarantine, self.resource, report.quarantined, now
            )
        report.events = await anyio.to_thread.run_sync(
            partial(self.store.commit_poll, self.resource, {}, [], events, now=now, also=also)
        )
