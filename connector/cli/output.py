"""Everything the command line prints, in one place, drawn with ``rich``.

The rules (``docs/cli.md``):

* Machine output goes to stdout, messages, progress and waits to stderr.
* One JSON document (``call``, ``describe --json``, summaries) is indented and highlighted on a
  terminal and compact, one line, on a pipe; streams of records are JSON Lines, one compact
  object a line, always.
* Tables fit the terminal's width: long values wrap (never cut, so they can be copied), a
  single record is shown as a vertical key/value list, and a list whose columns cannot fit is
  shown record by record the same way.
* Colour only on a terminal, never with ``NO_COLOR`` set or when the output is piped.
* Every wait longer than a second says what it waits for and for how long: a live line on a
  terminal, a log line otherwise.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from connector.workflows.batch import BatchCounts

__all__ = [
    "BatchProgress",
    "console",
    "dumps",
    "is_terminal",
    "plural",
    "print_json",
    "say",
    "waiting",
    "write_records",
]

JSON = Any


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: JSON, *, indent: int | None = None) -> str:
    """JSON text for the command line (datetimes as RFC 3339, compact unless ``indent``);
    text UTF-8 cannot carry (a lone surrogate an API sent) is written as ``\\u`` escapes, so
    printing a result never fails."""
    separators = None if indent is not None else (",", ":")
    text = json.dumps(
        value, default=_json_default, ensure_ascii=False, indent=indent, separators=separators
    )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(
            value, default=_json_default, ensure_ascii=True, indent=indent, separators=separators
        )
    return text


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (stdout) is a terminal a person reads."""
    target = stream or sys.stdout
    isatty = getattr(target, "isatty", None)
    return bool(isatty and isatty())


def console(stream: IO[str] | None = None) -> Console:
    """A rich console on ``stream`` (default stderr): colour only on a terminal and without
    ``NO_COLOR``; the terminal's width, or ``COLUMNS``, or 100 on a pipe."""
    from rich.console import Console

    target = stream or sys.stderr
    terminal = is_terminal(target)
    return Console(
        file=target,
        force_terminal=terminal,
        no_color=bool(os.environ.get("NO_COLOR")) or not terminal,
        color_system="auto" if terminal else None,
        highlight=False,
        width=None if terminal else _columns(),
        soft_wrap=False,
    )


def _columns() -> int:
    """The width for a pipe: ``COLUMNS`` when it is a sensible number, else 100."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isascii() and text.isdigit() and 20 <= int(text) <= 1000 else 100


def say(message: str, *, style: str | None = None) -> None:
    """A message for a person, on stderr (``style``: a rich style such as ``"yellow"``)."""
    from rich.text import Text

    console().print(Text(message, style=style or ""), soft_wrap=True)


def plural(count: int, noun: str) -> str:
    """``1 model``, ``5 models``, ``1 message batch`` (nouns given in the plural, as handles
    are; underscores read as spaces)."""
    words = noun.replace("_", " ")
    if count == 1:
        if words.endswith(("ches", "shes", "sses", "xes")):
            words = words[:-2]
        elif words.endswith("s"):
            words = words[:-1]
    return f"{count:,} {words}"


def print_json(value: JSON, *, out: IO[str] | None = None) -> None:
    """One JSON document: indented and highlighted on a terminal, one compact line on a pipe."""
    stream = out or sys.stdout
    if not is_terminal(stream):
        stream.write(dumps(value) + "\n")
        return
    from rich.json import JSON as RichJSON

    console(stream).print(
        RichJSON.from_data(value, indent=2, default=_json_default), soft_wrap=True
    )


def _cell(value: JSON) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value if isinstance(value, str) else dumps(value)


def write_records(records: Iterable[JSON], output: str, out: IO[str]) -> int:
    """Write ``records`` as ``json`` (one document), ``jsonl``, ``csv`` (the first record's
    keys are the columns) or ``table``; return how many there were. ``jsonl`` and ``csv``
    stream in constant memory."""
    if output == "json":
        items = list(records)
        print_json(items if len(items) != 1 else items[0], out=out)
        return len(items)
    if output == "jsonl":
        count = 0
        for record in records:
            out.write(dumps(record) + "\n")
            count += 1
        return count
    if output == "csv":
        return _write_csv(records, out)
    rows = [r if isinstance(r, dict) else {"value": r} for r in records]
    print_table(rows, out)
    return len(rows)


def _write_csv(records: Iterable[JSON], out: IO[str]) -> int:
    iterator: Iterator[JSON] = iter(records)
    first = next(iterator, None)
    if first is None:
        return 0
    head = first if isinstance(first, dict) else {"value": first}
    writer = csv.DictWriter(out, fieldnames=list(head), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for record in _chain(first, iterator):
        row = record if isinstance(record, dict) else {"value": record}
        writer.writerow({k: _cell(v) for k, v in row.items()})
        count += 1
    return count


def _chain(first: JSON, rest: Iterator[JSON]) -> Iterator[JSON]:
    yield first
    yield from rest


def print_table(rows: list[dict[str, JSON]], out: IO[str], *, vertical_single: bool = True) -> None:
    """Rows as a table that fits the width; one row (unless ``vertical_single`` is false),
    or too many columns to fit, as vertical key/value lists instead (nothing is ever cut)."""
    from rich import box
    from rich.table import Table

    target = console(out)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    # Each column needs at least its header (no mid-word wraps) plus padding and a border.
    needed = sum(max(len(c), 6) + 3 for c in columns)
    if (len(rows) == 1 and vertical_single) or needed > target.width:
        for number, row in enumerate(rows):
            if number:
                target.print()
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold cyan", no_wrap=True)
            grid.add_column(overflow="fold")
            for key, value in row.items():
                grid.add_row(key, _cell(value))
            target.print(grid)
        return
    table = Table(box=box.SIMPLE_HEAD, header_style="bold cyan", pad_edge=False, show_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold", min_width=len(name))
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    target.print(table)


@contextmanager
def waiting(what: str, seconds: float) -> Iterator[None]:
    """Say what the next ``seconds`` are spent waiting for: a live countdown on a terminal,
    one log line otherwise (nothing for waits of a second or less)."""
    if seconds <= 1:
        yield
        return
    target = console()
    if not target.is_terminal:
        target.print(f"waiting {seconds:g} s: {what}", soft_wrap=True)
        yield
        return
    with target.status(f"waiting {seconds:g} s: {what}"):
        yield


def sleeper(what: Callable[[float], str]) -> Callable[[float], None]:
    """A ``sleep`` that says what it waits for (``what(seconds)`` describes it)."""

    def sleep(seconds: float) -> None:
        with waiting(what(seconds), seconds):
            time.sleep(seconds)

    return sleep


class BatchProgress:
    """``batch run`` progress: on a terminal a live bar with elapsed time, counts and the next
    check; otherwise one line per check."""

    def __init__(self) -> None:
        self._console = console()
        self._progress: Any = None
        self._task: Any = None

    def update(self, counts: BatchCounts, next_check: float | None) -> None:
        """Show the counts after one check."""
        detail = ", ".join(f"{k} {n}" for k, n in counts.results.items() if n)
        wait = f"next check in {next_check:g} s" if next_check is not None else "done"
        if not self._console.is_terminal:
            self._console.print(f"{counts.text()}; {wait}", soft_wrap=True)
            return
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("requests"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=self._console,
            )
            self._progress.start()
            self._task = self._progress.add_task("requests", total=counts.total, detail="")
        ended = f"{counts.ended}/{counts.batches} {'batch' if counts.batches == 1 else 'batches'}"
        self._progress.update(
            self._task,
            completed=counts.done,
            detail=f"{ended} ended{', ' + detail if detail else ''}; {wait}",
        )
        if next_check is None:
            self.close()

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
