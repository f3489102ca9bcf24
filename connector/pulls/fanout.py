"""Parent → child fan-out: each parent's child records, streamed, with bounded concurrency.

Up to ``concurrency`` parents have their children fetched at once, each by a worker thread
through the same client (a :class:`ChildSource`: the same retry policy), into a
small bounded queue; the caller reads them parent after parent. Memory stays bounded by
``concurrency`` queues however many children a parent has, and a caller that stops early
stops the workers.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from ..errors import InputError, InputProblem
from ..responses import record_shape
from ..types import JSON
from .spec import Child

if TYPE_CHECKING:
    from ..definitions import Definition, Resource

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ChildSource",
    "child_records",
    "fan_out",
    "find_child",
    "iterate_children",
]

DEFAULT_CONCURRENCY = 4
_QUEUE_SIZE = 512
_DONE = object()


class ChildSource(Protocol):
    """What the fan-out asks of a client (a :class:`~connector.client.Connector` is one): the
    definition, and calls, listings and JSONL streams of its operations."""

    @property
    def definition(self) -> Definition: ...

    def call(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None, *, raw: bool
    ) -> JSON: ...

    def iterate(
        self,
        handle: str,
        operation: str,
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool,
        max_items: int | None = None,
    ) -> Iterator[JSON]: ...

    def stream_jsonl(
        self, handle: str, operation: str, params: Mapping[str, JSON] | None = None
    ) -> Iterator[JSON]: ...


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def find_child(resource: Resource, name: str) -> Child:
    """The resource's child called ``name``, or an InputError listing those it declares."""
    for child in resource.children:
        if child.name == name:
            return child
    known = ", ".join(c.name for c in resource.children) or "none (add 'children' to the resource)"
    raise InputError(
        [InputProblem("--with", f"{resource.handle} has no child {name!r} (known: {known})", name)]
    )


def child_records(
    api: ChildSource, parent_handle: str, child: Child, parent: JSON, *, raw: bool = False
) -> Iterator[JSON]:
    """One parent's child records, each carrying the parent's id under ``parentKey``."""
    handle = child.handle or parent_handle
    resource, operation = api.definition.resource(handle), None
    operation = resource.operation(child.operation)
    params = child.child_params(parent)
    parent_id = params[next(iter(params))] if params else None
    records: Iterable[JSON]
    if operation.response_format == "jsonl":
        records = api.stream_jsonl(handle, child.operation, params)
    elif operation.pagination is not None or operation.records is not None:
        records = api.iterate(handle, child.operation, params, raw=raw)
    else:
        answer = api.call(handle, child.operation, params, raw=raw)
        records = answer if isinstance(answer, list) else [answer]
    for record in records:
        if isinstance(record, dict):
            yield {child.parent_key: parent_id, **record}
        else:
            yield {child.parent_key: parent_id, "value": record}


def _put(out: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(
    fetch: Callable[[], Iterator[JSON]], out: queue.Queue[object], stop: threading.Event
) -> None:
    try:
        for item in fetch():
            if not _put(out, item, stop):
                return
    except BaseException as exc:  # handed to the reader, who raises it
        _put(out, _Failure(exc), stop)
        return
    _put(out, _DONE, stop)


def _drain(out: queue.Queue[object]) -> Iterator[JSON]:
    while True:
        item = out.get()
        if item is _DONE:
            return
        if isinstance(item, _Failure):
            raise item.error
        yield item


def fan_out(
    api: ChildSource,
    parent_handle: str,
    child: Child,
    parents: Iterable[JSON],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    raw: bool = False,
) -> Iterator[JSON]:
    """The children of every parent that passes the child's ``where``, parent by parent."""
    if concurrency < 1:
        raise InputError([InputProblem("--concurrency", "must be at least 1", concurrency)])
    stop = threading.Event()
    window: deque[tuple[Future[None], queue.Queue[object]]] = deque()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="connector-fan-out")
    try:
        for parent in parents:
            if child.compiled.where is not None and not child.compiled.where.holds(parent):
                continue
            out: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_SIZE)

            def fetch(parent: JSON = parent) -> Iterator[JSON]:
                return child_records(api, parent_handle, child, parent, raw=raw)

            window.append((pool.submit(_produce, fetch, out, stop), out))
            while len(window) >= concurrency:
                yield from _drain(window.popleft()[1])
        while window:
            yield from _drain(window.popleft()[1])
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def iterate_children(
    api: ChildSource,
    handle: str,
    operation: str,
    params: Mapping[str, JSON] | None,
    with_: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    raw: bool = False,
    max_items: int | None = None,
) -> Iterator[JSON]:
    """What ``Connector.iterate(..., with_=name)`` yields: the children of every listed parent."""
    resource = api.definition.resource(handle)
    child = find_child(resource, with_)
    fields = resource.fields
    shape = record_shape(resource)

    def parents() -> Iterator[JSON]:
        for item in api.iterate(handle, operation, params, raw=True, max_items=max_items):
            yield shape(item) if fields and isinstance(item, dict) else item

    yield from fan_out(api, handle, child, parents(), concurrency=concurrency, raw=raw)
