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
    compiled at load into a :class:`~connector.trigger_rules.Feed`, polled by
    :mod:`connector.emitter.feed_poll`).

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

from connector.definitions import Resource
from connector.feed_compiler import feed_spec
from connector.selectors import Selector
from connector.trigger_rules import Feed, Rule
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


def compile_feeds(resource: Resource) -> list[Feed]:
    """The feeds of ``resource``'s webhooks (:mod:`connector.feeds`), in webhook order, as
    compiled at load."""
    return [w.feed for w in resource.compiled.webhooks if w.feed is not None]


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
