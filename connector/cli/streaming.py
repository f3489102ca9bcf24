"""``connector call HANDLE OPERATION --stream``: a streamed (``sse``) answer on the terminal.

On a terminal the text the operation's ``response.text`` path points at is printed as it
arrives; piped, every event is one JSON line ``{"event": NAME, "data": ...}``. ``--stream`` on
a JSON operation uses its streaming twin: the resource's ``sse`` operation on the same method
and path (``messages.create`` → ``messages.stream``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TextIO

from connector.client import Connector
from connector.definitions import Operation, Resource
from connector.errors import InputError, InputProblem
from connector.requests import UNSET
from connector.sse import value_at
from connector.types import JSON

__all__ = ["print_stream", "streaming_twin"]


def streaming_twin(resource: Resource, name: str) -> str:
    """The name of the ``sse`` operation to use for ``name`` (itself when it streams)."""
    operation = resource.operation(name)
    if operation.response_format == "sse":
        return name
    for other, candidate in resource.operations.items():
        if (
            candidate.response_format == "sse"
            and candidate.method == operation.method
            and candidate.path.value == operation.path.value
        ):
            return other
    streams = [n for n, op in resource.operations.items() if op.response_format == "sse"]
    known = ", ".join(streams) or "none"
    raise InputError(
        [
            InputProblem(
                "--stream",
                f"{resource.handle}.{name} has no streaming form (sse operations: {known})",
                name,
            )
        ]
    )


def print_stream(
    api: Connector,
    handle: str,
    name: str,
    params: Mapping[str, JSON],
    body: JSON = UNSET,
    out: TextIO | None = None,
) -> int:
    """Stream the operation to ``out`` (stdout): text on a terminal, JSONL events otherwise."""
    out = out or sys.stdout
    resource = api.definition.resource(handle)
    streaming = streaming_twin(resource, name)
    operation: Operation = resource.operation(streaming)
    text_path = operation.response.text
    as_text = out.isatty() and text_path is not None
    with api.stream(handle, streaming, params, body=body) as events:
        for event in events:
            if as_text:
                piece = value_at(event.data, text_path or [])
                if isinstance(piece, str):
                    out.write(piece)
                    out.flush()
            else:
                line = {"event": event.name, "data": event.data}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
    if as_text:
        out.write("\n")
    return 0
