"""Server-sent event streams: an operation with ``response: {"format": "sse"}``.

``Connector.stream(...)`` / ``AsyncConnector.stream(...)`` return an :class:`EventStream` /
:class:`AsyncEventStream`: iterate it for the decoded events (``Event(name, data)``, ``data``
parsed as JSON when it is JSON), and call ``final()`` for the object the events add up to (it
reads the rest of the stream first). How events fold into that object is the operation's
``accumulate`` rules (:class:`~connector.definitions.StreamRule`), so nothing here knows one
API's event names: the Anthropic definition spells out its own (``message_start`` sets the
message, ``content_block_delta`` appends text, ``message_delta`` merges the stop reason...).

A stream that breaks off (the connection drops, or it ends before the operation's ``end``
event) raises :class:`~connector.errors.StreamInterruptedError`; an ``error`` event raises the
typed :class:`~connector.errors.UpstreamError` its envelope names. The wire format is decoded by
httpx-sse.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from .conventions import GENERIC, Rules
from .definitions import Operation, ResponseSpec, StreamRule
from .errors import ResponseError, StreamInterruptedError, UpstreamError, error_class_for
from .responses import error_from_response
from .types import JSON

__all__ = ["Accumulator", "AsyncEventStream", "Event", "EventStream", "is_event_stream", "value_at"]


@dataclass(frozen=True)
class Event:
    """One server-sent event: its ``name`` (``event:``, default ``message``) and ``data``."""

    name: str
    data: JSON
    id: str | None = None


def _decode(sse: ServerSentEvent) -> Event:
    try:
        data: JSON = json.loads(sse.data) if sse.data else None
    except json.JSONDecodeError:
        data = sse.data
    return Event(sse.event or "message", data, sse.id or None)


def value_at(value: Any, path: list[str | int]) -> Any:
    """The value at ``path`` (keys and indices) in ``value``, or None where it is missing."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


class Accumulator:
    """Folds events into the final object by an operation's ``accumulate`` rules."""

    def __init__(self, rules: list[StreamRule]) -> None:
        self._rules: dict[str, list[StreamRule]] = {}
        for rule in rules:
            self._rules.setdefault(rule.event, []).append(rule)
        self.value: JSON = None

    def add(self, event: Event) -> None:
        """Apply every rule for this event's name."""
        for rule in self._rules.get(event.name, ()):
            self._apply(rule, event.data)

    def _apply(self, rule: StreamRule, data: JSON) -> None:
        if rule.set is not None:
            self.value = copy.deepcopy(value_at(data, rule.set))
            return
        target = value_at(self.value, rule.into)
        if rule.at is not None:
            index = value_at(data, rule.at)
            if not isinstance(target, list) or not isinstance(index, int):
                return
            if rule.insert is not None:
                target.extend([None] * (index + 1 - len(target)))
                target[index] = copy.deepcopy(value_at(data, rule.insert))
                return
            target = target[index] if 0 <= index < len(target) else None
        if not isinstance(target, dict):
            return
        if rule.append is not None:
            piece = value_at(data, rule.append)
            for key, text in (piece or {}).items() if isinstance(piece, dict) else ():
                if key != "type" and isinstance(text, str):
                    earlier = target.get(key)
                    target[key] = (earlier if isinstance(earlier, str) else "") + text
        if rule.merge is not None:
            piece = value_at(data, rule.merge)
            if isinstance(piece, dict):
                target.update({k: v for k, v in piece.items() if v is not None})
        if rule.parse_json is not None and isinstance(target.get(rule.parse_json), str):
            text = target.pop(rule.parse_json)
            try:
                target[rule.as_ or rule.parse_json] = json.loads(text) if text else {}
            except json.JSONDecodeError:
                target[rule.as_ or rule.parse_json] = text


class _Stream:
    """What both shells share: checks, the count, the accumulator, the error event."""

    def __init__(
        self,
        response: httpx.Response,
        handle: str,
        operation: Operation,
        conventions: Rules = GENERIC,
    ) -> None:
        self.conventions = conventions
        self.response = response
        self.handle = handle
        self.operation = operation
        self.spec: ResponseSpec = operation.response
        self.accumulator = Accumulator(self.spec.accumulate)
        self.count = 0
        self.ended = self.spec.end is None
        self.url = str(response.request.url.copy_with(query=None))

    def check_start(self) -> None:
        if not is_event_stream(self.response):
            kind = self.response.headers.get("content-type", "")
            raise ResponseError(
                f"{self.handle}.{self.operation.name}: expected text/event-stream, got {kind!r}",
                resource=self.handle,
                operation=self.operation.name,
                request_id=self.conventions.request_id(self.response.headers),
            )

    def seen(self, sse: ServerSentEvent) -> Event:
        event = _decode(sse)
        self.count += 1
        if self.spec.error is not None and event.name == self.spec.error:
            raise self._error_event(event)
        self.accumulator.add(event)
        if event.name == self.spec.end:
            self.ended = True
        return event

    def _error_event(self, event: Event) -> UpstreamError:
        error = event.data.get("error") if isinstance(event.data, dict) else None
        kind = error.get("type") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        cls = error_class_for(
            500 if kind in (None, "api_error") else 0,
            kind,
            classes=self.conventions.error_classes,
        )
        return cls(
            str(message or "the stream reported an error"),
            status=self.response.status_code,
            error_type=kind if isinstance(kind, str) else None,
            request_id=self.conventions.request_id(self.response.headers),
            resource=self.handle,
            operation=self.operation.name,
            body=event.data,
        )

    def interrupted(self, cause: Exception | None) -> StreamInterruptedError:
        why = f"{type(cause).__name__}: {cause}" if cause else f"no {self.spec.end!r} event"
        return StreamInterruptedError(
            f"{self.handle}.{self.operation.name}: the stream from {self.url} broke off after "
            f"{self.count} event(s) ({why}); nothing after that arrived, so send it again",
            url=self.url,
            events=self.count,
        )


class EventStream(_Stream):
    """The events of one streamed answer (synchronous). Close it, or use it with ``with``."""

    def __iter__(self) -> Iterator[Event]:
        if not hasattr(self, "_events"):
            self._events = self._read()
        return self._events

    def _read(self) -> Iterator[Event]:
        try:
            for sse in EventSource(self.response).iter_sse():
                yield self.seen(sse)
        except httpx.TransportError as exc:
            raise self.interrupted(exc) from None
        finally:
            self.response.close()
        if not self.ended:
            raise self.interrupted(None)

    def final(self) -> JSON:
        """Read what is left and return the accumulated object."""
        for _ in self:
            pass
        return self.accumulator.value

    def close(self) -> None:
        """Stop reading and release the connection."""
        self.response.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(_Stream):
    """See :class:`EventStream`; iterate with ``async for``."""

    def __aiter__(self) -> AsyncIterator[Event]:
        if not hasattr(self, "_events"):
            self._events = self._read()
        return self._events

    async def _read(self) -> AsyncIterator[Event]:
        try:
            async for sse in EventSource(self.response).aiter_sse():
                yield self.seen(sse)
        except httpx.TransportError as exc:
            raise self.interrupted(exc) from None
        finally:
            await self.response.aclose()
        if not self.ended:
            raise self.interrupted(None)

    async def final(self) -> JSON:
        """See :meth:`EventStream.final`."""
        async for _ in self:
            pass
        return self.accumulator.value

    async def aclose(self) -> None:
        """See :meth:`EventStream.close`."""
        await self.response.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def is_event_stream(response: httpx.Response) -> bool:
    """Whether the answer is ``text/event-stream`` (else the caller reads it to report it)."""
    kind: str = response.headers.get("content-type", "")
    return kind.startswith("text/event-stream")


def opened(
    response: httpx.Response, handle: str, operation: Operation, conventions: Rules = GENERIC
) -> EventStream:
    """The EventStream of a sent (streamed) response; raises the typed error of an error status
    (the caller has read the body) or ResponseError when it is not an event stream."""
    if response.is_error:
        raise error_from_response(response, handle, operation.name, conventions)
    stream = EventStream(response, handle, operation, conventions)
    stream.check_start()
    return stream


def aopened(
    response: httpx.Response, handle: str, operation: Operation, conventions: Rules = GENERIC
) -> AsyncEventStream:
    """See :func:`opened`."""
    if response.is_error:
        raise error_from_response(response, handle, operation.name, conventions)
    stream = AsyncEventStream(response, handle, operation, conventions)
    stream.check_start()
    return stream
