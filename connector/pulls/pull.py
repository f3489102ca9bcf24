"""One data pull: a list operation's records, optionally only the new ones, optionally fanned
out to a child, with the checkpoint to store once the output is safely written.

::

    pull = Pull(api, "message_batches", incremental=True, store=PullStateStore("state.db"))
    write(pull.records())        # output first ...
    pull.commit()                # ... then the cursor: a crash in between re-pulls
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from ..errors import InputError, InputProblem
from ..listing import Listing, page_size_parameter
from ..responses import record_shape
from ..trigger_rules import CompiledCondition
from ..types import JSON
from .fanout import DEFAULT_CONCURRENCY, fan_out, find_child
from .incremental import Checkpoint, CursorFilter, Verdict
from .spec import Child
from .state import PullStateStore, stream_key

if TYPE_CHECKING:
    from ..client import Connector

__all__ = ["PAGE_CAP", "Pull"]

PAGE_CAP = 100_000
"""Pages a listing reads at most unless ``max_pages`` says otherwise (one that never ends)."""


class Pull:
    """A pull of ``handle.operation``; iterate :meth:`records`, then :meth:`commit`.

    ``incremental`` needs the operation's ``incremental`` block and either a ``store`` (the
    checkpoint is loaded from and saved to it) or a ``checkpoint`` given by the caller (dlt
    keeps its own); ``full_refresh`` ignores the stored checkpoint. ``with_`` names a child
    of the resource: the records are then the children of each new parent. ``hold_for``
    (dlt's parent resource) keeps the checkpoint below parents that a child's ``where``
    refuses, so they are read again until they have children.
    """

    def __init__(
        self,
        api: Connector,
        handle: str,
        operation: str = "list",
        params: Mapping[str, JSON] | None = None,
        *,
        raw: bool = False,
        max_items: int | None = None,
        incremental: bool = False,
        store: PullStateStore | None = None,
        checkpoint: Checkpoint | None = None,
        full_refresh: bool = False,
        with_: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        hold_for: Child | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.max_pages = max_pages
        self.listing: Listing | None = None
        self.api = api
        self.handle = handle
        self.operation = operation
        self.params = dict(params or {})
        self.raw = raw
        self.max_items = max_items
        self.store = store
        self.concurrency = concurrency
        self.resource = api.definition.resource(handle)
        op = self.resource.operation(operation)
        self.child = find_child(self.resource, with_) if with_ else None
        holder = self.child or hold_for
        self.hold: CompiledCondition | None = holder.compiled.where if holder is not None else None
        self.stream = stream_key(handle, operation, params)
        self.filter: CursorFilter | None = None
        if incremental:
            if op.incremental is None:
                raise InputError(
                    [
                        InputProblem(
                            "--incremental",
                            f"{handle}.{operation} declares no 'incremental' block; add one "
                            "(cursor, type, order) to the operation in the definition",
                        )
                    ]
                )
            if max_items is not None and op.incremental.order != "asc":
                # Newest first (or unsorted), the first N are not all that is new: the cursor
                # would jump past records never written.
                raise InputError(
                    [
                        InputProblem(
                            "--max-items",
                            f"{handle}.{operation} is not listed oldest first, so an incremental "
                            "pull cannot stop after N records without skipping some; drop "
                            "--max-items",
                            max_items,
                        )
                    ]
                )
            if store is not None and full_refresh:
                store.reset(self.stream)
            stored = checkpoint
            if stored is None and store is not None and not full_refresh:
                stored = store.load(self.stream)
            cursor = op.compiled.cursor
            assert cursor is not None  # compiled with the incremental block
            self.filter = CursorFilter(op.incremental, cursor, self.resource.compiled.id, stored)
            if op.incremental.param is not None and self.filter.since is not None:
                self.params[op.incremental.param] = self.filter.since

    def parents(self) -> Iterator[tuple[JSON, JSON]]:
        """(raw item, shaped record) of each new record of the listing itself."""
        fields = self.resource.fields
        shape = record_shape(self.resource)
        # The largest page the API serves, unless the caller set the page size itself; and a
        # page cap that is reported, never taken for the end of the listing.
        op = self.resource.operation(self.operation)
        size_param = page_size_parameter(op)
        largest = op.paginator.max_page_size if op.paginator is not None else None
        if largest is not None and self.max_items is not None and 0 < self.max_items < largest:
            largest = self.max_items  # no more than asked for
        listing = self.api.listing(
            self.handle,
            self.operation,
            self.params,
            raw=True,
            max_items=self.max_items,
            max_pages=self.max_pages or PAGE_CAP,
            page_size=None if size_param in self.params else largest,
        )
        self.listing = listing
        items = iter(listing)
        try:
            for item in items:
                record = shape(item) if fields and isinstance(item, dict) else item
                if self.filter is not None:
                    # A parent without children yet (a batch still processing) is looked at
                    # again next time: the checkpoint stays below it.
                    held = self.hold is not None and not self.hold.holds(record)
                    verdict = self.filter.judge(record, item, remember=not held)
                    if verdict is Verdict.STOP:
                        return  # sorted newest first: the rest is older still
                    if verdict is Verdict.SKIP:
                        continue
                yield item, record
        finally:
            items.close()  # type: ignore[attr-defined]

    def records(self) -> Iterator[JSON]:
        """What the pull writes: the records (raw or shaped), or the children of each."""
        if self.child is None:
            for item, record in self.parents():
                yield item if self.raw else record
            return
        shaped = (record for _, record in self.parents())
        yield from fan_out(
            self.api,
            self.handle,
            self.child,
            shaped,
            concurrency=self.concurrency,
            raw=self.raw,
        )

    def columns(self) -> list[str] | None:
        """The column names of the records when the definition knows them (CSV, Parquet)."""
        if self.raw:
            return None
        if self.child is None:
            return [f.name for f in self.resource.fields] or None
        target = self.api.definition.resource(self.child.handle or self.handle)
        operation = target.operation(self.child.operation)
        if operation.response_format == "jsonl" or not target.fields:
            return None
        return [self.child.parent_key, *(f.name for f in target.fields)]

    def checkpoint(self) -> Checkpoint | None:
        """The state to store after the records were written (None: not incremental)."""
        return None if self.filter is None else self.filter.checkpoint()

    @property
    def truncated(self) -> bool:
        """Whether a page cap stopped the listing with pages left: the pull is partial, and
        :meth:`commit` then stores no checkpoint (the unread pages would be skipped for ever)."""
        return self.listing is not None and self.listing.truncated

    def commit(self) -> None:
        """Store the new checkpoint: call only once the output is safely written."""
        if self.truncated:
            return
        checkpoint = self.checkpoint()
        if checkpoint is not None and self.store is not None:
            self.store.save(self.stream, checkpoint)
