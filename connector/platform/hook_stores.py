"""Where each connection's webhooks live: an emitter store of its own, so one tenant's
subscriptions, snapshots and event log never mix with another's.

* **SQLite state**: a file beside the state file, ``<state>.hooks/<connection id>.db`` (with
  its key file), opened on first use and deleted with the connection.
* **PostgreSQL state**: a schema of the state's database, ``hooks_<connection id>``
  (:meth:`~connector.emitter.postgres_database.PostgresDatabase.within`): the emitter's whole
  schema in it, reached only through ``search_path`` set per transaction, over the registry's
  connection pool. Several service replicas share it as they share any PostgreSQL store:
  delivery leases skip each other's rows and one replica polls a resource at a time.
  Deleting the connection drops the schema.
"""

from __future__ import annotations

from pathlib import Path

from connector.emitter.backends import open_store
from connector.emitter.guard import Guard
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.sql_store import SQLStore
from connector.emitter.store import Store
from connector.platform.registry import Registry

__all__ = ["HookStores"]


class HookStores:
    """The emitter store of each connection, opened once and kept until closed or dropped."""

    def __init__(self, state: str, registry: Registry, guard: Guard) -> None:
        self._state = state
        self._guard = guard
        database = registry.store.db
        self._postgres = database if isinstance(database, PostgresDatabase) else None
        self._open: dict[str, Store] = {}

    @staticmethod
    def schema(connection_id: str) -> str:
        """The PostgreSQL schema of a connection's webhooks."""
        return f"hooks_{connection_id}".lower()

    def location(self, connection_id: str) -> str:
        """Where a connection's store lives (a path, or the schema on the state's server)."""
        if self._postgres is not None:
            return f"{self._postgres.location} (schema {self.schema(connection_id)})"
        if self._state == ":memory:":
            return ":memory:"
        return str(Path(self._state + ".hooks") / f"{connection_id}.db")

    def get(self, connection_id: str) -> Store:
        """The connection's store (made on first use)."""
        store = self._open.get(connection_id)
        if store is None:
            if self._postgres is not None:
                database = self._postgres.within(self.schema(connection_id))
                store = SQLStore(database, guard=self._guard)
            else:
                location = self.location(connection_id)
                if location != ":memory:":
                    Path(location).parent.mkdir(parents=True, exist_ok=True)
                store = open_store(location, guard=self._guard)
            self._open[connection_id] = store
        return store

    def exists(self, connection_id: str) -> bool:
        """Whether the connection has a store already (here or made by another replica)."""
        if connection_id in self._open:
            return True
        if self._postgres is not None:
            return self._postgres.has_schema(self.schema(connection_id))
        return Path(self.location(connection_id)).exists()

    def drop(self, connection_id: str) -> None:
        """Close and delete a connection's store (its file and key file, or its schema)."""
        store = self._open.pop(connection_id, None)
        if store is not None:
            store.close()
        if self._postgres is not None:
            self._postgres.drop_schema(self.schema(connection_id))
            return
        location = self.location(connection_id)
        if location == ":memory:":
            return
        for suffix in ("", "-wal", "-shm", ".key"):
            Path(location + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        """Close every open store (on PostgreSQL the pool stays the registry's)."""
        for store in self._open.values():
            store.close()
        self._open.clear()
