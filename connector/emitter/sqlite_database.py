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
    "MIGRATIONS",
    "SUBSCRIPTION_COLUMNS",
    "SQLiteDatabase",
    "delivery_from_row",
    "event_from_row",
    "store_error",
]

# The schema as a list of migrations: entry n brings a database from version n to n + 1
# (``PRAGMA user_version``). Append, never edit: another module's tables (a connections store,
# say) go in as a new entry. Version 1 uses IF NOT EXISTS so that databases made before the
# schema was versioned (version 0, tables present) upgrade in place.
MIGRATIONS: list[str] = [
    """
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
""",
    # Failed attempts since the last success (the disable rule counts them, so a clock
    # jump alone cannot disable an endpoint), and records set aside as poison.
    """
ALTER TABLE subscriptions ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
CREATE TABLE quarantine (
    resource TEXT NOT NULL,
    record_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_at DOUBLE PRECISION NOT NULL,
    last_at DOUBLE PRECISION NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (resource, record_id)
);
""",
]

# SQLite result codes after which the store is unusable whatever we wait for; anything else
# (busy, locked, full, I/O) may pass, so a long-running emitter backs off and retries.
_FATAL_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CANTOPEN", "SQLITE_READONLY"})


def store_error(what: str, exc: sqlite3.Error, location: str) -> StoreError:
    """A StoreError carrying SQLite's own reason, marked transient unless it is fatal."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])
    transient = base not in _FATAL_CODES and "malformed" not in str(exc)
    return StoreError(f"{what}: {exc}", location=location, transient=transient)


EVENT_COLUMNS = "e.id, e.type, e.resource, e.record_id, e.path, e.body, e.created_at"
SUBSCRIPTION_COLUMNS = (
    "s.id, s.url, s.events, s.secret, s.old_secrets, s.state, s.disabled_reason,"
    " s.failing_since, s.created_at, s.failures"
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
        self._clock = clock
        self._guard = guard or Guard()
        self._lock = threading.RLock()
        self._tokens = itertools.count(1)
        _refuse_truncated(self.location)
        try:
            self._db = sqlite3.connect(
                self.location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; only a power loss can drop
            # the last transactions, the trade SQLite recommends for WAL.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the state store: {exc}", location=self.location
            ) from None
        # Signing secrets are sealed before they are written and opened when read.
        self._box = box or SecretBox.for_store(self.location, has_sealed=self._has_sealed)

    def _migrate(self) -> None:
        """Apply the migrations this database lacks, each in one transaction with its
        version bump, so concurrent first opens do not trip on each other."""
        while True:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(MIGRATIONS):
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if int(self._db.execute("PRAGMA user_version").fetchone()[0]) == version:
                    for statement in _statements(MIGRATIONS[version]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _has_sealed(self) -> bool:
        return bool(self._db.execute("SELECT 1 FROM subscriptions LIMIT 1").fetchall())

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
                raise store_error("the state store is busy", exc, self.location) from None
            try:
                yield self._db
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise store_error("commit failed", exc, self.location) from None

    def _rollback(self) -> None:
        # After SQLITE_FULL or an I/O error SQLite may have rolled back already; a second
        # ROLLBACK would raise "no transaction is active" and hide the real cause.
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise store_error("read failed", exc, self.location) from None

    def _subscription(self, row: Sequence[Any], now: float) -> Subscription:
        """The subscription of a row. One whose secrets cannot be opened (sealed under another
        key, a tampered row) comes back ``broken``, without secrets, saying why: it is never
        signed for, and it does not stop the others."""
        state, reason = row[5], row[6]
        try:
            old = [self._box.open(s) for s, expires in json.loads(row[4]) if expires > now]
            secrets: tuple[str, ...] = (self._box.open(row[3]), *old)
        except (StoreError, ValueError, TypeError) as exc:
            detail = exc if isinstance(exc, StoreError) else "the stored old secrets are malformed"
            secrets, state = (), "broken"
            reason = f"its signing secret cannot be opened: {detail}"
        return Subscription(
            id=row[0],
            url=row[1],
            events=tuple(json.loads(row[2])),
            secrets=secrets,
            state=state,
            disabled_reason=reason,
            failing_since=row[7],
            created_at=row[8],
            failures=row[9],
        )


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _refuse_truncated(location: str) -> None:
    """A state file that exists, is empty and has a key file beside it was truncated: opening
    it would silently start an empty store (every subscription gone)."""
    if location == ":memory:":
        return
    try:
        empty = os.path.getsize(location) == 0
    except OSError:
        return
    if empty and os.path.exists(location + ".key"):
        raise StoreError(
            "the state file is empty but its key file exists beside it: the store was "
            "truncated or replaced. Restore it from a backup (or remove both files to start "
            "afresh); nothing was changed",
            location=location,
        )
