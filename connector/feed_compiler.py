"""The load-time pass over feed triggers (:mod:`connector.feeds`): what the models cannot
say (a feed trigger has exactly one spec, a spec a feed; its selectors compile; an enrich
names an operation or a call), and each feed's calls as a hidden resource document.

Apart from the spec's models so that those import no definition model (no import circle:
the definition models import :mod:`connector.feeds`, this module imports the models).
"""

from __future__ import annotations

from .compile_checker import Checker
from .definition_parts import SelectorSpec
from .errors import Problem
from .feeds import FeedCall, FeedSpec, feed_handle, selector_spec
from .locations import format_location
from .models import Connection, Resource, Webhook
from .selectors import Selector
from .trigger_rules import CompiledCondition, Feed, Rule

__all__ = [
    "FeedSelectors",
    "check_feeds",
    "compile_feed",
    "compile_feed_selectors",
    "feed_documents",
    "feed_spec",
]


def feed_spec(webhook: Webhook) -> tuple[FeedSpec, str] | None:
    """The webhook's feed spec and the key it sits under (``trigger`` or ``poll``), if any."""
    trigger = webhook.trigger
    if trigger is not None and trigger.type == "feed" and trigger.feed is not None:
        return trigger.feed, "trigger"
    if webhook.poll is not None and (trigger is None or trigger.type == "feed"):
        return webhook.poll, "poll"
    return None


def _spec_location(w_loc: list[str | int], under: str) -> list[str | int]:
    return [*w_loc, "trigger", "feed"] if under == "trigger" else [*w_loc, "poll"]


def check_feeds(connection: Connection, *, bare: bool) -> list[Problem]:
    """What the models cannot say: a feed trigger has exactly one spec, a spec a feed."""
    problems: list[Problem] = []
    for r_index, resource in enumerate(connection.resources):
        for w_index, webhook in enumerate(resource.webhooks):
            loc: list[str | int] = ["resources", r_index, "webhooks", w_index]
            trigger = webhook.trigger
            if trigger is not None and trigger.type == "feed":
                if trigger.feed is None and webhook.poll is None:
                    problems.append(
                        Problem(
                            format_location([*loc, "trigger"], bare=bare),
                            "a 'feed' trigger needs its spec: add 'feed' {list, items, cursor}",
                        )
                    )
                if trigger.feed is not None and webhook.poll is not None:
                    problems.append(
                        Problem(
                            format_location([*loc, "poll"], bare=bare),
                            "the feed is declared twice (trigger.feed and poll): keep one",
                        )
                    )
            elif trigger is not None and trigger.feed is not None:
                problems.append(
                    Problem(
                        format_location([*loc, "trigger", "feed"], bare=bare),
                        f"only a 'feed' trigger has a feed spec (this one is {trigger.type!r})",
                        allowed="type 'feed', or remove 'feed'",
                    )
                )
            elif trigger is not None and webhook.poll is not None:
                problems.append(
                    Problem(
                        format_location([*loc, "poll"], bare=bare),
                        f"a poll spec makes the webhook a feed, but its trigger is "
                        f"{trigger.type!r}",
                        allowed="remove 'poll' or the trigger",
                    )
                )
            found = feed_spec(webhook)
            if found is not None:
                spec_loc = _spec_location(loc, found[1])
                problems += _check_spec(found[0], spec_loc, bare)
                enrich = found[0].enrich
                if enrich is not None and enrich.operation is not None:
                    problems += _check_operation(enrich, resource, [*spec_loc, "enrich"], bare)
    return problems


def _check_spec(spec: FeedSpec, loc: list[str | int], bare: bool) -> list[Problem]:
    """A filter says equals or contains (the selectors compile in :func:`compile_feed`)."""
    problems: list[Problem] = []
    flt = spec.filter
    if flt is not None and (flt.equals is None) == (flt.contains is None):
        problems.append(
            Problem(
                format_location([*loc, "filter"], bare=bare),
                "a filter compares its field with one value: give 'equals' or 'contains'",
                allowed="equals, contains",
            )
        )
    return problems


def _check_operation(
    enrich: FeedCall, resource: Resource, loc: list[str | int], bare: bool
) -> list[Problem]:
    """An enrich by operation names one the resource has, and declares no call of its own."""
    problems = []
    if enrich.operation not in resource.operations:
        problems.append(
            Problem(
                format_location([*loc, "operation"], bare=bare),
                f"{resource.handle} has no such operation",
                enrich.operation,
                ", ".join(resource.operations) or None,
            )
        )
    if enrich.path.value or enrich.query_params or enrich.body_template or enrich.headers:
        problems.append(
            Problem(
                format_location(loc, bare=bare),
                "an enrich calls an operation or declares its own call (path, queryParams, "
                "headers, bodyTemplate), not both",
            )
        )
    return problems


def _call_document(
    call: FeedCall, implicit: list[dict[str, object]], extra_query: dict[str, str]
) -> dict[str, object]:
    """A feed call as an operation document whose headers declare the implicit names."""
    headers = call.headers.model_dump(by_alias=True) if call.headers else {"value": {}}
    own = {
        p.name
        for part in (call.path, call.headers, call.query_params)
        if part
        for p in part.placeholders
    }
    headers["placeholders"] = [
        *headers.get("placeholders", []),
        *(p for p in implicit if p["name"] not in own),
    ]
    document: dict[str, object] = {
        "method": call.method,
        "path": call.path.model_dump(by_alias=True),
        "headers": headers,
    }
    query = call.query_params.model_dump(by_alias=True) if call.query_params else None
    if extra_query:
        query = query or {"value": {}}
        query["value"] = {**query["value"], **extra_query}
    if query is not None:
        document["queryParams"] = query
    if call.body_template is not None:
        document["bodyTemplate"] = call.body_template.model_dump(by_alias=True)
    return document


def feed_documents(
    resources: list[Resource],
) -> list[tuple[dict[str, list[str | int]], dict[str, object]]]:
    """Each feed's calls as a hidden resource document, with the location of each call."""
    out: list[tuple[dict[str, list[str | int]], dict[str, object]]] = []
    for r_index, resource in enumerate(resources):
        for w_index, webhook in enumerate(resource.webhooks):
            found = feed_spec(webhook)
            if found is None:
                continue
            spec, under = found
            base = _spec_location(["resources", r_index, "webhooks", w_index], under)
            cursor: dict[str, object] = {"name": "cursor", "type": "String"}
            token: dict[str, object] = {"name": "pageToken", "type": "String"}
            paging = {spec.page.param: "{{pageToken}}"} if spec.page is not None else {}
            operations: dict[str, object] = {}
            where: dict[str, list[str | int]] = {}
            calls = [("list", spec.list, [cursor, token] if paging else [cursor], paging)]
            if spec.seed is not None:
                calls.append(("seed", spec.seed, [], {}))
            if spec.enrich is not None and spec.enrich.operation is None:
                item: dict[str, object] = {"name": "item", "type": "Object"}
                calls.append(("enrich", spec.enrich, [item, cursor], {}))
            for name, call, implicit, query in calls:
                operations[name] = _call_document(call, implicit, query)
                where[name] = [*base, name]
            document: dict[str, object] = {
                "handle": feed_handle(resource.handle, w_index),
                "endpoint": "",
                "operations": operations,
            }
            out.append((where, document))
    return out


FeedSelectors = tuple[Selector, Selector, Selector | None, Selector | None, Selector | None]
"""A feed's compiled selectors: items, cursor, page token, filter field, seed cursor."""


def _spec_selectors(spec: FeedSpec) -> list[tuple[list[str | int], SelectorSpec | None]]:
    return [
        (["items"], spec.items),
        (["cursor"], spec.cursor),
        (["page", "token"], spec.page.token if spec.page else None),
        (["filter", "field"], spec.filter.field if spec.filter else None),
        (["seed", "cursor"], spec.seed.cursor if spec.seed else None),
    ]


def compile_feed_selectors(
    check: Checker, w_loc: list[str | int], spec: FeedSpec, under: str
) -> FeedSelectors | None:
    """Compile the feed's selectors once, each located where it is written (Corteza's dotted
    paths made steps; ``changes.*`` as items names the list itself); None when one does not
    compile."""
    loc = _spec_location(w_loc, under)
    compiled: list[Selector | None] = []
    for where, written in _spec_selectors(spec):
        if written is None:
            compiled.append(None)
            continue
        steps = selector_spec(written)
        if where == ["items"] and isinstance(steps, list) and steps and steps[-1] == "*":
            steps = steps[:-1]
        selector = check.selector([*loc, *where], steps)
        if selector is None:
            return None
        compiled.append(selector)
    items, cursor, token, field, seed = compiled
    assert items is not None and cursor is not None
    return items, cursor, token, field, seed


def compile_feed(
    rule: Rule,
    handle: str,
    index: int,
    webhook: Webhook,
    found: tuple[FeedSpec, str],
    selectors: FeedSelectors,
) -> Feed:
    """The webhook's :class:`~connector.trigger_rules.Feed`, from its compiled parts."""
    spec, under = found
    items, cursor, page_token, field, seed_cursor = selectors
    filters: list[CompiledCondition] = []
    if spec.filter is not None and field is not None:
        flt = spec.filter
        op = "contains" if flt.contains is not None else "=="
        value = flt.contains if flt.contains is not None else flt.equals
        filters.append(CompiledCondition(op, value, field))
    if rule.where is not None:
        filters.append(rule.where)
    return Feed(
        rule=rule,
        handle=feed_handle(handle, index),
        items=items,
        cursor=cursor,
        seed_cursor=seed_cursor or cursor,
        seeds=spec.seed is not None,
        page_token=page_token,
        enriches=spec.enrich is not None,
        enrich_operation=spec.enrich.operation if spec.enrich is not None else None,
        max_pages=spec.max_pages,
        location=f"feed {webhook.event} ({handle} webhook {index}, "
        f"{'trigger.feed' if under == 'trigger' else 'poll'})",
        filters=tuple(filters),
    )
