"""Which store a location names: :func:`open_store`, the one module above every backend.

A path opens :class:`~connector.emitter.store_sqlite.SQLiteStore`; a ``postgresql://`` (or
``postgres://``) DSN opens :class:`~connector.emitter.sql_store.SQLStore` over
:class:`~connector.emitter.postgres_database.PostgresDatabase`. The domain types and the
:class:`~connector.emitter.store.Store` protocol sit below the SQL modules
(:mod:`~connector.emitter.store`); this module imports the backends, and nothing under it
imports this module, so the store's modules form no import circle.

Example::

    store = open_store("connector-state.db")
"""

from __future__ import annotations

import os
from typing import Any

from connector.emitter.store import DEFAULT_STATE, Store

__all__ = ["open_store"]


def open_store(location: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """Open the store at ``location`` (default ``$CONNECTOR_STATE`` or ./connector-state.db)."""
    where = os.fspath(location) if location is not None else None
    where = where or os.environ.get("CONNECTOR_STATE") or DEFAULT_STATE
    if where.startswith(("postgresql://", "postgres://")):
        # Imported here: a SQLite user never loads psycopg.
        from connector.emitter.postgres_database import PostgresDatabase
        from connector.emitter.sql_store import SQLStore

        guard, clock = options.pop("guard", None), options.pop("clock", None)
        database = PostgresDatabase(where, **options)
        return SQLStore(database, guard=guard, **({"clock": clock} if clock else {}))
    from connector.emitter.store_sqlite import SQLiteStore

    return SQLiteStore(where, **options)
