"""Triggers: the rules the poller applies to each record, one per webhook of a resource.

A :class:`~connector.trigger_rules.Rule` (compiled at load) is one webhook with its trigger
settled (``docs/emitter.md``, Triggers):

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

from collections.abc import Mapping
from dataclasses import dataclass

from connector.definitions import Resource
from connector.feed_compiler import feed_spec
from connector.feeds import feed_handle, selector_spec
from connector.selectors import Selector, compile_selector
from connector.trigger_rules import CompiledCondition, Rule
from connector.types import JSON

__all__ = [
    "Feed",
    "Rule",
    "compile_feeds",
    "deleted_data",
    "is_pollable",
    "reached_transitions",
    "record_id",
    "resource_rules",
    "transition_events",
]


def resource_rules(resource: Resource) -> list[Rule]:
    """The rules of every webhook of ``resource`` (declared triggers first, else conventions),
    as compiled at load (:mod:`connector.trigger_rules`)."""
    return list(resource.compiled.rules)


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
    filters: tuple[CompiledCondition, ...] = ()

    @property
    def event(self) -> str:
        """The event type."""
        return self.rule.event

    def passes(self, item: JSON) -> bool:
        """Whether the item passes every filter."""
        return all(condition.holds(item) for condition in self.filters)


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
        filters: list[CompiledCondition] = []
        if spec.filter is not None:
            flt = spec.filter
            op = "contains" if flt.contains is not None else "=="
            value = flt.contains if flt.contains is not None else flt.equals
            field = selector_spec(flt.field)
            filters.append(CompiledCondition(op, value, compile_selector(field)))
        rule = resource.compiled.webhooks[index].rule  # payload, time, marker: compiled at load
        if rule.where is not None:
            filters.append(rule.where)
        cursor = compile_selector(selector_spec(spec.cursor))
        seed_cursor = spec.seed.cursor if spec.seed is not None else None
        feeds.append(
            Feed(
                rule=rule,
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
