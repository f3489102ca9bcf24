"""How an operation's answer is handed on: the one rule ``connector call`` and the service share.

An operation declares its response format (``json``, ``jsonl``, ``binary`` or ``sse``) and may
paginate. A caller of the engine then takes its answer in one of five ways, an
:class:`Answer`:

``RECORDS``
    one call, the records shaped by the resource's fields (or the raw answer); an ``sse``
    operation not asked to stream gives the final object folded from its events;
``PAGES``
    every item of every page, one by one (the service's NDJSON stream of a list);
``BYTES``
    the body passed on in chunks, constant memory (binary answers; JSONL ones written to a
    file or streamed through);
``LINES``
    a JSONL answer read object by object (the CLI prints them);
``EVENTS``
    the server-sent events as they come.

The callers differ only in what they ask for, so they pass it in: the CLI streams the events
of any operation when ``--stream`` is given and of an ``sse`` operation always; the service
folds an ``sse`` answer unless ``?stream=true``, streams every page of a list, and passes JSONL
through as bytes.
"""

from __future__ import annotations

from enum import Enum

from connector.definitions import Operation

__all__ = ["Answer", "answer_for"]


class Answer(Enum):
    """How the answer of one call is taken (see the module docstring)."""

    RECORDS = "records"
    PAGES = "pages"
    BYTES = "bytes"
    LINES = "lines"
    EVENTS = "events"


def answer_for(
    operation: Operation,
    *,
    events: bool = False,
    events_of_sse_only: bool = True,
    fold_sse: bool = True,
    jsonl_as_bytes: bool = False,
    every_page: bool = False,
) -> Answer:
    """How to take ``operation``'s answer.

    ``events``: the caller asked for the events as they come (honoured for ``sse`` operations
    only unless ``events_of_sse_only`` is False); ``fold_sse``: an ``sse`` operation not asked
    to stream answers its folded final object (else its events); ``jsonl_as_bytes``: a JSONL
    answer is passed on as bytes rather than read line by line; ``every_page``: a paginated
    operation gives every page's items.
    """
    kind = operation.response_format
    if every_page and operation.pagination is not None:
        return Answer.PAGES
    if (events and (kind == "sse" or not events_of_sse_only)) or (kind == "sse" and not fold_sse):
        return Answer.EVENTS
    if kind == "binary" or (kind == "jsonl" and jsonl_as_bytes):
        return Answer.BYTES
    if kind == "jsonl":
        return Answer.LINES
    return Answer.RECORDS
