"""The database port under the emitter's store: what a backend must give, and nothing else.

The outbox rules (:mod:`~connector.emitter.outbox`) and the SQL of the store
(:mod:`~connector.emitter.sql_store`, :mod:`~connector.emitter.sql_queue`) are written once;
a backend is a :class:`Database`: transactions, reads, its schema migrations, how it locks
rows it leases, and how it wakes other processes when work arrives. Two exist:
:class:`~connector.emitter.sqlite_database.SQLiteDatabase` (one file, shared by the processes
of one machine) and :class:`~connector.emitter.postgres_database.PostgresDatabase` (one server,
shared by replicas on many machines).

The SQL is the common dialect of both: ``?`` placeholders (a backend translates them),
``ON CONFLICT``, ``RETURNING``, window functions, no backend-only types in queries. A new
backend implements this protocol and its migrations; a new table (another module's) is a new
entry at the end of each backend's migrations list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from connector.emitter.sealing import SecretBox

__all__ = ["Cursor", "Database", "Result"]


class Result(Protocol):
    """The outcome of one statement (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Cursor(Protocol):
    """What a transaction gives: ``execute`` (a fresh :class:`Result` each time) and
    ``executemany``, with ``?`` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Result: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


class Database(Protocol):
    """One backend. Every method raises :class:`~connector.errors.StoreError` (``transient``
    when waiting may help) rather than a driver's own error."""

    location: str
    """Where it is, for messages (a path, or a DSN without its password)."""

    box: SecretBox
    """Seals and opens the signing secrets (the backend decides where the key comes from)."""

    lease_lock: str
    """Appended to the lease's inner SELECT (``FOR UPDATE OF d SKIP LOCKED`` where concurrent
    leasers should skip each other's rows rather than queue)."""

    due_index: str
    """Appended to ``FROM deliveries d`` in the lease's scan of due rows: SQLite's
    ``INDEXED BY deliveries_due`` (its planner would otherwise pick the status index and sort
    every queued row), empty where the planner finds the due index itself."""

    def transaction(self, what: str) -> AbstractContextManager[Cursor]:
        """One transaction (committed on success, rolled back on error); ``what`` names it in
        the StoreError raised when the database fails."""
        ...

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query outside any transaction."""
        ...

    def wake(self, cursor: Cursor) -> None:
        """Inside a transaction that queued deliveries: tell listening deliverers on commit."""
        ...

    def listen(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` (from another thread) whenever work was queued anywhere; returns
        a function that stops listening, or None when the backend cannot tell."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...
