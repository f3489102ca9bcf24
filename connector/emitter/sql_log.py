"""Reading the SQL store's event log: events with their deliveries, attempts, counts, and each
subscription's health (``connector events list``, ``connector status``)."""

from __future__ import annotations

from typing import Any

from connector.emitter.sql_rows import (
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    SQLBase,
    delivery_from_row,
    event_from_row,
)
from connector.emitter.store import (
    DELIVERY_STATUSES,
    Attempt,
    DeliveryInfo,
    EventInfo,
    SubscriptionHealth,
)
from connector.errors import StoreError

__all__ = ["SQLEventLog"]


class SQLEventLog(SQLBase):
    """The read-only inspection half of the SQL store."""

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
        rows = self.db.read(
            f"SELECT {EVENT_COLUMNS} FROM events e {where} ORDER BY e.created_at DESC, e.id LIMIT ?",
            [*params, limit],
        )
        result = []
        for row in rows:
            event = event_from_row(row)
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
        rows = self.db.read(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries d {where} ORDER BY d.id LIMIT ?",
            [*params, limit],
        )
        return [delivery_from_row(r) for r in rows]

    def list_attempts(self, delivery_id: int) -> list[Attempt]:
        """The kept attempts (at most 5, oldest first) of one delivery."""
        rows = self.db.read(
            "SELECT attempted_at, status, latency_ms, error, response FROM attempts"
            " WHERE delivery_id = ? ORDER BY id",
            (delivery_id,),
        )
        return [Attempt(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def count_deliveries(self, status: str) -> int:
        """How many deliveries are in ``status``."""
        return int(
            self.db.read("SELECT COUNT(*) FROM deliveries WHERE status = ?", (status,))[0][0]
        )

    def health(self) -> list[SubscriptionHealth]:
        """Every subscription with its deliveries counted by status (for ``connector status``)."""
        rows = self.db.read(
            "SELECT s.id, s.url, s.state, s.disabled_reason, s.failing_since,"
            " COUNT(CASE WHEN d.status = 'pending' THEN 1 END),"
            " COUNT(CASE WHEN d.status = 'delivering' THEN 1 END),"
            " COUNT(CASE WHEN d.status = 'delivered' THEN 1 END),"
            " COUNT(CASE WHEN d.status = 'failed' THEN 1 END),"
            " MIN(CASE WHEN d.status IN ('pending', 'delivering') THEN e.created_at END)"
            " FROM subscriptions s"
            " LEFT JOIN deliveries d ON d.subscription_id = s.id"
            " LEFT JOIN events e ON e.id = d.event_id"
            " GROUP BY s.id, s.url, s.state, s.disabled_reason, s.failing_since, s.created_at"
            " ORDER BY s.created_at, s.id"
        )
        return [
            SubscriptionHealth(
                id=row[0],
                url=row[1],
                state=row[2],
                disabled_reason=row[3],
                failing_since=row[4],
                pending=int(row[5]),
                delivering=int(row[6]),
                delivered=int(row[7]),
                failed=int(row[8]),
                oldest_waiting_at=row[9],
            )
            for row in rows
        ]
