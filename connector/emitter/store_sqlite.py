"""The SQLite implementation of :class:`connector.emitter.store.Store`.

One file, WAL mode, a busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction, so
several processes (the emitter and a CLI replay, or two emitters) can share it: the write
lock serialises leasing, and ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`` claims
a batch atomically. The SQL sticks to what PostgreSQL also accepts (``ON CONFLICT``,
``RETURNING``, partial indexes); a PostgreSQL store would add ``FOR UPDATE SKIP LOCKED`` to
the lease's inner select so that workers do not queue behind each other.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets as _random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from connector.emitter.guard import Guard
from connector.emitter.sealing import SecretBox
from connector.emitter.signing import generate_secret, parse_secret
from connector.emitter.store import (
    ATTEMPTS_KEPT,
    DELIVERY_STATUSES,
    MAX_OLD_SECRETS,
    RESPONSE_KEPT,
    ROTATION_GRACE,
    Attempt,
    DeliveryInfo,
    Event,
    EventInfo,
    Lease,
    SnapshotRecord,
    Subscription,
    filter_matches,
)
from connector.errors import StoreError, SubscriptionError

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    old_secrets TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'active',
    disabled_reason TEXT,
    failing_since DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS baselines (
    resource TEXT PRIMARY KEY,
    taken_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    state TEXT NOT NULL,
    terminal INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (resource, record_id)
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    subscription_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION,
    lease_owner TEXT,
    last_status INTEGER,
    last_error TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, subscription_id);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    attempted_at DOUBLE PRECISION NOT NULL,
    status INTEGER,
    latency_ms DOUBLE PRECISION NOT NULL,
    error TEXT,
    response BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (delivery_id, id);
"""

_EVENT_COLUMNS = "e.id, e.type, e.resource, e.record_id, e.path, e.body, e.created_at"
_SUB_COLUMNS = (
    "s.id, s.url, s.events, s.secret, s.old_secrets, s.state, s.disabled_reason,"
    " s.failing_since, s.created_at"
)
_DELIVERY_COLUMNS = (
    "d.id, d.event_id, d.subscription_id, d.status, d.attempts, d.next_attempt_at,"
    " d.last_status, d.last_error, d.updated_at"
)


def _event(row: Sequence[Any]) -> Event:
    return Event(
        id=row[0],
        type=row[1],
        resource=row[2],
        record_id=row[3],
        path=row[4],
        body=bytes(row[5]),
        created_at=row[6],
    )


def _delivery(row: Sequence[Any]) -> DeliveryInfo:
    return DeliveryInfo(*row)


def _check_events(events: Sequence[str]) -> tuple[str, ...]:
    if isinstance(events, str):
        events = [e for e in events.split(",") if e]
    for pattern in events:
        body = pattern[:-2] if pattern.endswith(".*") else pattern
        if pattern != "*" and not all(p and p.replace("_", "a").isalnum() for p in body.split(".")):
            raise SubscriptionError(f"bad event filter {pattern!r}", field="events")
    return tuple(events)


class SQLiteStore:
    """The emitter's state in one SQLite file; safe to share between processes.

    ``clock`` gives the current time (epoch seconds) where a method takes none; ``guard``
    validates subscription URLs when they are added (``Guard(allow_private=True)`` for tests).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        guard: Guard | None = None,
        busy_timeout: float = 30.0,
        box: SecretBox | None = None,
    ) -> None:
        self.location = os.fspath(path)
        # Signing secrets are sealed before they are written and opened when read.
        self._box = box or SecretBox.for_store(self.location)
        self._clock = clock
        self._guard = guard or Guard()
        self._lock = threading.RLock()
        self._tokens = itertools.count(1)
        try:
            self._db = sqlite3.connect(
                self.location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; only a power loss can drop
            # the last transactions, the trade SQLite recommends for WAL.
            self._db.execute("PRAGMA synchronous = NORMAL")
            # One script, one transaction: concurrent first opens do not trip on each other.
            self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the state store: {exc}", location=self.location
            ) from None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.location!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"the state store is busy: {exc}", location=self.location
                ) from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"commit failed: {exc}", location=self.location) from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"read failed: {exc}", location=self.location) from None

    # subscriptions -----------------------------------------------------------------------

    def _subscription(self, row: Sequence[Any], now: float) -> Subscription:
        old = [self._box.open(s) for s, expires in json.loads(row[4]) if expires > now]
        return Subscription(
            id=row[0],
            url=row[1],
            events=tuple(json.loads(row[2])),
            secrets=(self._box.open(row[3]), *old),
            state=row[5],
            disabled_reason=row[6],
            failing_since=row[7],
            created_at=row[8],
        )

    def add_subscription(
        self, url: str, events: Sequence[str] = (), secret: str | None = None
    ) -> Subscription:
        """Register an endpoint; the URL goes through the guard, the secret is generated if absent."""
        self._guard.validate_url(url)
        patterns = _check_events(events)
        secret = secret or generate_secret()
        parse_secret(secret)
        sub_id = "sub_" + base64.b32encode(_random.token_bytes(10)).decode().lower()
        now = self._clock()
        with self._write() as db:
            db.execute(
                "INSERT INTO subscriptions (id, url, events, secret, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sub_id, url, json.dumps(patterns), self._box.seal(secret), now, now),
            )
        return self.get_subscription(sub_id)

    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        now = self._clock()
        rows = self._read(f"SELECT {_SUB_COLUMNS} FROM subscriptions s ORDER BY s.created_at, s.id")
        return [self._subscription(r, now) for r in rows]

    def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`SubscriptionError` if unknown."""
        rows = self._read(
            f"SELECT {_SUB_COLUMNS} FROM subscriptions s WHERE s.id = ?", (subscription_id,)
        )
        if not rows:
            raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
        return self._subscription(rows[0], self._clock())

    def remove_subscription(self, subscription_id: str) -> None:
        """Delete a subscription with its deliveries and their attempts."""
        self.get_subscription(subscription_id)
        with self._write() as db:
            db.execute(
                "DELETE FROM attempts WHERE delivery_id IN"
                " (SELECT id FROM deliveries WHERE subscription_id = ?)",
                (subscription_id,),
            )
            db.execute("DELETE FROM deliveries WHERE subscription_id = ?", (subscription_id,))
            db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))

    def rotate_secret(self, subscription_id: str, secret: str | None = None) -> str:
        """Make ``secret`` (or a fresh one) current; the old one keeps signing for 24 h."""
        secret = secret or generate_secret()
        parse_secret(secret)
        now = self._clock()
        with self._write() as db:
            row = db.execute(
                "SELECT secret, old_secrets FROM subscriptions WHERE id = ?", (subscription_id,)
            ).fetchone()
            if row is None:
                raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
            old = [[s, e] for s, e in json.loads(row[1]) if e > now]
            old.insert(0, [row[0], now + ROTATION_GRACE])
            db.execute(
                "UPDATE subscriptions SET secret = ?, old_secrets = ?, updated_at = ? WHERE id = ?",
                (self._box.seal(secret), json.dumps(old[:MAX_OLD_SECRETS]), now, subscription_id),
            )
        return secret

    def _set_state(self, subscription_id: str, state: str, reason: str | None) -> None:
        self.get_subscription(subscription_id)
        with self._write() as db:
            db.execute(
                "UPDATE subscriptions SET state = ?, disabled_reason = ?, failing_since = NULL,"
                " updated_at = ? WHERE id = ?",
                (state, reason, self._clock(), subscription_id),
            )

    def enable_subscription(self, subscription_id: str) -> None:
        """Resume deliveries to an endpoint; its failure clock starts afresh."""
        self._set_state(subscription_id, "active", None)

    def disable_subscription(self, subscription_id: str, reason: str) -> None:
        """Stop leasing an endpoint's deliveries (kept for later) and stop queueing new ones."""
        self._set_state(subscription_id, "disabled", reason)

    # snapshots and events ----------------------------------------------------------------

    def load_snapshot(self, resource: str) -> dict[str, SnapshotRecord] | None:
        """The resource's snapshot, or None if no baseline was committed yet."""
        if not self._read("SELECT 1 FROM baselines WHERE resource = ?", (resource,)):
            return None
        rows = self._read(
            "SELECT record_id, state, terminal FROM snapshots WHERE resource = ?", (resource,)
        )
        return {r[0]: SnapshotRecord(json.loads(r[1]), bool(r[2])) for r in rows}

    def _insert_events(
        self, db: sqlite3.Connection, events: Iterable[Event], now: float
    ) -> list[str]:
        subs: list[tuple[str, tuple[str, ...]]] | None = None
        new: list[str] = []
        for event in events:
            cursor = db.execute(
                "INSERT INTO events (id, type, resource, record_id, path, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    event.id,
                    event.type,
                    event.resource,
                    event.record_id,
                    event.path,
                    bytes(event.body),
                    event.created_at,
                ),
            )
            if cursor.rowcount != 1:
                continue
            new.append(event.id)
            if subs is None:
                subs = [
                    (r[0], tuple(json.loads(r[1])))
                    for r in db.execute(
                        "SELECT id, events FROM subscriptions WHERE state = 'active'"
                    )
                ]
            db.executemany(
                "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                [
                    (event.id, sid, now, now)
                    for sid, patterns in subs
                    if filter_matches(patterns, event.type)
                ],
            )
        return new

    def commit_poll(
        self,
        resource: str,
        upserts: Mapping[str, SnapshotRecord],
        deletes: Iterable[str],
        events: Iterable[Event],
        *,
        baseline: bool = False,
        now: float | None = None,
    ) -> list[str]:
        """Snapshot changes, the baseline flag and new events with their deliveries, atomically."""
        now = self._clock() if now is None else now
        try:
            with self._write() as db:
                db.executemany(
                    "INSERT INTO snapshots (resource, record_id, state, terminal, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource, record_id) DO UPDATE SET"
                    " state = excluded.state, terminal = excluded.terminal,"
                    " updated_at = excluded.updated_at",
                    (
                        (
                            resource,
                            rid,
                            json.dumps(rec.state, separators=(",", ":")),
                            int(rec.terminal),
                            now,
                        )
                        for rid, rec in upserts.items()
                    ),
                )
                db.executemany(
                    "DELETE FROM snapshots WHERE resource = ? AND record_id = ?",
                    ((resource, rid) for rid in deletes),
                )
                if baseline:
                    db.execute(
                        "INSERT INTO baselines (resource, taken_at) VALUES (?, ?)"
                        " ON CONFLICT (resource) DO NOTHING",
                        (resource, now),
                    )
                return self._insert_events(db, events, now)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot commit the poll: {exc}", location=self.location) from None

    def record_event(self, event: Event) -> bool:
        """Store one write-through event and queue its deliveries; False if it existed."""
        try:
            with self._write() as db:
                return bool(self._insert_events(db, [event], self._clock()))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record the event: {exc}", location=self.location) from None

    # deliveries --------------------------------------------------------------------------

    def lease_due(
        self,
        now: float,
        limit: int,
        worker: str,
        lease_seconds: float,
        *,
        exclude_subscriptions: Collection[str] = (),
        per_subscription: int | None = None,
    ) -> list[Lease]:
        """Claim up to ``limit`` due deliveries (or expired leases) of active subscriptions,
        skipping ``exclude_subscriptions`` (endpoints the worker has saturated) and taking at
        most ``per_subscription`` of any one subscription."""
        token = f"{worker}#{next(self._tokens)}"
        skip = list(exclude_subscriptions)
        skip_sql = f" AND d.subscription_id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        # A leased row's next_attempt_at is its lease expiry, so one index finds both due
        # work and work whose worker died.
        due = (
            "SELECT d.id, d.subscription_id, d.next_attempt_at FROM deliveries d"
            " JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status IN ('pending', 'delivering') AND d.next_attempt_at <= ?"
            f" AND s.state = 'active'{skip_sql} ORDER BY d.next_attempt_at, d.id LIMIT ?"
        )
        params: list[Any] = [now, *skip]
        if per_subscription is None:
            pick = f"SELECT id FROM ({due}) AS due"
            params.append(limit)
        else:
            # Rank only a bounded window of the oldest due rows, so a large backlog costs
            # no more than a small one.
            pick = (
                "SELECT id FROM (SELECT id, next_attempt_at, ROW_NUMBER() OVER (PARTITION BY"
                f" subscription_id ORDER BY next_attempt_at, id) AS rn FROM ({due}) AS due)"
                " AS ranked WHERE rn <= ? ORDER BY next_attempt_at, id LIMIT ?"
            )
            params += [limit * 10, per_subscription, limit]
        try:
            with self._write() as db:
                # A leased row's next_attempt_at is its lease expiry, so one index finds both
                # due work and work whose worker died.
                claimed = db.execute(
                    "UPDATE deliveries SET status = 'delivering', lease_owner = ?,"
                    f" next_attempt_at = ?, updated_at = ? WHERE id IN ({pick}) RETURNING id",
                    (token, now + lease_seconds, now, *params),
                ).fetchall()
                if not claimed:
                    return []
                ids = [r[0] for r in claimed]
                marks = ",".join("?" * len(ids))
                rows = db.execute(
                    f"SELECT d.id, d.attempts, {_EVENT_COLUMNS}, {_SUB_COLUMNS} FROM deliveries d"
                    " JOIN events e ON e.id = d.event_id JOIN subscriptions s ON s.id = d.subscription_id"
                    f" WHERE d.id IN ({marks}) ORDER BY d.next_attempt_at, d.id",
                    ids,
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lease deliveries: {exc}", location=self.location) from None
        return [
            Lease(r[0], token, r[1], _event(r[2:9]), self._subscription(r[9:], now)) for r in rows
        ]

    def _record(
        self,
        lease: Lease,
        attempt: Attempt,
        status: str,
        next_attempt_at: float | None,
        disable: str | None,
    ) -> bool:
        try:
            with self._write() as db:
                updated = db.execute(
                    "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
                    " lease_owner = NULL, last_status = ?, last_error = ?, updated_at = ?"
                    " WHERE id = ? AND lease_owner = ? AND status = 'delivering'",
                    (
                        status,
                        next_attempt_at,
                        attempt.status,
                        attempt.error,
                        attempt.attempted_at,
                        lease.delivery_id,
                        lease.worker,
                    ),
                ).rowcount
                if updated != 1:
                    return False
                db.execute(
                    "INSERT INTO attempts (delivery_id, attempted_at, status, latency_ms, error,"
                    " response) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        lease.delivery_id,
                        attempt.attempted_at,
                        attempt.status,
                        attempt.latency_ms,
                        attempt.error,
                        bytes(attempt.response[:RESPONSE_KEPT]),
                    ),
                )
                if lease.attempts + 1 > ATTEMPTS_KEPT:
                    db.execute(
                        "DELETE FROM attempts WHERE delivery_id = ? AND id NOT IN (SELECT id FROM"
                        " attempts WHERE delivery_id = ? ORDER BY id DESC LIMIT ?)",
                        (lease.delivery_id, lease.delivery_id, ATTEMPTS_KEPT),
                    )
                sub = lease.subscription.id
                if status == "delivered":
                    db.execute(
                        "UPDATE subscriptions SET failing_since = NULL WHERE id = ?"
                        " AND failing_since IS NOT NULL",
                        (sub,),
                    )
                else:
                    db.execute(
                        "UPDATE subscriptions SET failing_since = ? WHERE id = ?"
                        " AND failing_since IS NULL",
                        (attempt.attempted_at, sub),
                    )
                if disable is not None:
                    db.execute(
                        "UPDATE subscriptions SET state = 'disabled', disabled_reason = ?,"
                        " updated_at = ? WHERE id = ?",
                        (disable, attempt.attempted_at, sub),
                    )
                return True
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record the attempt: {exc}", location=self.location) from None

    def complete(self, lease: Lease, attempt: Attempt) -> bool:
        """The attempt succeeded (2xx): delivered, and the endpoint's failure clock resets."""
        return self._record(lease, attempt, "delivered", None, None)

    def reschedule(
        self, lease: Lease, attempt: Attempt, next_attempt_at: float, *, disable: str | None = None
    ) -> bool:
        """The attempt failed; try again at ``next_attempt_at`` (optionally disabling the endpoint)."""
        return self._record(lease, attempt, "pending", next_attempt_at, disable)

    def fail(self, lease: Lease, attempt: Attempt, *, disable: str | None = None) -> bool:
        """The last attempt failed: the delivery becomes a dead letter (status ``failed``)."""
        return self._record(lease, attempt, "failed", None, disable)

    def release(self, lease: Lease) -> None:
        """Give a lease back without recording an attempt; it is due again at once."""
        with self._write() as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, next_attempt_at = ?"
                " WHERE id = ? AND lease_owner = ? AND status = 'delivering'",
                (self._clock(), lease.delivery_id, lease.worker),
            )

    # replay and inspection ---------------------------------------------------------------

    def replay(self, event_id: str, subscription_id: str | None = None) -> int:
        """Queue an event again now, for every matching active subscription or just one."""
        now = self._clock()
        with self._write() as db:
            row = db.execute("SELECT type FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                raise StoreError(f"no event {event_id!r}", location=self.location)
            if subscription_id is not None:
                if (
                    db.execute(
                        "SELECT 1 FROM subscriptions WHERE id = ?", (subscription_id,)
                    ).fetchone()
                    is None
                ):
                    raise SubscriptionError(f"no subscription {subscription_id!r}", field="id")
                targets = [subscription_id]
            else:
                targets = [
                    r[0]
                    for r in db.execute(
                        "SELECT id, events FROM subscriptions WHERE state = 'active'"
                    )
                    if filter_matches(json.loads(r[1]), row[0])
                ]
            db.executemany(
                "INSERT INTO deliveries (event_id, subscription_id, status, next_attempt_at,"
                " updated_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (event_id, subscription_id)"
                " DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at,"
                " lease_owner = NULL, updated_at = excluded.updated_at",
                [(event_id, sid, now, now) for sid in targets],
            )
        return len(targets)

    def replay_failed(
        self, since: float, until: float | None = None, subscription_id: str | None = None
    ) -> int:
        """Queue again every dead letter whose event was created in [since, until]."""
        now = self._clock()
        until = now if until is None else until
        sql = (
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,"
            " updated_at = ? WHERE status = 'failed' AND event_id IN"
            " (SELECT id FROM events WHERE created_at >= ? AND created_at <= ?)"
        )
        params: list[Any] = [now, now, since, until]
        if subscription_id is not None:
            sql += " AND subscription_id = ?"
            params.append(subscription_id)
        with self._write() as db:
            return db.execute(sql, params).rowcount

    def list_events(self, status: str | None = None, limit: int = 100) -> list[EventInfo]:
        """Events newest first, each with its deliveries; ``status`` keeps events having one
        delivery in that status."""
        if status is not None and status not in DELIVERY_STATUSES:
            raise StoreError(f"unknown status {status!r}; one of {', '.join(DELIVERY_STATUSES)}")
        where = (
            ""
            if status is None
            else "WHERE e.id IN (SELECT event_id FROM deliveries WHERE status = ?)"
        )
        params: list[Any] = [] if status is None else [status]
        rows = self._read(
            f"SELECT {_EVENT_COLUMNS} FROM events e {where} ORDER BY e.created_at DESC, e.id LIMIT ?",
            [*params, limit],
        )
        result = []
        for row in rows:
            event = _event(row)
            result.append(EventInfo(event, tuple(self.list_deliveries(event_id=event.id))))
        return result

    def list_deliveries(
        self,
        *,
        status: str | None = None,
        event_id: str | None = None,
        subscription_id: str | None = None,
        limit: int = 1000,
    ) -> list[DeliveryInfo]:
        """Deliveries filtered by status, event and subscription, oldest first."""
        clauses, params = [], []
        for column, value in (
            ("status", status),
            ("event_id", event_id),
            ("subscription_id", subscription_id),
        ):
            if value is not None:
                clauses.append(f"d.{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._read(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d {where} ORDER BY d.id LIMIT ?",
            [*params, limit],
        )
        return [_delivery(r) for r in rows]

    def list_attempts(self, delivery_id: int) -> list[Attempt]:
        """The kept attempts (at most 5, oldest first) of one delivery."""
        rows = self._read(
            "SELECT attempted_at, status, latency_ms, error, response FROM attempts"
            " WHERE delivery_id = ? ORDER BY id",
            (delivery_id,),
        )
        return [Attempt(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def count_deliveries(self, status: str) -> int:
        """How many deliveries are in ``status``."""
        return int(self._read("SELECT COUNT(*) FROM deliveries WHERE status = ?", (status,))[0][0])
