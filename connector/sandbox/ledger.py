"""Records listed as the API lists them: newest first, paged by ``after_id`` / ``before_id``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .wire import api_error

__all__ = ["Ledger", "page_of"]

T = TypeVar("T")


class Ledger(Generic[T]):
    """Records kept in creation order and listed newest first, with id cursors.

    A page costs O(page), not O(history): keys sit in a creation-ordered list with their
    positions indexed, so a cursor is found in O(1) and a page walks only its own rows (plus
    any removed slots it skips). Removal leaves a tombstone; the list is compacted once
    tombstones outnumber live records.
    """

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._order: list[str | None] = []
        self._position: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: str, item: T) -> T:
        """Store ``item`` under ``key`` (the newest record)."""
        if key in self._position:
            self._order[self._position.pop(key)] = None
        self._items[key] = item
        self._position[key] = len(self._order)
        self._order.append(key)
        return item

    def get(self, key: str) -> T | None:
        """The record with id ``key``, or ``None``."""
        return self._items.get(key)

    def remove(self, key: str) -> T | None:
        """Forget a record; return it (``None`` if it was unknown)."""
        item = self._items.pop(key, None)
        position = self._position.pop(key, None)
        if position is not None:
            self._order[position] = None
            if len(self._order) > 64 and len(self._order) > 2 * len(self._items):
                self._compact()
        return item

    def _compact(self) -> None:
        self._order = [key for key in self._order if key is not None]
        self._position = {key: i for i, key in enumerate(self._order) if key is not None}

    def newest_first(self) -> list[tuple[str, T]]:
        """Every record, newest first."""
        return list(reversed(self._items.items()))

    def page(
        self,
        *,
        limit: int,
        after_id: str | None,
        before_id: str | None,
        keep: Callable[[T], bool] | None = None,
    ) -> tuple[list[tuple[str, T]], bool]:
        """One page in list order (newest first) and whether more lie in that direction.

        ``after_id`` pages towards older records, ``before_id`` towards newer ones; ``keep``
        filters records (a filtered-out cursor is still a valid position)."""
        cursor = after_id or before_id
        if cursor:
            position = self._position.get(cursor)
            if position is None:
                which = "after_id" if after_id else "before_id"
                raise api_error(400, f"{which}: no object with id {cursor!r}")
        else:
            position = len(self._order)
        older = not (before_id and not after_id)
        step = -1 if older else 1
        index = position + step
        rows: list[tuple[str, T]] = []
        has_more = False
        while 0 <= index < len(self._order):
            key = self._order[index]
            index += step
            if key is None:
                continue
            item = self._items[key]
            if keep is not None and not keep(item):
                continue
            if len(rows) == limit:
                has_more = True
                break
            rows.append((key, item))
        if not older:
            rows.reverse()
        return rows, has_more


def page_of(
    rows: Sequence[tuple[str, T]], *, limit: int, after_id: str | None, before_id: str | None
) -> tuple[list[tuple[str, T]], bool]:
    """One page of ``rows`` (already in list order) and whether more lie in that direction
    (for short fixed lists such as the model catalogue; a :class:`Ledger` pages itself)."""
    if after_id or before_id:
        cursor = after_id or before_id
        position = next((i for i, (key, _) in enumerate(rows) if key == cursor), None)
        if position is None:
            which = "after_id" if after_id else "before_id"
            raise api_error(400, f"{which}: no object with id {cursor!r}")
        if after_id:
            chunk = rows[position + 1 : position + 1 + limit]
            return list(chunk), position + 1 + limit < len(rows)
        start = max(0, position - limit)
        return list(rows[start:position]), start > 0
    return list(rows[:limit]), limit < len(rows)
