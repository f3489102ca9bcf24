"""The PostgreSQL backend of the emitter's store (:class:`~connector.emitter.database.Database`),
for several emitters on several machines sharing one durable state.

* ``CONNECTOR_STATE=postgresql://user@host/db`` (``postgres://`` too). The signing secrets are
  sealed with ``CONNECTOR_STATE_KEY``, which is **required**: a key file beside a DSN means
  nothing, so without the variable the store refuses to open, saying so.
* Connections come from a ``psycopg_pool`` pool; a connection that broke is discarded when it
  fails (not checked on every checkout, which would cost a round trip per transaction), and
  a lost server is a *transient* StoreError, which a running emitter waits out with backoff.
* The schema is versioned: the migrations of :mod:`~connector.emitter.postgres_schema`
  (append only) are applied at open, each in one
  transaction under an advisory lock, so replicas starting together apply each once
  (``connector store migrate`` does the same without running anything).
* Leasing adds ``FOR UPDATE OF d SKIP LOCKED``: replicas claim disjoint batches without
  waiting for each other. A transaction that queued deliveries sends ``NOTIFY``, and each
  deliverer ``LISTEN`` s on a connection of its own, so work is picked up as soon as it is
  committed anywhere.
* **Schemas**: :meth:`PostgresDatabase.within` gives the same server seen through a schema of
  its own (the service keeps each connection's webhooks so, ``hooks_<connection id>``): the
  whole store (its tables, its schema version, its ``NOTIFY`` channel) lives in that schema.
  It shares the parent's pool; every transaction begins by setting ``search_path`` to that
  schema alone, transaction-local: no statement reaches another schema's tables (nor
  ``public``), and nothing is left on a pooled connection.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool

from connector.emitter.postgres_schema import MIGRATIONS
from connector.emitter.sealing import KEY_VARIABLE, SecretBox
from connector.errors import StoreError

__all__ = ["CHANNEL", "PostgresDatabase", "is_postgres", "redact"]

log = logging.getLogger("connector.emitter")
CHANNEL = "connector_work"
_MIGRATION_LOCK = 4_242_001
# A schema of its own (see within): a plain lower-case identifier, short enough that the
# NOTIFY channel named after it stays within PostgreSQL's 63 characters.
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


# Errors that may pass by themselves: the server went away, the disk is full, a conflict.
_TRANSIENT = (
    psycopg.OperationalError,
    pg_errors.DiskFull,
    pg_errors.InsufficientResources,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    pg_errors.AdminShutdown,
    pg_errors.CannotConnectNow,
)


def is_postgres(location: str) -> bool:
    """Whether a state location names a PostgreSQL server."""
    return location.startswith(("postgresql://", "postgres://"))


def redact(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", dsn)


def _sql(text: str) -> str:
    """The common dialect's ``?`` placeholders as psycopg's ``%s``."""
    return text.replace("%", "%%").replace("?", "%s")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error(what: str, exc: psycopg.Error, location: str) -> StoreError:
    transient = isinstance(exc, _TRANSIENT)
    return StoreError(f"{what}: {_first_line(exc)}", location=location, transient=transient)


class _Transaction:
    """A connection in a transaction, speaking the common dialect."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.connection.execute(_sql(sql), params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> int:
        """Runs ``sql`` for every row (pipelined: one round trip); the rows affected in all."""
        rows = list(params)
        if not rows:
            return 0
        with self.connection.cursor() as cursor:
            cursor.executemany(_sql(sql), rows)
            return int(cursor.rowcount)


class PostgresDatabase:
    """A PostgreSQL database as the store's, through a connection pool."""

    lease_lock = " FOR UPDATE OF d SKIP LOCKED"
    due_index = (
        ""  # no index hints in PostgreSQL; its planner chooses (cost-based, with statistics)
    )
    schema: str | None = None
    """The schema this store lives in alone (:meth:`within`), or None: the server's default."""
    channel = CHANNEL
    _owns_pool = True

    def __init__(
        self,
        dsn: str,
        *,
        box: SecretBox | None = None,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
    ) -> None:
        self.location = redact(dsn)
        self._dsn = dsn
        if box is None:
            key = os.environ.get(KEY_VARIABLE, "").strip()
            if not key:
                raise StoreError(
                    f"a PostgreSQL store needs {KEY_VARIABLE}: the signing secrets are sealed "
                    "with it, and every emitter sharing the database must use the same key "
                    "(generate one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)",
                    location=self.location,
                )
            box = SecretBox(key)
        self.box = box
        # The pool's own log repeats, over several lines, what our StoreErrors already say
        # in one; keep its errors only.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": int(connect_timeout)},
            timeout=connect_timeout,
            reconnect_timeout=0,
            name="connector-state",
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except psycopg.Error as exc:
            self.pool.close()
            raise _error("cannot connect to the state store", exc, self.location) from None
        try:
            self.migrate()
        except BaseException:
            self.pool.close()
            raise

    def within(self, schema: str) -> PostgresDatabase:
        """The same database seen through ``schema`` alone (made and migrated if new); it
        shares this one's pool and key, and closing it leaves the pool open."""
        self._checked(schema)
        view = copy.copy(self)
        view.schema = schema
        view.channel = f"{CHANNEL}_{schema}"
        view.location = f"{self.location} (schema {schema})"
        view._owns_pool = False
        view.migrate()
        return view

    def has_schema(self, schema: str) -> bool:
        """Whether the schema exists (made by :meth:`within`, here or on another replica)."""
        return bool(self.read("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,)))

    def drop_schema(self, schema: str) -> None:
        """Drop a schema made by :meth:`within` with everything in it."""
        with self.transaction("cannot drop the schema") as tx:
            tx.connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(self._checked(schema))
            )

    def _checked(self, schema: str) -> sql.Identifier:
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(
                f"not a schema name this store makes: {schema!r}", location=self.location
            )
        return sql.Identifier(schema)

    def _enter_schema(self, connection: psycopg.Connection[Any]) -> None:
        # Transaction-local: gone at commit or rollback, never left on a pooled connection.
        connection.execute("SELECT set_config('search_path', %s, true)", (self.schema,))

    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns the schema version."""
        with self.transaction("cannot migrate the state store") as tx:
            tx.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            if self.schema is not None:
                tx.connection.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                self._enter_schema(tx.connection)
            tx.execute("CREATE TABLE IF NOT EXISTS connector_schema (version INTEGER NOT NULL)")
            row = tx.execute("SELECT version FROM connector_schema").fetchone()
            version = 0 if row is None else int(row[0])
            if row is None:
                tx.execute("INSERT INTO connector_schema (version) VALUES (0)")
            for number in range(version, len(MIGRATIONS)):
                tx.connection.execute(MIGRATIONS[number])
                tx.execute("UPDATE connector_schema SET version = ?", (number + 1,))
        return len(MIGRATIONS)

    def close(self) -> None:
        """Close every pooled connection (a :meth:`within` view leaves them to its parent)."""
        if self._owns_pool:
            self.pool.close()

    @contextmanager
    def transaction(self, what: str) -> Iterator[_Transaction]:
        """One transaction on a pooled connection; driver errors become StoreErrors."""
        try:
            with self.pool.connection() as connection, connection.transaction():
                if self.schema is not None:
                    self._enter_schema(connection)
                yield _Transaction(connection)
        except psycopg.Error as exc:
            raise _error(what, exc, self.location) from None

    def read(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query."""
        if self.schema is not None:  # the schema is set per transaction
            with self.transaction("read failed") as tx:
                return tx.execute(query, params).fetchall()
        try:
            with self.pool.connection() as connection:
                return connection.execute(_sql(query), params).fetchall()
        except psycopg.Error as exc:
            raise _error("read failed", exc, self.location) from None

    def wake(self, cursor: Any) -> None:
        """``NOTIFY`` the listening deliverers (sent when the transaction commits)."""
        cursor.execute(f"NOTIFY {self.channel}")

    def listen(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` from a thread of its own on every ``NOTIFY``; reconnects with
        backoff when the connection drops. Returns the function that stops it."""
        stopping = threading.Event()

        def run() -> None:
            delay = 0.5
            while not stopping.is_set():
                try:
                    with psycopg.connect(self._dsn, autocommit=True) as connection:
                        connection.execute(f"LISTEN {self.channel}")
                        delay = 0.5
                        callback()  # work may have been queued while we were not listening
                        while not stopping.is_set():
                            for _ in connection.notifies(timeout=0.5):
                                callback()
                except psycopg.Error as exc:
                    if stopping.wait(delay):
                        return
                    log.warning(
                        "listening for new work failed (%s); reconnecting", _first_line(exc)
                    )
                    delay = min(delay * 2, 30.0)

        thread = threading.Thread(target=run, name="connector-listen", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=5)

        return stop
