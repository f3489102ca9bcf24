"""Reading responses, with no I/O: an ``httpx.Response`` (already read) becomes records, a
typed :class:`~connector.errors.UpstreamError`, or the parameters of the next page."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx

from .definitions import CursorPagination, Field, Operation, Resource
from .errors import PaginationError, ResponseError, UpstreamError, error_class_for
from .selectors import Selector
from .types import JSON

__all__ = [
    "PageState",
    "error_from_response",
    "extract_record",
    "parse_json",
    "select_items",
    "shape_records",
]


def error_from_response(
    response: httpx.Response, resource: str | None, operation: str | None
) -> UpstreamError:
    """The typed error for an error status, from the envelope ``{"type":"error","error":{...}}``.

    Works on whatever body came back (a proxy's HTML page, an empty body): the status decides
    the class, the envelope refines the message.
    """
    body: JSON = None
    error_type = None
    message = response.reason_phrase or "error"
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
        text = response.text[:500] if response.is_stream_consumed or not response.is_closed else ""
        body = text or None
        if text.strip():
            message = text.strip()[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error_type = error.get("type") if isinstance(error.get("type"), str) else None
            if isinstance(error.get("message"), str):
                message = error["message"]
    cls = error_class_for(response.status_code, error_type)
    return cls(
        message,
        status=response.status_code,
        error_type=error_type,
        request_id=response.headers.get("request-id"),
        resource=resource,
        operation=operation,
        body=body,
    )


def _integer(text: str) -> int | str:
    """A JSON integer; one longer than Python converts (4,300 digits) stays its digit text, so
    one huge number cannot make a whole answer unreadable."""
    return int(text) if len(text) <= 4000 else text


def parse_json(response: httpx.Response, resource: str, operation: str) -> JSON:
    """The JSON body of a successful response, or a ResponseError saying what came instead."""
    if not response.content:
        return None
    try:
        return json.loads(response.content, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise ResponseError(
            f"{resource}.{operation}: expected a JSON body, got {response.headers.get('content-type', 'no content type')} ({exc})",
            resource=resource,
            operation=operation,
            request_id=response.headers.get("request-id"),
        ) from None


def extract_record(fields: Sequence[Field], document: JSON) -> dict[str, JSON]:
    """The record of ``document``: each field's typed value by its selector."""
    return {field.name: field.extract(document) for field in fields}


def select_items(operation: Operation, payload: JSON) -> list[JSON]:
    """The item list of a list response (by the operation's ``records`` selector, else
    ``data``, else the payload itself when it is a list)."""
    selector = operation._records
    if selector is not None:
        items = selector.select(payload)
    elif isinstance(payload, dict) and isinstance(payload.get("data"), list):
        items = payload["data"]
    else:
        items = payload
    if items is None:
        return []
    return items if isinstance(items, list) else [items]


def shape_records(resource: Resource, operation: Operation, payload: JSON, *, raw: bool) -> JSON:
    """What ``call`` returns: raw JSON, a list of records (list operations) or one record."""
    if raw or not resource.fields or not isinstance(payload, dict | list):
        return payload
    if operation.pagination is not None or operation.records is not None:
        return [extract_record(resource.fields, item) for item in select_items(operation, payload)]
    if isinstance(payload, dict) and payload.get("type", "").endswith("_deleted"):
        return payload  # a deletion receipt has none of the record's fields
    record = extract_record(resource.fields, payload)
    if isinstance(payload, dict) and payload and all(v is None for v in record.values()):
        # Not a record of this resource at all (count_tokens answers {"input_tokens": N}):
        # shaping it would return only nulls and lose the answer, so it is returned as is.
        return payload
    return record


class PageState:
    """Follows one listing page by page; refuses a cursor that repeats (an endless loop)."""

    def __init__(self, operation: Operation, resource: str) -> None:
        self.operation = operation
        self.resource = resource
        self._seen: set[str] = set()
        pagination = operation.pagination
        # Compiled once per listing, not once per page.
        self._has_more: Selector | None = None
        self._cursor: Selector | None = None
        if isinstance(pagination, CursorPagination):
            self._has_more = Selector(pagination.has_more)
            self._cursor = Selector(pagination.cursor)
        elif pagination is not None:
            self._cursor = Selector(pagination.token)

    def next_query(self, payload: JSON, items: list[JSON]) -> dict[str, str] | None:
        """The query parameters of the next page, or None when this was the last one."""
        pagination = self.operation.pagination
        if pagination is None or self._cursor is None:
            return None
        cursor = self._cursor.select(payload)
        if self._has_more is not None:
            # As the SDK does: a missing has_more means "go on until a page comes back empty".
            if self._has_more.select(payload) is False or not items or cursor in (None, ""):
                return None
        elif cursor in (None, ""):
            return None
        token = str(cursor)
        if token in self._seen:
            raise PaginationError(
                f"{self.resource}: the API returned the cursor {token!r} twice; stopping instead of looping",
                resource=self.resource,
                cursor=token,
            )
        self._seen.add(token)
        return {pagination.param: token}
