"""The SQLite store: :class:`~connector.emitter.sql_store.SQLStore` over one SQLite file
(:class:`~connector.emitter.sqlite_database.SQLiteDatabase`, which says how several processes
share it)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from connector.emitter.guard import Guard
from connector.emitter.sealing import SecretBox
from connector.emitter.sql_store import SQLStore
from connector.emitter.sqlite_database import SQLiteDatabase

__all__ = ["SQLiteStore"]


class SQLiteStore(SQLStore):
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
        super().__init__(
            SQLiteDatabase(path, busy_timeout=busy_timeout, box=box), clock=clock, guard=guard
        )
