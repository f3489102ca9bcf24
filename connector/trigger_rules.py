"""Trigger rules: one webhook of a resource with its trigger settled, compiled at load.

The compiler (:mod:`connector.compiler`) builds one :class:`Rule` per webhook, declared
trigger first, else the conventions (``docs/emitter.md``, Triggers); the emitter's poller and
write-through recorder only apply them (:mod:`connector.emitter.triggers`). A rule holds what
it needs compiled (its selectors and the payload's shaping function), not the webhook model,
so nothing about it is compiled again at run time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from .selectors import Selector
from .types import JSON

__all__ = ["CompiledCondition", "Feed", "Rule", "RuleKind"]

RuleKind = Literal["created", "deleted", "transition", "feed"]

_COMPARE: dict[str, Callable[[JSON, JSON], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "contains": lambda found, wanted: (
        found == wanted or (isinstance(found, list) and wanted in found)
    ),
}


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A trigger's ``where``: the selected value compared with ``value`` by ``op``."""

    op: str
    value: JSON
    selector: Selector

    def holds(self, record: JSON) -> bool:
        """Whether the condition holds for ``record`` (an incomparable value does not)."""
        try:
            return bool(_COMPARE[self.op](self.selector.select(record), self.value))
        except TypeError:
            # None > 0 and friends: a value that cannot be compared does not satisfy it.
            return False


def _parse_time(value: JSON) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _jsonable(value: JSON) -> JSON:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


@dataclass(frozen=True, slots=True)
class Rule:
    """One webhook of a resource, ready to test records against.

    ``selectors`` are the watched fields of a transition (one when declared, every String
    field by convention, none meaning "any top-level string value"); ``where`` is the
    optional condition with its compiled selector; ``shape`` makes the event's ``data`` from
    a record (the webhook's payload fields, compiled), ``fields`` names them.
    """

    event: str
    """The event type (``message_batches.ended``)."""
    path: str
    """The webhook's path, joined to each subscription URL."""
    kind: RuleKind
    shape: Callable[[JSON], dict[str, JSON]]
    fields: tuple[str, ...] = ()
    selectors: tuple[Selector, ...] = ()
    to: JSON = None
    where: CompiledCondition | None = None
    time: Selector | None = None
    """The trigger's declared ``time`` selector: where the record keeps the event's time."""

    @property
    def marker(self) -> str:
        """Names the transition in the event id: ``created``, ``deleted`` or ``to=<V>``."""
        return self.kind if self.kind != "transition" else f"to={self.to}"

    def reached(self, record: JSON) -> bool:
        """Whether the record's watched field holds ``to`` (transitions only)."""
        if self.kind != "transition":
            return False
        if self.selectors:
            return any(s.select(record) == self.to for s in self.selectors)
        return isinstance(record, dict) and any(v == self.to for v in record.values())

    def condition_holds(self, record: JSON) -> bool:
        """Whether the ``where`` condition (if any) holds for the record."""
        return self.where is None or self.where.holds(record)

    def data(self, record: JSON) -> dict[str, JSON]:
        """The event's ``data``: the webhook's payload fields, typed (datetimes stay datetimes
        here and become RFC 3339 strings in the frozen body)."""
        return self.shape(record)

    def stored_data(self, record: JSON) -> dict[str, JSON]:
        """:meth:`data` with datetimes as RFC 3339 strings, fit to keep in a snapshot."""
        return {k: _jsonable(v) for k, v in self.data(record).items()}

    def empty_data(self) -> Mapping[str, JSON]:
        """The payload with every field null (a deletion whose record was never seen)."""
        return dict.fromkeys(self.fields)

    def timestamp(self, record: JSON, observed: float) -> datetime | float:
        """The API's own time of the change, else ``observed`` (epoch seconds)."""
        if self.kind == "deleted" or not isinstance(record, dict):
            return observed
        if self.time is not None:
            declared = self.time.select(record)
            found = _parse_time(declared)
            if (
                found is None
                and isinstance(declared, int | float)
                and not isinstance(declared, bool)
            ):
                return float(declared)  # epoch seconds (Stripe's `created`)
            return found if found is not None else observed
        keys = ["created_at"] if self.kind == "created" else [f"{self.to}_at", "updated_at"]
        for key in keys:
            found = _parse_time(record.get(key))
            if found is not None:
                return found
        return observed


@dataclass(frozen=True, slots=True)
class Feed:
    """A webhook fed by the API's change cursor (:mod:`connector.feeds`), compiled at load: the
    hidden resource ``handle`` whose ``seed``/``list``/``enrich`` operations are its calls, its
    selectors, its page guard and its filters (Corteza's ``filter`` and the trigger's
    ``where``, all must hold). ``rule`` makes the events (payload, time, id marker ``feed``)."""

    rule: Rule
    handle: str
    items: Selector
    cursor: Selector
    seed_cursor: Selector
    seeds: bool
    page_token: Selector | None
    enriches: bool
    enrich_operation: str | None
    """An ``enrich`` that calls this operation of the resource (else the feed's own call)."""
    max_pages: int
    location: str
    """Where the feed is declared, for messages (``feed mail.received (mail webhook 0, poll)``)."""
    filters: tuple[CompiledCondition, ...] = ()

    @property
    def event(self) -> str:
        """The event type."""
        return self.rule.event

    def passes(self, item: JSON) -> bool:
        """Whether the item passes every filter."""
        return all(condition.holds(item) for condition in self.filters)
