"""A small fake of a cursor-feed API, in the manner of Gmail's history list: a mailbox whose
every change has a growing history id, ``GET /changes?since=ID`` listing the changes after
an id page by page (``next`` page token), ``GET /latest`` giving the current id (the seed),
``GET /messages/{id}`` reading one message (the enrich call). History older than
``oldest`` has expired: listing from before it answers 404, as Gmail does. With a ``token``
every call needs ``Authorization: Bearer <token>`` (401 otherwise), as the shipped example
``definitions/examples/mailbox-feed.json`` sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["MAIL", "Mailbox", "mail_app"]


@dataclass
class Mailbox:
    history: int = 100
    oldest: int = 0
    page_size: int = 2
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    answer: str | None = None
    """A bad answer to give the list call: ``html``, ``nocursor``, ``object``, ``repeat``."""
    requests: list[str] = field(default_factory=list)
    token: str | None = None

    def deliver(self, subject: str, labels: tuple[str, ...] = ("INBOX",)) -> str:
        self.history += 1
        mid = f"m{len(self.messages) + 1}"
        self.messages[mid] = {
            "id": mid,
            "subject": subject,
            "from": "ann@example.com",
            "received_at": f"2026-03-01T00:00:{len(self.messages) % 60:02}Z",
        }
        self.changes.append({"history": self.history, "id": mid, "labels": list(labels)})
        return mid

    def relabel(self, mid: str, labels: tuple[str, ...]) -> None:
        self.history += 1
        self.changes.append({"history": self.history, "id": mid, "labels": list(labels)})


def mail_app(box: Mailbox) -> Starlette:
    def refused(request: Request) -> Response | None:
        if box.token is None or request.headers.get("authorization") == f"Bearer {box.token}":
            return None
        return JSONResponse({"error": {"message": "bad credentials"}}, status_code=401)

    async def latest(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        box.requests.append("latest")
        return JSONResponse({"cursor": str(box.history)})

    async def changes(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        since = int(request.query_params.get("since") or 0)
        start = int(request.query_params.get("pageToken") or 0)
        box.requests.append(f"changes since={since} page={start}")
        if since < box.oldest:
            return JSONResponse({"error": {"message": "history expired"}}, status_code=404)
        if box.answer == "html":
            return PlainTextResponse("<html>maintenance</html>", media_type="text/html")
        after = [c for c in box.changes if c["history"] > since]
        page = after[start : start + box.page_size]
        body: dict[str, Any] = {"cursor": str(box.history)}
        if page:
            body["changes"] = page  # an empty page leaves `changes` out, as Gmail does
        if start + box.page_size < len(after):
            body["next"] = str(start + box.page_size)
        if box.answer == "nocursor":
            del body["cursor"]
        if box.answer == "repeat":
            body["next"] = "2"  # a page token that never moves on
        if box.answer == "object":
            body["changes"] = {"oops": True}
        return JSONResponse(body)

    async def message(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        mid = request.path_params["mid"]
        box.requests.append(f"message {mid}")
        if mid not in box.messages:
            return JSONResponse({"error": {"message": "not found"}}, status_code=404)
        return JSONResponse(box.messages[mid])

    return Starlette(
        routes=[
            Route("/latest", latest),
            Route("/changes", changes),
            Route("/messages/{mid}", message),
        ]
    )


FEED: dict[str, Any] = {
    "seed": {"method": "GET", "path": "/latest", "cursor": ["cursor"]},
    "list": {"method": "GET", "path": "/changes", "queryParams": {"since": "{{cursor}}"}},
    "items": ["changes"],
    "cursor": ["cursor"],
    "page": {"token": ["next"], "param": "pageToken"},
    "filter": {"field": ["labels"], "contains": "INBOX"},
    "enrich": {"method": "GET", "path": "/messages/{{item.id}}"},
}

MAIL: dict[str, Any] = {
    "service": {"baseURL": "http://mail.test", "auth": {"method": "none"}},
    "resources": [
        {
            "handle": "messages",
            "endpoint": "/messages",
            "fields": [
                {"name": "id", "type": "String", "selector": ["id"]},
                {"name": "subject", "type": "String", "selector": ["subject"]},
            ],
            "operations": {
                "read": {
                    "method": "GET",
                    "path": {
                        "value": "/{{id}}",
                        "placeholders": [{"name": "id", "required": True}],
                    },
                }
            },
            "webhooks": [
                {
                    "event": "messages.received",
                    "path": "/mail",
                    "payload": [
                        {"name": "id", "type": "String", "selector": ["id"]},
                        {"name": "subject", "type": "String", "selector": ["subject"]},
                        {"name": "from", "type": "String", "selector": ["from"]},
                    ],
                    "trigger": {"type": "feed", "time": ["received_at"], "feed": FEED},
                }
            ],
        }
    ],
}
