"""The column lists and row conversions shared by the SQL store's halves, and their base:
one :class:`~connector.emitter.database.Database`, the outbox rules, a clock."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from connector.emitter.database import Database
from connector.emitter.guard import Guard
from connector.emitter.outbox import Outbox
from connector.emitter.store import DeliveryInfo, Event

__all__ = [
    "DELIVERY_COLUMNS",
    "EVENT_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "SQLBase",
    "delivery_from_row",
    "event_from_row",
]

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


class SQLBase:
    """A store over ``db``: the rules (:class:`Outbox`), the clock and lease tokens."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        guard: Guard | None = None,
    ) -> None:
        self.db = db
        self.location = db.location
        self.outbox = Outbox(guard or Guard(), db.box)
        self._clock = clock
        self._tokens = itertools.count(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def listen(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` (from another thread) when work is queued by any process; returns
        how to stop, or None if the backend cannot tell (then the deliverer polls)."""
        return self.db.listen(callback)
