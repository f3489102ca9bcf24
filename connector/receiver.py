"""The subscriber side: a starlette app that verifies, dedupes and dispatches webhooks.

Mount it anywhere; it answers ``POST`` on every path (the emitter posts to the subscription
URL + ``/webhooks/claude-api/<event>``). For each request it:

1. reads the raw body (at most 1 MiB, else 413) and verifies the Standard Webhooks headers
   on those exact bytes: missing or malformed headers -> 400, a stale timestamp or a
   signature that does not match -> 401; never a 500;
2. parses the JSON (not JSON, or not ``{type, timestamp, data}`` -> 400 ``bad-payload``,
   distinct from a forgery);
3. drops a ``webhook-id`` it has already handled (200 ``duplicate``);
4. calls the handler registered for the event type (or ``"*"``); an unknown type is
   acknowledged and ignored (200). If a handler raises, the answer is 500 and the id is not
   remembered, so the emitter's retry runs the handler again.

Dedupe horizon: :class:`MemoryDedupe` keeps ids for ``horizon`` seconds (default 30 days,
which covers the ~3.2-day retry schedule and the 30-day replay window) but at most
``max_entries`` of them (default 100,000, the oldest forgotten first) and only as long as the
process lives. A subscriber that must dedupe across restarts passes its own object with the
same two methods.

Example::

    app = create_receiver_app("whsec_...", handlers={"files.created": on_file})
"""

from __future__ import annotations

import inspect
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.emitter.signing import MAX_BODY_BYTES, parse_secret, verify
from connector.errors import VerificationError

__all__ = ["Dedupe", "MemoryDedupe", "ReceivedEvent", "create_receiver_app"]

_STATUS = {
    "missing-header": 400,
    "bad-timestamp": 400,
    "bad-payload": 400,
    "stale-timestamp": 401,
    "bad-signature": 401,
    "too-large": 413,
}


@dataclass(frozen=True)
class ReceivedEvent:
    """A verified event: its id, type, event time, data, the raw body and the request path."""

    id: str
    type: str
    timestamp: str
    data: Any
    body: bytes
    path: str


Handler = Callable[[ReceivedEvent], Awaitable[None] | None]


class Dedupe(Protocol):
    """Remembers handled webhook ids."""

    def seen(self, msg_id: str) -> bool:
        """Whether ``msg_id`` was handled already."""
        ...

    def add(self, msg_id: str) -> None:
        """Remember ``msg_id`` as handled."""
        ...


class MemoryDedupe:
    """Ids in memory for ``horizon`` seconds, at most ``max_entries`` (oldest dropped first)."""

    def __init__(
        self,
        *,
        horizon: float = 30 * 86400,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.horizon = horizon
        self.max_entries = max_entries
        self._clock = clock
        self._ids: OrderedDict[str, float] = OrderedDict()

    def seen(self, msg_id: str) -> bool:
        """Whether the id was added less than ``horizon`` seconds ago (and not evicted)."""
        added = self._ids.get(msg_id)
        return added is not None and self._clock() - added < self.horizon

    def add(self, msg_id: str) -> None:
        """Remember the id now, forgetting expired ids and the oldest beyond the cap."""
        now = self._clock()
        self._ids[msg_id] = now
        self._ids.move_to_end(msg_id)
        while self._ids:
            oldest, added = next(iter(self._ids.items()))
            if len(self._ids) > self.max_entries or now - added >= self.horizon:
                del self._ids[oldest]
            else:
                break


def _problem(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": reason, "message": message}, status_code=status)


def create_receiver_app(
    secret_or_secrets: str | Sequence[str],
    *,
    handlers: Mapping[str, Handler] | None = None,
    tolerance: int = 300,
    dedupe: Dedupe | None = None,
    clock: Callable[[], float] = time.time,
    max_body: int = MAX_BODY_BYTES,
) -> Starlette:
    """A starlette app that accepts verified webhooks on any path and dispatches them by type.

    ``handlers`` maps event types (or ``"*"`` for all) to a function or coroutine function
    taking a :class:`ReceivedEvent`. ``clock`` is the time the timestamp tolerance is
    measured against.
    """
    secrets = [secret_or_secrets] if isinstance(secret_or_secrets, str) else list(secret_or_secrets)
    for secret in secrets:
        parse_secret(secret)
    table = dict(handlers or {})
    seen = dedupe if dedupe is not None else MemoryDedupe(clock=clock)

    async def receive(request: Request) -> JSONResponse:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return _problem(413, "too-large", f"the body is over {max_body} bytes")
        raw = bytes(body)
        try:
            msg_id = verify(
                raw,
                request.headers.items(),
                secrets,
                now=clock(),
                tolerance=tolerance,
                max_body=max_body,
            )
        except VerificationError as exc:
            return _problem(_STATUS.get(exc.reason, 400), exc.reason, str(exc))
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            return _problem(400, "bad-payload", "the signed body is not JSON")
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("type"), str)
            or not isinstance(payload.get("timestamp", ""), str)
        ):
            return _problem(400, "bad-payload", "the body is not {type, timestamp, data}")
        if seen.seen(msg_id):
            return JSONResponse({"status": "duplicate", "id": msg_id})
        handler = table.get(payload["type"]) or table.get("*")
        if handler is None:
            seen.add(msg_id)
            return JSONResponse({"status": "ignored", "id": msg_id})
        event = ReceivedEvent(
            id=msg_id,
            type=payload["type"],
            timestamp=payload.get("timestamp", ""),
            data=payload.get("data"),
            body=raw,
            path=request.url.path,
        )
        result = handler(event)
        if inspect.isawaitable(result):
            await result
        seen.add(msg_id)
        return JSONResponse({"status": "accepted", "id": msg_id})

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
