"""Feed triggers: a webhook fed by an API's own change cursor (Corteza's ``poll`` spec).

Some APIs say what changed since a cursor (Gmail's ``history?startHistoryId=``, a
``/changes?since=`` feed) instead of being diffed listing against listing. A webhook declares
such a feed with ``"trigger": {"type": "feed", "feed": SPEC}``, or, as Corteza writes it,
``"poll": SPEC`` on the webhook (which then needs no trigger). A spec holds:

``seed``
    the call whose answer gives the baseline cursor (at ``seed.cursor``, else ``cursor``);
    without it the first poll walks ``list`` with an empty cursor. Nothing fires from it.
``list``
    the call that lists what changed since ``{{cursor}}`` (its templates read ``cursor``);
``items``, ``cursor``
    where the list answer holds the changed items and the next cursor (selectors, or
    Corteza's dotted paths);
``page``
    ``{"token": SELECTOR, "param": NAME}``: a page token in the answer, sent back as the
    query parameter ``param`` (default ``pageToken``) until the answer has none;
``filter``
    ``{"field": SELECTOR, "equals": V}`` or ``{"field": ..., "contains": V}`` (the value
    equals V or is a list holding it); items that fail it fire nothing;
``enrich``
    a read call per item that passed the filter: an operation of the resource
    (``{"operation": "read"}``, its placeholders bound to the item's fields by name, the
    id placeholder to the item's id), or a call of its own whose templates read the item as
    ``item`` (``/messages/{{item.id}}``); the event's payload is taken from its answer;
``maxPages``
    the page guard of one poll (default 50, Corteza's fixed guard): a poll that reaches it
    commits what it saw, with the cursor it reached, and says so.

Each call becomes an operation (``seed``, ``list``, ``enrich``) of a hidden resource
(:func:`feed_handle`), compiled at load like any operation and sent through the engine (origin
check, auth, conventions, retries). Its errors are located at the spec's own place. These are
the spec's models; the load-time checks and the hidden resources are
:mod:`connector.feed_compiler` (which reads the definition models, so these import none).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field as PydanticField

from .definition_parts import SelectorSpec, Strict
from .multistep import HTTPAction
from .selectors import path_selector
from .types import JSON

__all__ = [
    "DEFAULT_MAX_PAGES",
    "FeedCall",
    "FeedFilter",
    "FeedPage",
    "FeedSpec",
    "feed_handle",
    "selector_spec",
]

DEFAULT_MAX_PAGES = 50


class FeedCall(HTTPAction):
    """One call of a feed: Corteza's HTTP action, plus (for ``seed``) where its answer holds
    the cursor, or (for ``enrich``) an operation of the resource to call instead."""

    cursor: SelectorSpec | None = None
    operation: Annotated[str, PydanticField(min_length=1)] | None = None
    """``enrich`` only: the resource's operation (``read``) whose placeholders take the item's
    fields of the same name (and the item's id where the item has no such field)."""


class FeedPage(Strict):
    """The page token of a list answer and the query parameter that sends it back."""

    token: SelectorSpec
    param: Annotated[str, PydanticField(min_length=1)] = "pageToken"


class FeedFilter(Strict):
    """Corteza's poll filter: the item's ``field`` equals or contains a value."""

    field: SelectorSpec
    equals: JSON = None
    contains: JSON = None


class FeedSpec(Strict):
    """A cursor feed (see the module docstring)."""

    seed: FeedCall | None = None
    list: FeedCall
    items: SelectorSpec
    cursor: SelectorSpec
    page: FeedPage | None = None
    filter: FeedFilter | None = None
    enrich: FeedCall | None = None
    max_pages: Annotated[int, PydanticField(ge=1, le=100_000)] = PydanticField(
        default=DEFAULT_MAX_PAGES, alias="maxPages"
    )
    meta: dict[str, JSON] | None = None


def selector_spec(spec: SelectorSpec) -> SelectorSpec:
    """A selector as written (steps or JSONPath), or Corteza's dotted path made steps."""
    return path_selector(spec) if isinstance(spec, str) else spec


def feed_handle(resource: str, index: int) -> str:
    """The hidden resource that holds the calls of webhook ``index`` of ``resource``."""
    return f"_feed_{resource}_{index}"
