"""Where a pull's records go: JSONL, CSV, JSON or Parquet, to stdout or a file.

Every format streams: JSONL and CSV write record by record, Parquet in row groups of
``row_group_size`` (through pyarrow, the ``parquet`` extra), JSON as one array written item by
item. A file is written beside its final name and renamed into place after an fsync, so a
reader (or a crash) sees the old file or the whole new one, never half of one; the pull stores
its checkpoint only after :func:`write_records` returns.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError, InputError, InputProblem
from ..types import JSON

__all__ = ["FORMATS", "dumps", "write_records"]

FORMATS = ("jsonl", "csv", "json", "parquet")
ROW_GROUP_SIZE = 10_000
_CSV_SAMPLE = 1_000


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: JSON) -> str:
    """One record as compact JSON (datetimes as RFC 3339)."""
    return json.dumps(value, default=_default, ensure_ascii=False)


def _row(record: JSON) -> dict[str, Any]:
    return record if isinstance(record, dict) else {"value": record}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value if isinstance(value, str) else dumps(value)


def _unknown_column(fmt: str, key: str, count: int) -> InputError:
    return InputError(
        [
            InputProblem(
                "--output",
                f"record {count + 1} has a key {key!r} that the first records lacked; "
                f"{fmt} needs its columns up front. Use --output jsonl, or add the field to "
                "the resource's 'fields'",
                fmt,
            )
        ]
    )


def _columns(head: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    return list(columns) if columns else list(dict.fromkeys(k for row in head for k in row))


def _write_jsonl(records: Iterable[JSON], out: IO[str]) -> int:
    count = 0
    for record in records:
        out.write(dumps(record) + "\n")
        count += 1
    return count


def _write_json(records: Iterable[JSON], out: IO[str]) -> int:
    count = 0
    out.write("[")
    for record in records:
        out.write(("," if count else "") + "\n  " + dumps(record))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_csv(records: Iterable[JSON], out: IO[str], columns: Sequence[str] | None) -> int:
    rows = (_row(r) for r in records)
    head = list(islice(rows, _CSV_SAMPLE))
    names = _columns(head, columns)
    known = set(names)
    writer = csv.writer(out)
    writer.writerow(names)
    count = 0
    for row in _chain(head, rows):
        extra = row.keys() - known
        if extra:
            raise _unknown_column("csv", sorted(extra)[0], count)
        writer.writerow([_cell(row.get(name)) for name in names])
        count += 1
    return count


def _chain(head: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from head
    yield from rest


def _write_parquet(
    records: Iterable[JSON], out: IO[bytes], columns: Sequence[str] | None, row_group_size: int
) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigurationError(
            "--output parquet needs pyarrow: pip install 'connector[parquet]'", setting="--output"
        ) from None
    rows = (_row(r) for r in records)
    writer: Any = None
    schema: Any = None
    names: list[str] = []
    count = 0
    try:
        while True:
            group = list(islice(rows, row_group_size))
            if not group:
                break
            if writer is None:
                names = _columns(group, columns)
                schema = _schema(pa, names, group)
                writer = pq.ParquetWriter(out, schema)
            known = set(names)
            for index, row in enumerate(group):
                extra = row.keys() - known
                if extra:
                    raise _unknown_column("parquet", sorted(extra)[0], count + index)
            arrays = []
            for name in names:
                kind = schema.field(name).type
                values = [_parquet_value(row.get(name), kind, pa) for row in group]
                try:
                    arrays.append(pa.array(values, type=kind))
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                    raise InputError(
                        [
                            InputProblem(
                                "--output",
                                f"column {name!r} changed type after the first row group "
                                f"(was {kind}); use --output jsonl",
                                "parquet",
                            )
                        ]
                    ) from None
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += len(group)
        if writer is None:
            names = list(columns or [])
            schema = pa.schema([(n, pa.string()) for n in names])
            writer = pq.ParquetWriter(out, schema)
    finally:
        if writer is not None:
            writer.close()
    return count


def _schema(pa: Any, names: list[str], group: list[dict[str, Any]]) -> Any:
    """Column types from the first row group: nested values and mixed kinds become JSON text."""
    fields = []
    for name in names:
        values = [row.get(name) for row in group]
        kind = pa.string()
        present = [v for v in values if v is not None]
        if present and not any(isinstance(v, dict | list) for v in present):
            try:
                inferred = pa.array(present).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                inferred = pa.string()
            if not pa.types.is_null(inferred):
                kind = inferred
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _parquet_value(value: Any, kind: Any, pa: Any) -> Any:
    if value is None:
        return None
    if pa.types.is_string(kind) and not isinstance(value, str):
        return _cell(value)
    return value


def write_records(
    records: Iterable[JSON],
    fmt: str,
    path: str | None,
    *,
    columns: Sequence[str] | None = None,
    stdout: IO[str] | None = None,
    row_group_size: int = ROW_GROUP_SIZE,
) -> int:
    """Write every record in ``fmt`` to ``path`` (atomically) or stdout; return the count."""
    if fmt not in FORMATS:
        raise InputError(
            [InputProblem("--output", f"unknown format (choose {', '.join(FORMATS)})", fmt)]
        )
    if path is None:
        import sys

        text_out = stdout or sys.stdout
        if fmt == "parquet":
            raise InputError([InputProblem("--output", "parquet is binary: give --out FILE", fmt)])
        count = _write_text(records, fmt, text_out, columns)
        text_out.flush()
        return count
    final = Path(path)
    part = final.with_name(f".{final.name}.part")
    try:
        with open(part, "wb") as raw:
            if fmt == "parquet":
                count = _write_parquet(records, raw, columns, row_group_size)
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                count = _write_text(records, fmt, text, columns)
                text.flush()
                text.detach()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(part, final)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InputError(
            [InputProblem("--out", f"cannot write {path!r}: {exc.strerror}", path)]
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)
    return count


def _write_text(
    records: Iterable[JSON], fmt: str, out: IO[str], columns: Sequence[str] | None
) -> int:
    if fmt == "jsonl":
        return _write_jsonl(records, out)
    if fmt == "json":
        return _write_json(records, out)
    return _write_csv(records, out, columns)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
