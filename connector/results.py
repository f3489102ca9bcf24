"""Streaming JSONL and binary bodies with constant memory.

The body is read in chunks and split on ``\\n``; only the current line is held, so a results
file of any size streams in bounded memory. ``\\r\\n`` endings and blank lines are tolerated
(the real API sends neither, but a proxy may).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator

from .errors import ResponseError
from .types import JSON

__all__ = ["aiter_jsonl", "iter_jsonl"]

CHUNK_SIZE = 256 * 1024


def _decode(line: bytes, number: int) -> JSON:
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResponseError(f"line {number} of the JSONL body is not JSON: {exc}") from None


class _Splitter:
    __slots__ = ("buffer", "number")

    def __init__(self) -> None:
        self.buffer = b""
        self.number = 0

    def feed(self, chunk: bytes) -> list[JSON]:
        lines = (self.buffer + chunk).split(b"\n") if self.buffer else chunk.split(b"\n")
        self.buffer = lines.pop()
        out = []
        for line in lines:
            self.number += 1
            if line.strip():
                out.append(_decode(line, self.number))
        return out

    def finish(self) -> list[JSON]:
        self.number += 1
        return [_decode(self.buffer, self.number)] if self.buffer.strip() else []


def iter_jsonl(chunks: Iterable[bytes]) -> Iterator[JSON]:
    """Decode a JSONL byte stream object by object."""
    splitter = _Splitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.finish()


async def aiter_jsonl(chunks: AsyncIterator[bytes]) -> AsyncIterator[JSON]:
    """The async twin of :func:`iter_jsonl`."""
    splitter = _Splitter()
    async for chunk in chunks:
        for item in splitter.feed(chunk):
            yield item
    for item in splitter.finish():
        yield item
