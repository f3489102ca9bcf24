"""Triggers: a resource's webhooks compiled into the rules the poller applies to each record.

A :class:`Rule` is one webhook with its trigger settled (``docs/emitter.md``, Triggers):

``created``
    an id appears that the snapshot does not hold (declared, or by convention for events
    named ``*.created``);
``deleted``
    an id held by the snapshot is missing from a complete listing and a read confirms 404
    (declared, or by convention for ``*.deleted``);
``transition``
    the selected field reaches ``to`` (and the optional ``where`` condition holds at that
    moment). Without a declared trigger, an event ``<handle>.<V>`` is a transition to ``V`` of
    any String field of the resource.

``feed``
    an item the API's own change feed lists after the stored cursor (:mod:`connector.feeds`;
    compiled into a :class:`Feed`, polled by :mod:`connector.emitter.feed_poll`).

A transition is reached once per record and for ever: the poller keeps the set of reached
transitions in the snapshot, so a stale read that shows an older state never undoes one and
a flapping value never fires twice. A record whose transitions are all reached is
*terminal*: nothing about it can fire any more except its deletion.

The event's ``timestamp`` is the API's own time where the record has one: the trigger's
declared ``time`` selector (an RFC 3339 string or epoch seconds), else by convention
``<to>_at`` (``ended_at``) then ``updated_at`` for a transition, ``created_at`` for a
creation; only a deletion (and a record without those fields) uses the time the emitter
observed it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from connector.definitions import Condition, Resource, Webhook
from connector.feeds import feed_handle, feed_spec, selector_spec
from connector.responses import record_shape
from connector.selectors import Selector, compile_selector
from connector.types import JSON

__all__ = [
    "Feed",
    "Rule",
    "compile_feeds",
    "compile_rules",
    "deleted_data",
    "is_pollable",
    "reached_transitions",
    "record_id",
    "transition_events",
]

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


def _holds(condition: Condition, selector: Selector, record: JSON) -> bool:
    try:
        return bool(_COMPARE[condition.op](selector.select(record), condition.value))
    except TypeError:
        # None > 0 and friends: a value that cannot be compared does not satisfy the condition.
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


@dataclass(frozen=True)
class Rule:
    """One webhook of a resource, ready to test records against.

    ``selectors`` are the watched fields of a transition (one when declared, every String
    field by convention, none meaning "any top-level string value"); ``where`` is the
    optional condition with its compiled selector.
    """

    webhook: Webhook
    kind: RuleKind
    selectors: tuple[Selector, ...] = ()
    to: JSON = None
    where: tuple[Condition, Selector] | None = None
    time: Selector | None = None
    """The trigger's declared ``time`` selector: where the record keeps the event's time."""

    @property
    def event(self) -> str:
        """The event type (``message_batches.ended``)."""
        return self.webhook.event

    @property
    def path(self) -> str:
        """The webhook's path, joined to each subscription URL."""
        return self.webhook.path

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
        return self.where is None or _holds(self.where[0], self.where[1], record)

    def data(self, record: JSON) -> dict[str, JSON]:
        """The event's ``data``: the webhook's payload fields, typed (datetimes stay datetimes
        here and become RFC 3339 strings in the frozen body)."""
        return record_shape(self.webhook)(record)

    def stored_data(self, record: JSON) -> dict[str, JSON]:
        """:meth:`data` with datetimes as RFC 3339 strings, fit to keep in a snapshot."""
        return {k: _jsonable(v) for k, v in self.data(record).items()}

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
        keys = (
            ["created_at"] if self.kind in ("created", "feed") else [f"{self.to}_at", "updated_at"]
        )
        for key in keys:
            found = _parse_time(record.get(key))
            if found is not None:
                return found
        return observed


def _convention(webhook: Webhook, resource: Resource) -> Rule:
    suffix = webhook.event.rsplit(".", 1)[-1]
    if suffix in ("created", "deleted"):
        return Rule(webhook, suffix)  # type: ignore[arg-type]
    strings = tuple(compile_selector(f.selector) for f in resource.fields if f.type == "String")
    return Rule(webhook, "transition", strings, suffix)


def compile_rules(resource: Resource) -> list[Rule]:
    """The rules of every webhook of ``resource``, declared triggers first, else conventions."""
    rules = []
    for webhook in resource.webhooks:
        trigger = webhook.trigger
        if feed_spec(webhook) is not None:
            continue  # a feed (compile_feeds)
        if trigger is None:
            rules.append(_convention(webhook, resource))
            continue
        where = (
            (trigger.where, compile_selector(trigger.where.selector))
            if trigger.where is not None
            else None
        )
        time = compile_selector(trigger.time) if trigger.time is not None else None
        if trigger.type == "transition":
            selectors: tuple[Selector, ...] = ()
            if trigger.selector is not None:
                selectors = (compile_selector(trigger.selector),)
            rules.append(Rule(webhook, "transition", selectors, trigger.to, where, time))
        else:
            rules.append(Rule(webhook, trigger.type, where=where, time=time))
    return rules


@dataclass(frozen=True)
class Feed:
    """A webhook fed by the API's change cursor, compiled: the hidden resource ``handle``
    whose ``seed``/``list``/``enrich`` operations are its calls, its selectors, its page
    guard and its filters (Corteza's ``filter`` and the trigger's ``where``, all must hold).
    ``rule`` makes the events (payload, time, id marker ``feed``)."""

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
    """Where the feed is declared, for messages (``feeds.received (resources.mail ... poll)``)."""
    filters: tuple[tuple[Condition, Selector], ...] = ()

    @property
    def event(self) -> str:
        """The event type."""
        return self.rule.event

    def passes(self, item: JSON) -> bool:
        """Whether the item passes every filter."""
        return all(_holds(c, s, item) for c, s in self.filters)


def _items_selector(spec: object) -> Selector:
    steps = selector_spec(spec)  # type: ignore[arg-type]
    if isinstance(steps, list) and steps and steps[-1] == "*":
        steps = steps[:-1]  # `changes.*` names the list itself
    return compile_selector(steps)


def compile_feeds(resource: Resource) -> list[Feed]:
    """The feeds of ``resource``'s webhooks (:mod:`connector.feeds`), in webhook order."""
    feeds = []
    for index, webhook in enumerate(resource.webhooks):
        found = feed_spec(webhook)
        if found is None:
            continue
        spec, under = found
        trigger = webhook.trigger
        filters: list[tuple[Condition, Selector]] = []
        if spec.filter is not None:
            flt = spec.filter
            op = "contains" if flt.contains is not None else "=="
            value = flt.contains if flt.contains is not None else flt.equals
            field = selector_spec(flt.field)
            filters.append((Condition(selector=field, op=op, value=value), compile_selector(field)))
        if trigger is not None and trigger.where is not None:
            filters.append((trigger.where, compile_selector(trigger.where.selector)))
        time = compile_selector(trigger.time) if trigger is not None and trigger.time else None
        cursor = compile_selector(selector_spec(spec.cursor))
        seed_cursor = spec.seed.cursor if spec.seed is not None else None
        feeds.append(
            Feed(
                rule=Rule(webhook, "feed", time=time),
                handle=feed_handle(resource.handle, index),
                items=_items_selector(spec.items),
                cursor=cursor,
                seed_cursor=(
                    compile_selector(selector_spec(seed_cursor)) if seed_cursor else cursor
                ),
                seeds=spec.seed is not None,
                page_token=(
                    compile_selector(selector_spec(spec.page.token)) if spec.page else None
                ),
                enriches=spec.enrich is not None,
                enrich_operation=spec.enrich.operation if spec.enrich is not None else None,
                max_pages=spec.max_pages,
                location=f"feed {webhook.event} ({resource.handle} webhook {index}, "
                f"{'trigger.feed' if under == 'trigger' else 'poll'})",
                filters=tuple(filters),
            )
        )
    return feeds


def is_pollable(resource: Resource) -> bool:
    """Whether the poller watches ``resource``: it has a feed, or webhooks and a ``list``
    operation."""
    if any(feed_spec(w) is not None for w in resource.webhooks):
        return True
    return bool(resource.webhooks) and "list" in resource.operations


def record_id(selector: Selector, record: JSON) -> str | None:
    """The record's id as a string (ids are opaque), or None when it has none."""
    value = selector.select(record)
    if value is None or isinstance(value, dict | list) or value == "":
        return None
    return str(value)


def reached_transitions(rules: list[Rule], record: JSON) -> set[str]:
    """The events of the transition rules whose watched field holds ``to`` in ``record``."""
    return {r.event for r in rules if r.kind == "transition" and r.reached(record)}


def transition_events(rules: list[Rule]) -> frozenset[str]:
    """The events of every transition rule."""
    return frozenset(r.event for r in rules if r.kind == "transition")


def deleted_data(rules: list[Rule], record: JSON) -> dict[str, Mapping[str, JSON]]:
    """What each later ``*.deleted`` event will carry (kept in the snapshot, since the record
    itself is gone by then), by event type."""
    return {r.event: r.stored_data(record) for r in rules if r.kind == "deleted"}
