"""``connector batch run``: validate a JSONL file of requests, submit, wait, save the results.

Every line is checked before anything is sent (JSON, ``custom_id`` pattern and uniqueness,
``params`` with ``model``, ``max_tokens`` and ``messages``), with line numbers. Requests over
the API's per-batch limits (100,000 requests or 256 MB) are split into several batches whose
results are merged into one file, one line per request.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from connector.errors import InputError, InputProblem
from connector.output_files import replacing

from .expressions import JSON

if TYPE_CHECKING:
    from connector.client import Connector

__all__ = [
    "BatchCounts",
    "BatchLimits",
    "BatchOutcome",
    "Progress",
    "ProgressReporter",
    "read_requests",
    "run_batches",
    "split_requests",
]

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_LISTED_PROBLEMS = 50


@dataclass(frozen=True)
class BatchLimits:
    """Per-batch limits of the API; smaller values make tests split small inputs."""

    max_requests: int = 100_000
    max_bytes: int = 256 * 2**20


@dataclass
class BatchOutcome:
    """What a run did: the batch ids, their last states, and the results by type."""

    batch_ids: list[str]
    batches: dict[str, JSON] = field(default_factory=dict)
    result_types: Counter[str] = field(default_factory=Counter)
    results_path: Path | None = None
    finished: bool = False


def read_requests(lines: Iterable[str]) -> list[dict[str, JSON]]:
    """Parse and check every line; :class:`InputError` lists the problems with line numbers."""
    requests: list[dict[str, JSON]] = []
    problems: list[InputProblem] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(where, f"not JSON: {exc.msg} at column {exc.colno}"))
            continue
        problems += _check_request(item, where, number, first_line)
        if isinstance(item, dict):
            requests.append(item)
    if not requests and not problems:
        problems.append(InputProblem("requests", "the file holds no requests"))
    if problems:
        shown = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(InputProblem("...", f"{len(problems) - len(shown)} more problem(s)"))
        raise InputError(shown, resource="message_batches", operation="create")
    return requests


def _check_request(
    item: JSON, where: str, number: int, first_line: dict[str, int]
) -> list[InputProblem]:
    if not isinstance(item, dict):
        return [InputProblem(where, "a request is a JSON object with custom_id and params")]
    problems = []
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
        problems.append(
            InputProblem(f"{where}: custom_id", "must match ^[a-zA-Z0-9_-]{1,64}$", custom_id)
        )
    elif custom_id in first_line:
        problems.append(
            InputProblem(f"{where}: custom_id", f"repeats line {first_line[custom_id]}", custom_id)
        )
    else:
        first_line[custom_id] = number
    params = item.get("params")
    if not isinstance(params, dict):
        return [*problems, InputProblem(f"{where}: params", "is required: a Messages create body")]
    if not isinstance(params.get("model"), str) or not params.get("model"):
        problems.append(InputProblem(f"{where}: params.model", "is required (a model name)"))
    max_tokens = params.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        problems.append(
            InputProblem(f"{where}: params.max_tokens", "must be a positive integer", max_tokens)
        )
    if not isinstance(params.get("messages"), list) or not params.get("messages"):
        problems.append(InputProblem(f"{where}: params.messages", "must be a non-empty list"))
    if params.get("stream"):
        problems.append(InputProblem(f"{where}: params.stream", "batches do not stream"))
    unknown = sorted(set(item) - {"custom_id", "params"})
    if unknown:
        problems.append(
            InputProblem(f"{where}: {unknown[0]}", "unknown key; allowed: custom_id, params")
        )
    return problems


def split_requests(
    requests: list[dict[str, JSON]], limits: BatchLimits = BatchLimits()
) -> list[list[dict[str, JSON]]]:
    """Cut the requests into batches that each fit the count and size limits, in order."""
    envelope = len('{"requests":[]}')
    chunks: list[list[dict[str, JSON]]] = []
    current: list[dict[str, JSON]] = []
    size = envelope
    for index, request in enumerate(requests):
        item_size = len(json.dumps(request, separators=(",", ":")).encode("utf-8")) + 1
        if envelope + item_size > limits.max_bytes:
            raise InputError(
                [
                    InputProblem(
                        f"request {index + 1}: {request.get('custom_id')}",
                        f"is {item_size} bytes, over the {limits.max_bytes}-byte batch limit",
                    )
                ],
                resource="message_batches",
                operation="create",
            )
        if current and (len(current) >= limits.max_requests or size + item_size > limits.max_bytes):
            chunks.append(current)
            current, size = [], envelope
        current.append(request)
        size += item_size
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class BatchCounts:
    """Where a run stands: batches ended, requests done, and the done ones by result."""

    batches: int
    ended: int
    total: int
    done: int
    results: dict[str, int]

    @classmethod
    def of(cls, batches: dict[str, JSON], total: int) -> BatchCounts:
        """Sum the ``request_counts`` of ``batches`` (out of ``total`` requests)."""
        counts: Counter[str] = Counter()
        for batch in batches.values():
            counts.update({k: int(v) for k, v in (batch.get("request_counts") or {}).items()})
        ended = sum(1 for b in batches.values() if b.get("processing_status") == "ended")
        results = {k: counts.get(k, 0) for k in ("succeeded", "errored", "canceled", "expired")}
        return cls(len(batches), ended, total, total - counts.get("processing", 0), results)

    def text(self) -> str:
        """``1/2 batches ended, 3/4 requests done (succeeded 3, errored 0, ...)``."""
        detail = ", ".join(f"{k} {n}" for k, n in self.results.items())
        noun = "batch" if self.batches == 1 else "batches"
        return (
            f"{self.ended}/{self.batches} {noun} ended, "
            f"{self.done}/{self.total} requests done ({detail})"
        )


class ProgressReporter(Protocol):
    """What :func:`run_batches` tells while it waits (the CLI draws a live bar)."""

    def update(self, counts: BatchCounts, next_check: float | None) -> None:
        """The counts after a check; ``next_check``: seconds until the next (None: done)."""


class Progress:
    """Plain progress lines on a stream, one per check, saying when the next check is."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def update(self, counts: BatchCounts, next_check: float | None) -> None:
        """Write one line."""
        wait = f"; next check in {next_check:g} s" if next_check is not None else ""
        self.stream.write(counts.text() + wait + "\n")
        self.stream.flush()


def run_batches(
    connector: Connector,
    requests: list[dict[str, JSON]],
    *,
    out: Path | None = None,
    wait: bool = True,
    poll_interval: float = 10.0,
    limits: BatchLimits = BatchLimits(),
    progress: ProgressReporter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_interrupt: Callable[[list[str]], bool] | None = None,
    on_submit: Callable[[str], None] | None = None,
) -> BatchOutcome:
    """Submit ``requests`` (split per ``limits``), wait for every batch, stream the results.

    ``on_interrupt(batch_ids)`` is asked on Ctrl-C whether to cancel the batches (not asked:
    they keep running); the interrupt is then re-raised. ``on_submit`` hears each new id.
    """
    outcome = BatchOutcome(batch_ids=[])
    for chunk in split_requests(requests, limits):
        batch = connector.call("message_batches", "create", raw=True, body={"requests": chunk})
        outcome.batch_ids.append(batch["id"])
        outcome.batches[batch["id"]] = batch
        if on_submit is not None:
            on_submit(batch["id"])
    if not wait:
        return outcome
    try:
        _wait(connector, outcome, len(requests), poll_interval, progress, sleep)
    except KeyboardInterrupt:
        pending = [
            i for i in outcome.batch_ids if outcome.batches[i].get("processing_status") != "ended"
        ]
        if pending and on_interrupt is not None and on_interrupt(pending):
            for batch_id in pending:
                connector.call("message_batches", "cancel", {"batch_id": batch_id}, raw=True)
        raise
    outcome.finished = True
    if out is not None:
        with replacing(out) as handle:
            for result in _results(connector, outcome.batch_ids):
                handle.write(json.dumps(result, separators=(",", ":"), ensure_ascii=False) + "\n")
                outcome.result_types[str((result.get("result") or {}).get("type"))] += 1
        outcome.results_path = out
    else:
        for result in _results(connector, outcome.batch_ids):
            outcome.result_types[str((result.get("result") or {}).get("type"))] += 1
    return outcome


def _wait(
    connector: Connector,
    outcome: BatchOutcome,
    total: int,
    poll_interval: float,
    progress: ProgressReporter | None,
    sleep: Callable[[float], None],
) -> None:
    while True:
        for batch_id in outcome.batch_ids:
            if outcome.batches[batch_id].get("processing_status") != "ended":
                outcome.batches[batch_id] = connector.call(
                    "message_batches", "read", {"batch_id": batch_id}, raw=True
                )
        done = all(b.get("processing_status") == "ended" for b in outcome.batches.values())
        if progress is not None:
            progress.update(BatchCounts.of(outcome.batches, total), None if done else poll_interval)
        if done:
            return
        sleep(poll_interval)


def _results(connector: Connector, batch_ids: list[str]) -> Iterator[dict[str, JSON]]:
    for batch_id in batch_ids:
        yield from connector.stream_jsonl("message_batches", "results", {"batch_id": batch_id})
