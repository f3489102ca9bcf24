"""The emitter's durable state, behind one small interface (the outbox): its domain types
and the :class:`Store` protocol, below every SQL module (they import this one, never the
other way round).

:class:`Store` is what the poller, the deliverer and the CLI use;
:func:`~connector.emitter.backends.open_store` opens the SQL store
(``connector.emitter.sql_store``) over SQLite for a path, or over PostgreSQL for a
``postgresql://`` DSN (``connector.emitter.postgres_database``). Everything is keyed by plain
strings and numbers (epoch seconds as floats), so the SQL ports.

What it holds, and the contract of each part:

Subscriptions
    ``add_subscription(url, events, secret)`` -> :class:`Subscription` (``events`` empty or
    ``["*"]`` = every event; ``"files.*"`` = a prefix). ``rotate_secret`` keeps the old secret
    signing for 24 h (at most 10 old ones). ``disable_subscription`` / ``enable_subscription``;
    a disabled subscription keeps its queued deliveries (they are not leased) and gets no
    new ones. ``failing_since`` is the failure clock: the time of the first failure since
    the last 2xx.

Snapshots and baselines (for the poller)
    ``load_snapshot(resource)`` -> ``None`` before the first poll committed a baseline, else
    ``{record_id: SnapshotRecord}``. A :class:`SnapshotRecord` holds the record's last seen
    state (JSON) and ``terminal``: True once the record reached a final state (a batch that
    ended), so the poller need not re-read it. ``commit_poll(resource, upserts, deletes,
    events, baseline=False, now=None)`` writes snapshot changes, marks the baseline taken
    (when ``baseline=True`` or already taken), and inserts the events (``INSERT OR IGNORE``
    by event id) with one delivery per active subscription whose filter matches, all in ONE
    transaction; it returns the ids of events that were new. If anything fails, nothing is
    written. ``also(cursor)``, when given, writes more in that transaction (a feed's cursor,
    :mod:`~connector.emitter.feed_cursors`). ``record_event(event)`` does the same for one write-through event
    (``messages.created``), returning whether it was new.

Events
    :func:`build_event` freezes the body bytes (minified JSON ``{type, timestamp, data}``)
    and derives the id with :func:`event_id` = ``evt_`` + base32(sha256(type:record:marker)),
    so re-detecting the same transition after a crash gives the same id. The body is valid
    UTF-8 whatever the API sent (:mod:`~connector.emitter.encoding`); a record that cannot
    become an event raises :class:`~connector.errors.EventError` and is quarantined.

Deliveries (one per event x subscription)
    Status ``pending`` -> ``delivering`` (leased) -> ``delivered`` | ``pending`` again (retry)
    | ``failed`` (dead letter). ``lease_due(now, limit, worker, lease_seconds)`` atomically
    claims up to ``limit`` due deliveries of active subscriptions (pending and due, or
    delivering with an expired lease: a crashed worker's work is picked up again); two
    workers never hold the same delivery at once. Each attempt is then recorded with
    ``complete`` (2xx: delivered, resets the failure clock), ``reschedule`` (try again at
    ``next_attempt_at``) or ``fail`` (dead letter); each returns False, recording nothing,
    if the lease was lost meanwhile. ``release`` hands a lease back untouched (shutdown).
    The last 5 attempts of each delivery are kept (status, latency, first 20 KB of the
    response).

Several emitters
    ``lead_poll(resource, owner, now, ttl)`` takes or renews the right to poll a resource
    (one emitter at a time; a lease not renewed within ``ttl`` passes to whoever asks);
    ``release_poll`` gives it up. ``listen(callback)`` calls back when any process queued
    work (None if the backend cannot tell, then deliverers poll the table).

Replay and inspection
    ``replay(event_id, subscription_id=None)`` re-queues an event now for every currently
    matching active subscription (or one); ``replay_failed(since, until, subscription_id)``
    re-queues dead letters whose event was created in [since, until]. ``list_events``,
    ``list_deliveries``, ``list_attempts`` read the log.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from connector.emitter.encoding import json_bytes, storable_text
from connector.errors import EventError

__all__ = [
    "DEFAULT_STATE",
    "Attempt",
    "DeliveryInfo",
    "Event",
    "EventInfo",
    "Lease",
    "QuarantinedRecord",
    "SnapshotRecord",
    "Store",
    "Subscription",
    "SubscriptionHealth",
    "build_event",
    "event_id",
    "filter_matches",
]

JSON = Any
DEFAULT_STATE = "./connector-state.db"
ROTATION_GRACE = 24 * 3600.0
MAX_OLD_SECRETS = 10
RESPONSE_KEPT = 20 * 1024
ATTEMPTS_KEPT = 5
DELIVERY_STATUSES = ("pending", "delivering", "delivered", "failed")


def event_id(event_type: str, record_id: str, marker: str) -> str:
    """The deterministic id of one transition: ``evt_`` + base32(sha256(type:record:marker))."""
    text = f"{event_type}:{record_id}:{marker}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return "evt_" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def _rfc3339(value: datetime | str | float) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return _rfc3339(value)
    raise TypeError(f"cannot put {type(value).__name__} in an event")


@dataclass(frozen=True)
class Event:
    """One event, as stored: the body bytes are final and sent byte-identical every time."""

    id: str
    type: str
    resource: str
    record_id: str
    path: str
    body: bytes = field(repr=False)
    created_at: float


def build_event(
    event_type: str,
    *,
    resource: str,
    record_id: str,
    marker: str,
    data: Mapping[str, JSON],
    timestamp: datetime | str | float,
    path: str,
    created_at: float,
) -> Event:
    """An :class:`Event` with its deterministic id and frozen body.

    ``timestamp`` is the API's own time of the change (``ended_at``, ``created_at``);
    ``marker`` names the transition (``"ended"``, ``"created"``); ``path`` is the webhook's
    path, appended to each subscription URL.
    """
    payload = {"type": event_type, "timestamp": _rfc3339(timestamp), "data": dict(data)}
    body = json_bytes(payload, default=_json_default)
    for name, text in (("record id", record_id), ("event type", event_type), ("path", path)):
        if storable_text(text) != text:
            raise EventError(f"its {name} {storable_text(text)!r} is not valid Unicode text")
    return Event(
        id=event_id(event_type, record_id, marker),
        type=event_type,
        resource=resource,
        record_id=record_id,
        path=path,
        body=body,
        created_at=created_at,
    )


def filter_matches(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a subscription filter takes an event type (empty or ``*`` = all, ``a.*`` = prefix)."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True)
class Subscription:
    """A subscriber endpoint. ``secrets`` (current first, then old ones still valid) never
    appear in a repr. ``state`` is ``active``, ``disabled`` or ``broken`` (its secret cannot
    be opened: nothing is sent until it is rotated; deliveries keep queueing). ``failures``
    counts failed attempts since the last success."""

    id: str
    url: str
    events: tuple[str, ...]
    secrets: tuple[str, ...] = field(repr=False)
    state: str
    disabled_reason: str | None
    failing_since: float | None
    created_at: float
    failures: int = 0


@dataclass(frozen=True)
class SnapshotRecord:
    """What the poller last saw of one record: its state and whether it can change no more."""

    state: JSON
    terminal: bool = False


@dataclass(frozen=True)
class Lease:
    """A claimed delivery: what the worker needs to send it and to record the attempt."""

    delivery_id: int
    worker: str
    attempts: int
    event: Event
    subscription: Subscription


@dataclass(frozen=True)
class Attempt:
    """One try: when, the HTTP status (None if no answer), latency, error, response head."""

    attempted_at: float
    status: int | None
    latency_ms: float
    error: str | None = None
    response: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class DeliveryInfo:
    """A delivery's row, for inspection (``events list``, dead letters)."""

    id: int
    event_id: str
    subscription_id: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    updated_at: float


@dataclass(frozen=True)
class SubscriptionHealth:
    """One subscription's queue at a glance (``connector status``): its state, deliveries by
    status, and when the oldest event still waiting for it was created (None: nothing waits)."""

    id: str
    url: str
    state: str
    disabled_reason: str | None
    failing_since: float | None
    pending: int
    delivering: int
    delivered: int
    failed: int
    oldest_waiting_at: float | None


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record the poller could not turn into an event, set aside with the reason; it is
    tried again every poll (and fires then if it has become readable)."""

    resource: str
    record_id: str
    reason: str
    first_at: float
    last_at: float
    times: int


@dataclass(frozen=True)
class EventInfo:
    """An event with the status of each of its deliveries."""

    event: Event
    deliveries: tuple[DeliveryInfo, ...]


class Store(Protocol):
    """The emitter's state. See the module docstring for the semantics of each method."""

    def close(self) -> None:
        """Release the connection."""

    # subscriptions
    def add_subscription(
        self, url: str, events: Sequence[str] = (), secret: str | None = None
    ) -> Subscription: ...
    def list_subscriptions(self) -> list[Subscription]: ...
    def get_subscription(self, subscription_id: str) -> Subscription: ...
    def remove_subscription(self, subscription_id: str) -> None: ...
    def rotate_secret(self, subscription_id: str, secret: str | None = None) -> str: ...
    def enable_subscription(self, subscription_id: str) -> None: ...
    def disable_subscription(self, subscription_id: str, reason: str) -> None: ...

    # snapshots and events
    def load_snapshot(self, resource: str) -> dict[str, SnapshotRecord] | None: ...
    def commit_poll(
        self,
        resource: str,
        upserts: Mapping[str, SnapshotRecord],
        deletes: Iterable[str],
        events: Iterable[Event],
        *,
        baseline: bool = False,
        now: float | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> list[str]: ...
    def record_event(self, event: Event) -> bool: ...
    def quarantine(self, resource: str, reasons: Mapping[str, str], now: float) -> None: ...
    def list_quarantined(self) -> list[QuarantinedRecord]: ...

    # several emitters
    def lead_poll(self, resource: str, owner: str, now: float, ttl: float) -> bool: ...
    def release_poll(self, resource: str, owner: str) -> None: ...
    def listen(self, callback: Callable[[], None]) -> Callable[[], None] | None: ...

    # deliveries
    def lease_due(
        self,
        now: float,
        limit: int,
        worker: str,
        lease_seconds: float,
        *,
        exclude_subscriptions: Collection[str] = (),
        per_subscription: int | None = None,
    ) -> list[Lease]: ...
    def complete(self, lease: Lease, attempt: Attempt) -> bool: ...
    def complete_many(self, done: Sequence[tuple[Lease, Attempt]]) -> list[bool]: ...
    def reschedule(
        self, lease: Lease, attempt: Attempt, next_attempt_at: float, *, disable: str | None = None
    ) -> bool: ...
    def fail(self, lease: Lease, attempt: Attempt, *, disable: str | None = None) -> bool: ...
    def release(self, lease: Lease) -> None: ...

    # replay and inspection
    def replay(self, event_id: str, subscription_id: str | None = None) -> int: ...
    def replay_failed(
        self, since: float, until: float | None = None, subscription_id: str | None = None
    ) -> int: ...
    def list_events(self, status: str | None = None, limit: int = 100) -> list[EventInfo]: ...
    def list_deliveries(
        self,
        *,
        status: str | None = None,
        event_id: str | None = None,
        subscription_id: str | None = None,
        limit: int = 1000,
    ) -> list[DeliveryInfo]: ...
    def list_attempts(self, delivery_id: int) -> list[Attempt]: ...
    def count_deliveries(self, status: str) -> int: ...
    def queue_history(self, subscription_id: str, since: float) -> int: ...
    def prune(self, before: float) -> int: ...
    def health(self) -> list[SubscriptionHealth]: ...
