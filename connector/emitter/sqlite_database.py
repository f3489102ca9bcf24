"""The SQLite backend of the emitter's store (:class:`~connector.emitter.database.Database`).

One file, WAL mode, a busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction, so
several processes of one machine (the emitter and a CLI replay, or two emitters) can share it:
the write lock serialises leasing. Signing secrets are sealed under ``CONNECTOR_STATE_KEY`` or a
key file beside the database (:mod:`~connector.emitter.sealing`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from connector.emitter.database import WouldWait
from connector.emitter.sealing import SecretBox
from connector.emitter.sqlite_schema import MIGRATIONS
from connector.errors import StoreError

__all__ = ["SQLiteDatabase", "store_error"]

T = TypeVar("T")

# SQLite result codes after which the store is unusable whatever we wait for; anything else
# (busy, locked, full, I/O) may pass, so a long-running emitter backs off and retries.
_FATAL_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CANTOPEN", "SQLITE_READONLY"})


def store_error(what: str, exc: sqlite3.Error, location: str) -> StoreError:
    """A StoreError carrying SQLite's own reason, marked transient unless it is fatal."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])
    transient = base not in _FATAL_CODES and "malformed" not in str(exc)
    return StoreError(f"{what}: {exc}", location=location, transient=transient)


class SQLiteDatabase:
    """A SQLite file as the store's database.

    :meth:`run_now` runs a short call on a second connection that never waits: when the
    write lock is taken (another thread, another process), it raises :class:`WouldWait`
    before doing anything, so an event loop can make the sub-millisecond lease and commit
    calls itself and hand only a contended one to a worker thread.
    """

    lease_lock = ""  # BEGIN IMMEDIATE already makes leasers take turns
    # Without it SQLite walks the status index and sorts every queued row for each lease
    # (18 ms at 20,000 queued, against 0.4 ms through the due index).
    due_index = " INDEXED BY deliveries_due"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        box: SecretBox | None = None,
    ) -> None:
        self.location = os.fspath(path)
        self._lock = threading.RLock()
        self._now: sqlite3.Connection | None = None
        self._now_lock = threading.Lock()
        self._local = threading.local()
        self.unchecked = 0
        """Transactions committed by :meth:`run_now` since the last :meth:`checkpoint`."""
        _refuse_truncated(self.location)
        try:
            self.connection = sqlite3.connect(
                self.location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.connection.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; only a power loss can drop
            # the last transactions, the trade SQLite recommends for WAL.
            self.connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the state store: {exc}", location=self.location
            ) from None
        # Signing secrets are sealed before they are written and opened when read.
        self.box = box or SecretBox.for_store(self.location, has_sealed=self._has_sealed)

    def _migrate(self) -> None:
        """Apply the migrations this database lacks, each in one transaction with its
        version bump, so concurrent first opens do not trip on each other."""
        db = self.connection
        while True:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(MIGRATIONS):
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                if int(db.execute("PRAGMA user_version").fetchone()[0]) == version:
                    for statement in _statements(MIGRATIONS[version]):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version + 1}")
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _has_sealed(self) -> bool:
        return bool(self.connection.execute("SELECT 1 FROM subscriptions LIMIT 1").fetchall())

    def close(self) -> None:
        """Close the connections."""
        with self._lock, self._now_lock:
            self.connection.close()
            if self._now is not None:
                self._now.close()

    def run_now(self, call: Callable[[], T]) -> T:
        """``call()`` with its transactions on the connection that never waits; raises
        :class:`WouldWait` (nothing done) where one would have to wait for a lock. Only for
        calls whose first statement is their first transaction's ``BEGIN``."""
        if self.location == ":memory:" or not self._now_lock.acquire(blocking=False):
            raise WouldWait  # (a second connection to :memory: would be another database)
        try:
            if self._now is None:
                self._now = self._open_now()
            self._local.now = True
            try:
                return call()
            finally:
                self._local.now = False
        finally:
            self._now_lock.release()

    def _open_now(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.location, timeout=0, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA busy_timeout = 0")
            db.execute("PRAGMA synchronous = NORMAL")  # as the main connection
            db.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoint() does it, in a thread
        except sqlite3.Error as exc:
            raise store_error("cannot open the state store", exc, self.location) from None
        return db

    def checkpoint(self) -> None:
        """Copy the WAL back into the database without waiting for readers (``PASSIVE``);
        for a worker thread, every so many transactions of :meth:`run_now`."""
        self.unchecked = 0
        with self._lock:
            try:
                self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                raise store_error("cannot checkpoint the WAL", exc, self.location) from None

    @contextmanager
    def transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; SQLite's errors become StoreErrors naming ``what``."""
        if getattr(self._local, "now", False):
            with self._transaction_now(what) as db:
                yield db
            return
        db = self.connection
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(f"{what}: the state store is busy", exc, self.location) from None
            with self._committing(db, what):
                yield db

    @contextmanager
    def _transaction_now(self, what: str) -> Iterator[sqlite3.Connection]:
        db = self._now
        assert db is not None
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                raise WouldWait from None
            raise store_error(f"{what}: the state store is busy", exc, self.location) from None
        except sqlite3.Error as exc:
            raise store_error(f"{what}: the state store is busy", exc, self.location) from None
        with self._committing(db, what):
            yield db
        self.unchecked += 1

    @contextmanager
    def _committing(self, db: sqlite3.Connection, what: str) -> Iterator[None]:
        """Inside ``BEGIN``: ``COMMIT`` on success, roll back on any error."""
        try:
            yield
        except sqlite3.Error as exc:
            self._rollback(db)
            raise store_error(what, exc, self.location) from None
        except BaseException:
            self._rollback(db)
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(db)
            raise store_error(f"{what}: commit failed", exc, self.location) from None

    def _rollback(self, db: sqlite3.Connection | None = None) -> None:
        # After SQLITE_FULL or an I/O error SQLite may have rolled back already; a second
        # ROLLBACK would raise "no transaction is active" and hide the real cause.
        db = db or self.connection
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query."""
        with self._lock:
            try:
                return self.connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise store_error("read failed", exc, self.location) from None

    def wake(self, cursor: Any) -> None:
        """Nothing to do: SQLite cannot tell other processes (their deliverers poll)."""

    def listen(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """None: other processes' work is found by polling."""
        return None


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
