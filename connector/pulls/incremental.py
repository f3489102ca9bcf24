"""The incremental filter: which records of a listing are new since the stored checkpoint.

A :class:`Checkpoint` is the largest cursor value written so far plus the ids seen inside
the lookback window below it. The next pull asks for (or keeps) records whose cursor is at
or above ``cursor - lookback`` and drops those whose id it has already seen, so late
arrivals inside the window are caught and nothing at the boundary is written twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ..errors import ConfigurationError
from ..selectors import Selector, convert_value
from ..types import JSON
from .spec import Incremental

__all__ = ["Checkpoint", "CursorFilter", "Verdict"]


@dataclass
class Checkpoint:
    """What a stream has written: ``cursor`` (stored form) and ``seen`` ids → their cursor."""

    cursor: JSON = None
    seen: dict[str, JSON] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"cursor": self.cursor, "seen": self.seen}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """The checkpoint stored as ``text``; a damaged one is a ConfigurationError."""
        try:
            data = json.loads(text)
            return cls(cursor=data.get("cursor"), seen=dict(data.get("seen") or {}))
        except (ValueError, TypeError, AttributeError):
            raise ConfigurationError(
                "the stored pull checkpoint is damaged; --full-refresh starts again",
                setting="--state",
            ) from None


class Verdict(Enum):
    """What to do with one record."""

    WRITE = "write"
    SKIP = "skip"
    STOP = "stop"


def _stored(value: Any) -> JSON:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


class CursorFilter:
    """Decides record by record; :meth:`checkpoint` is the state to store once written."""

    def __init__(
        self,
        spec: Incremental,
        cursor: Selector,
        id_selector: Selector,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.spec = spec
        self.cursor = cursor
        """The compiled ``cursor`` selector."""
        self.id_selector = id_selector
        self.previous = checkpoint or Checkpoint()
        self._max: Any = self._native(self.previous.cursor)
        self._since: Any = self._window_start(self._max)
        self._seen: dict[str, Any] = {
            key: self._native(value) for key, value in self.previous.seen.items()
        }
        self._hold: Any = None
        self.written = 0
        self.skipped = 0

    def _native(self, value: JSON) -> Any:
        if value is None:
            return None
        converted = convert_value(value, self.spec.type)
        if self.spec.type == "DateTime" and not isinstance(converted, datetime):
            return None
        if self.spec.type in ("Integer", "Number") and (
            isinstance(converted, bool) or not isinstance(converted, int | float)
        ):
            return None
        return converted

    def _window_start(self, value: Any) -> Any:
        if value is None or not self.spec.lookback:
            return value
        if isinstance(value, datetime):
            return value - timedelta(seconds=self.spec.lookback)
        if isinstance(value, int | float):
            return value - self.spec.lookback
        return value

    @property
    def since(self) -> JSON:
        """The lower bound to ask the API for (stored form), or None on a first pull."""
        return _stored(self._since)

    def judge(self, record: JSON, raw: JSON, *, remember: bool = True) -> Verdict:
        """``record`` is what the cursor reads (shaped), ``raw`` what the id reads; with
        ``remember=False`` a new record is let through without counting as seen (see
        :meth:`defer`)."""
        value = self._native(self.cursor.select(record))
        key = self.id_selector.select(raw)
        ident = None if key is None else json.dumps(key, sort_keys=True)
        if value is None:
            # No usable cursor: it cannot be placed, so it is written (never lost).
            self.written += 1
            return Verdict.WRITE
        if self._since is not None and value < self._since:
            self.skipped += 1
            return Verdict.STOP if self.spec.order == "desc" else Verdict.SKIP
        if ident is not None and ident in self._seen:
            self.skipped += 1
            return Verdict.SKIP
        self.written += 1
        if not remember:
            self.defer(record)
            return Verdict.WRITE
        if ident is not None:
            self._seen[ident] = value
        if self._max is None or value > self._max:
            self._max = value
        return Verdict.WRITE

    def defer(self, record: JSON) -> None:
        """A record to look at again next time (a batch that has no results yet): the
        checkpoint stays below it."""
        value = self._native(self.cursor.select(record))
        if value is None or (self._since is not None and value < self._since):
            return
        if self._hold is None or value < self._hold:
            self._hold = value

    def checkpoint(self) -> Checkpoint:
        """The new state: the largest cursor written (or the oldest deferred record's, when
        lower) and the ids still inside the lookback window below it."""
        top = self._max
        if self._hold is not None and (top is None or self._hold < top):
            top = self._hold
        floor = self._window_start(top)
        seen = {
            key: _stored(value)
            for key, value in self._seen.items()
            if floor is None or value >= floor
        }
        return Checkpoint(cursor=_stored(top), seen=seen)
