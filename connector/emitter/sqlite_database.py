"""The SQLite database under the emitter's store: opening, the schema, transactions, rows.

One file, WAL mode, a busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction, so
several processes (the emitter and a CLI replay, or two emitters) can share it: the write
lock serialises leasing, and ``UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`` claims
a batch atomically. The SQL sticks to what PostgreSQL also accepts (``ON CONFLICT``,
``RETURNING``, partial indexes); a PostgreSQL store would add ``FOR UPDATE SKIP LOCKED`` to
the lease's inner select so that workers do not queue behind each other.

:class:`~connector.emitter.store_sqlite.SQLiteStore` is built in three layers, one module
each: this one (the database), :mod:`~connector.emitter.queue_sqlite` (deliveries: leasing,
attempts, replay, the log) and :mod:`~connector.emitter.store_sqlite` (subscriptions,
snapshots, events).
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from connector.emitter.guard import Guard
from connector.emitter.sealing import SecretBox
from connector.emitter.store import (
    DeliveryInfo,
    Event,
    Subscription,
)
from connector.errors import StoreError

__all__ = [
    "DELIVERY_COLUMNS",
    "EVENT_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "SQLiteDatabase",
    "delivery_from_row",
    "event_from_row",
]

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

EVENT_COLUMNS = "e.id, e.type, e.resource, e.record_id, e.path, e.body, e.created_at"
SUBSCRIPTION_COLUMNS = (
    "s.id, s.url, s.events, s.secret, s.old_secrets, s.state, s.disabled_reason,"
    " s.failing_since, s.created_at"
)
DELIVERY_COLUMNS = (
    "d.id, d.event_id, d.subscription_id, d.status, d.attempts, d.next_attempt_at,"
    " d.last_status, d.last_error, d.updated_at"
)


def event_from_row(row: Sequence[Any]) -> Event:
    return Event(
        id=row[0],
        type=row[1],
        resource=row[2],
        record_id=row[3],
        path=row[4],
        body=bytes(row[5]),
        created_at=row[6],
    )


def delivery_from_row(row: Sequence[Any]) -> DeliveryInfo:
    return DeliveryInfo(*row)


class SQLiteDatabase:
    """The connection and its transactions; the base of :class:`SQLiteStore`.

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
        return f"{type(self).__name__}({self.location!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
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
