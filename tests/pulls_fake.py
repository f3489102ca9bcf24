"""A small fake of another API for the pull tests: tickets with an ``updated_at`` cursor and a
``since`` filter, sorted oldest first, and each ticket's comments on several pages.

It answers cursor pages like ``{"data": [...], "has_more": true, "last_id": "..."}`` and
counts what it serves (pages per path, the most child requests in flight at once).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

DEFINITION: dict[str, Any] = {
    "handle": "tickets-api",
    "service": {"baseURL": "{{env.TICKETS_URL}}", "variables": {"baseURL": "TICKETS_URL"}},
    "resources": [
        {
            "handle": "tickets",
            "endpoint": "/tickets",
            "fields": [
                {"name": "id", "selector": ["id"]},
                {"name": "title", "selector": ["title"]},
                {"name": "updated_at", "type": "DateTime", "selector": ["updated_at"]},
                {"name": "state", "selector": ["state"]},
            ],
            "operations": {
                "list": {
                    "method": "GET",
                    "records": ["data"],
                    "pagination": {"type": "cursor", "limitParam": "limit"},
                    "queryParams": {
                        "value": {"since": "{{since}}", "limit": "{{limit}}"},
                        "placeholders": [
                            {"name": "since", "type": "DateTime"},
                            {"name": "limit", "type": "Integer"},
                        ],
                    },
                    "incremental": {
                        "cursor": ["updated_at"],
                        "param": "since",
                        "lookback": 60,
                        "order": "asc",
                    },
                },
                "scan": {
                    "method": "GET",
                    "path": "",
                    "records": ["data"],
                    "pagination": {"type": "cursor"},
                    "queryParams": {
                        "value": {"limit": "{{limit}}"},
                        "placeholders": [{"name": "limit", "type": "Integer"}],
                    },
                    "incremental": {"cursor": ["updated_at"], "order": "asc"},
                },
            },
            "children": [
                {
                    "name": "comments",
                    "handle": "comments",
                    "operation": "list",
                    "params": {"ticket_id": ["id"]},
                    "where": {"selector": ["state"], "op": "!=", "value": "draft"},
                    "parentKey": "ticket_id",
                    "idField": ["id"],
                }
            ],
        },
        {
            "handle": "comments",
            "endpoint": "/tickets/{{ticket_id}}/comments",
            "fields": [
                {"name": "id", "selector": ["id"]},
                {"name": "body", "selector": ["body"]},
            ],
            "operations": {
                "list": {
                    "method": "GET",
                    "path": {
                        "value": "",
                        "placeholders": [{"name": "ticket_id", "required": True}],
                    },
                    "records": ["data"],
                    "pagination": {"type": "cursor"},
                    "queryParams": {
                        "value": {"limit": "{{limit}}"},
                        "placeholders": [{"name": "limit", "type": "Integer"}],
                    },
                }
            },
        },
    ],
}


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Tickets:
    """The fake's data and counters."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    comment_delay: float = 0.0

    def add(self, count: int, *, at: datetime, comments: int = 0, state: str = "open") -> list[str]:
        ids = []
        for _ in range(count):
            number = len(self.tickets) + 1
            ticket_id = f"t{number:06d}"
            self.tickets.append(
                {
                    "id": ticket_id,
                    "title": f"ticket {number}",
                    "updated_at": stamp(at),
                    "state": state,
                }
            )
            self.comments[ticket_id] = [
                {"id": f"{ticket_id}-c{n}", "body": f"comment {n}"} for n in range(comments)
            ]
            ids.append(ticket_id)
        return ids

    def touch(self, ticket_id: str, at: datetime, **changes: Any) -> None:
        """Update a ticket: it moves to the end of the order, with its new ``updated_at``."""
        ticket = next(t for t in self.tickets if t["id"] == ticket_id)
        self.tickets.remove(ticket)
        ticket.update(changes, updated_at=stamp(at))
        self.tickets.append(ticket)

    def count(self, name: str) -> None:
        self.pages[name] = self.pages.get(name, 0) + 1


def _page(rows: list[dict[str, Any]], request: Request, default_limit: int) -> JSONResponse:
    limit = int(request.query_params.get("limit", default_limit))
    after = request.query_params.get("after_id")
    start = 0
    if after:
        start = next(i for i, row in enumerate(rows) if row["id"] == after) + 1
    chunk = rows[start : start + limit]
    more = start + limit < len(rows)
    return JSONResponse(
        {"data": chunk, "has_more": more, "last_id": chunk[-1]["id"] if chunk and more else None}
    )


def create_fake(data: Tickets) -> Starlette:
    async def list_tickets(request: Request) -> JSONResponse:
        data.count("tickets")
        rows = sorted(data.tickets, key=lambda t: t["updated_at"])
        since = request.query_params.get("since")
        if since:
            floor = datetime.fromisoformat(since.replace("Z", "+00:00"))
            rows = [r for r in rows if datetime.fromisoformat(r["updated_at"]) >= floor]
        return _page(rows, request, 100)

    async def list_comments(request: Request) -> JSONResponse:
        data.count("comments")
        data.in_flight += 1
        data.most_in_flight = max(data.most_in_flight, data.in_flight)
        try:
            if data.comment_delay:
                await asyncio.sleep(data.comment_delay)
            rows = data.comments.get(request.path_params["ticket_id"])
            if rows is None:
                return JSONResponse({"error": "no such ticket"}, status_code=404)
            return _page(rows, request, 3)
        finally:
            data.in_flight -= 1

    return Starlette(
        routes=[
            Route("/tickets", list_tickets),
            Route("/tickets/{ticket_id}/comments", list_comments),
        ]
    )


def later(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)
