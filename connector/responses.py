"""Reading responses, with no I/O: an ``httpx.Response`` (already read) becomes records, a
typed :class:`~connector.errors.UpstreamError`, or the parameters of the next page."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import httpx

from .conventions import GENERIC, Rules
from .definitions import Field, Operation, Resource
from .errors import ResponseError, UpstreamError, error_class_for
from .selectors import Selector, convert_value
from .types import JSON

__all__ = [
    "error_from_response",
    "extract_record",
    "parse_json",
    "record_shape",
    "select_items",
    "shape_records",
]


def error_from_response(
    response: httpx.Response,
    resource: str | None,
    operation: str | None,
    conventions: Rules = GENERIC,
) -> UpstreamError:
    """The typed error for an error status, its message and type read by the API's
    ``conventions`` (the definition's ``service.conventions``).

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
    if isinstance(body, dict | list):
        error_type = conventions.error_type(body)
        message = conventions.error_message(body) or message
    cls = error_class_for(
        response.status_code,
        error_type,
        overloaded_status=conventions.overloaded_status,
        classes=conventions.error_classes,
    )
    return cls(
        message,
        status=response.status_code,
        error_type=error_type,
        request_id=conventions.request_id(response.headers),
        resource=resource,
        operation=operation,
        body=body,
    )


def _integer(text: str) -> int | str:
    """A JSON integer; one longer than Python converts (4,300 digits) stays its digit text, so
    one huge number cannot make a whole answer unreadable."""
    return int(text) if len(text) <= 4000 else text


def parse_json(
    response: httpx.Response, resource: str, operation: str, conventions: Rules = GENERIC
) -> JSON:
    """The JSON body of a successful response, or a ResponseError saying what came instead."""
    if not response.content:
        return None
    try:
        try:
            return json.loads(response.content)
        except ValueError:
            # Only a failed parse pays for the per-integer hook (it leaves the C fast path):
            # an over-long integer is kept as its digit text, anything else fails again below.
            return json.loads(response.content, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise ResponseError(
            f"{resource}.{operation}: expected a JSON body, got {response.headers.get('content-type', 'no content type')} ({exc})",
            resource=resource,
            operation=operation,
            request_id=conventions.request_id(response.headers),
        ) from None


def extract_record(fields: Sequence[Field], document: JSON) -> dict[str, JSON]:
    """The record of ``document`` by ad-hoc ``fields`` (not a loaded definition's: a
    resource's are compiled at load, :func:`record_shape`): each field's typed value."""
    return {f.name: convert_value(Selector(f.selector).select(document), f.type) for f in fields}


def record_shape(resource: Resource) -> Callable[[JSON], dict[str, JSON]]:
    """The function that shapes one item into ``resource``'s record (its ``fields``), as
    compiled at load."""
    return resource.compiled.shape


def select_items(operation: Operation, payload: JSON, conventions: Rules = GENERIC) -> list[JSON]:
    """The item list of a list response: the operation's ``records`` selector, else the
    conventions' default (``data``, else the payload itself when it is a list)."""
    selector = operation.compiled.records
    items = (
        selector.select(payload) if selector is not None else conventions.default_records(payload)
    )
    if items is None:
        return []
    return items if isinstance(items, list) else [items]


def shape_records(
    resource: Resource,
    operation: Operation,
    payload: JSON,
    *,
    raw: bool,
    conventions: Rules = GENERIC,
) -> JSON:
    """What ``call`` returns: raw JSON, a list of records (list operations) or one record."""
    if raw:
        return payload
    response_map = operation.compiled.response_map
    if response_map is not None:
        return {name: selector.select(payload) for name, selector in response_map.items()}
    if not resource.fields or not isinstance(payload, dict | list):
        return payload
    if operation.pagination is not None or operation.records is not None:
        items = select_items(operation, payload, conventions)
        shape = record_shape(resource)
        return [shape(item) for item in items]
    if conventions.is_receipt(payload, operation.method):
        return payload  # a deletion receipt has none of the record's fields
    record = record_shape(resource)(payload)
    if isinstance(payload, dict) and payload and all(v is None for v in record.values()):
        # Not a record of this resource at all (count_tokens answers {"input_tokens": N}):
        # shaping it would return only nulls and lose the answer, so it is returned as is.
        return payload
    return record
