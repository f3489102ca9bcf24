"""``connector call`` and ``results``: the engine's commands (``pull`` is in
:mod:`connector.cli.pull`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from connector.answers import Answer, answer_for
from connector.cli.options import connector_options, load_configured_definition, open_connector
from connector.errors import InputError, InputProblem
from connector.output_files import replacing

from .output import is_terminal, plural, print_json, say, sleeper, write_records

if TYPE_CHECKING:
    from connector.definitions import Definition
    from connector.types import JSON

__all__ = ["add_commands", "parse_params"]

_OUTPUTS = ["json", "jsonl", "table", "csv"]

retry_wait = sleeper(lambda s: "the API failed or was busy; retrying the same request")
"""The engine's sleep between retries, saying what it waits for when it is long."""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``call`` and ``results``."""
    p = subparsers.add_parser(
        "call",
        help="call one operation",
        description="Call one operation of a resource (see `connector describe HANDLE` for "
        "its placeholders). A terminal gets a table (one record: a key/value list), a pipe "
        "gets JSON.",
    )
    p.add_argument("handle", help="the resource, e.g. messages, models, files")
    p.add_argument("operation", help="the operation, e.g. list, read, create")
    _add_params(p)
    p.add_argument(
        "--body", metavar="FILE", help="a JSON body replacing the body template ('-' for stdin)"
    )
    p.add_argument("--raw", action="store_true", help="the whole JSON answer instead of the fields")
    p.add_argument(
        "--output",
        choices=_OUTPUTS,
        help="how to print the result (default: table on a terminal, json on a pipe)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write a binary or JSONL answer to FILE (replaced only once complete)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="stream the answer (server-sent events): text as it arrives, JSONL events when piped",
    )
    p.set_defaults(func=cmd_call)

    p = subparsers.add_parser(
        "results",
        help="stream a batch's JSONL results (constant memory)",
        description="Download an ended message batch's results, one JSON line per request.",
    )
    p.add_argument("batch_id", help="the batch, msgbatch_...")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write the results to FILE, replaced only once complete (default: stdout)",
    )
    p.set_defaults(func=cmd_results)


def _add_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a placeholder value (repeatable); NAME=@FILE reads the value from FILE "
        "(for files upload: the file to send)",
    )


def parse_params(pairs: Sequence[str], file_parts: Iterable[str] = ()) -> dict[str, JSON]:
    """``NAME=VALUE`` pairs; ``NAME=@file`` reads the value from a file, except for the
    placeholders in ``file_parts`` (an upload's file parts), where ``@file`` names the file
    to send, as with curl. Values stay strings: the placeholder's type decides how they are
    read (``max_tokens=100`` → 100)."""
    params: dict[str, JSON] = {}
    problems: list[InputProblem] = []
    paths = set(file_parts)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            problems.append(InputProblem(pair, "expected NAME=VALUE (or NAME=@file)"))
            continue
        if value.startswith("@") and name in paths:
            value = value[1:]
        elif value.startswith("@"):
            try:
                value = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(InputProblem(name, f"cannot read {value[1:]!r}: {exc.strerror}"))
                continue
            except UnicodeDecodeError:
                problems.append(InputProblem(name, f"{value[1:]!r} is not UTF-8 text"))
                continue
        params[name] = value
    if problems:
        raise InputError(problems)
    return params


def _read_body(path: str | None) -> JSON:
    from connector.requests import UNSET

    if path is None:
        return UNSET
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            [InputProblem("--body", f"cannot read {path!r}: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError:
        raise InputError([InputProblem("--body", f"{path!r} is not UTF-8 text")]) from None
    from connector.jsontext import JSONTextError, parse_strict
    from connector.requests import BODY_DEPTH

    try:
        return parse_strict(text, max_depth=BODY_DEPTH)
    except JSONTextError as exc:
        line = f" (line {exc.line})" if exc.line else ""
        raise InputError([InputProblem("--body", f"{exc.message}{line}")]) from None
    except RecursionError:
        raise InputError([InputProblem("--body", "JSON nested too deeply")]) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError([InputProblem("--body", f"not usable JSON: {exc}")]) from None


def _binary_out(path: str | None) -> AbstractContextManager[IO[bytes]]:
    """``--out FILE`` (replaced only once complete) or stdout."""
    return replacing(path, binary=True) if path else nullcontext(sys.stdout.buffer)


def _recorder(
    args: argparse.Namespace, definition: Definition, method: str
) -> AbstractContextManager[Any]:
    """The emitter's write-through observer, loaded only when it can be needed: a write, with
    an emitter store present (a read never records anything, and importing the emitter is
    most of a call's start-up)."""
    state = getattr(args, "state", None) or ""
    remote = state.startswith(("postgresql://", "postgres://"))
    if method == "GET" or not (remote or os.path.exists(state)):
        return nullcontext(None)
    from connector.cli.emitter_support import recording_writes

    return recording_writes(args, definition)


def cmd_call(args: argparse.Namespace) -> int:
    """Call one operation and print its result."""
    from connector.client import Connector

    definition = load_configured_definition(args)
    target = definition.resource(args.handle).operation(args.operation)
    uploads = (
        [p.source for p in target.multipart.value if p.kind == "file"] if target.multipart else []
    )
    params = parse_params(args.param or [], uploads)
    body = _read_body(args.body)
    # Where an emitter store exists, a create made here becomes a <handle>.created event
    # (the only source of messages.created: messages cannot be listed).
    with (
        _recorder(args, definition, target.method) as on_write,
        Connector(
            definition, **connector_options(args), on_write=on_write, sleep=retry_wait
        ) as api,
    ):
        operation = api.definition.resource(args.handle).operation(args.operation)
        answer = answer_for(
            operation,
            events=args.stream,
            events_of_sse_only=False,
            fold_sse=False,
            jsonl_as_bytes=bool(args.out),
        )
        if answer is Answer.EVENTS:
            from connector.cli.streaming import print_stream

            return print_stream(api, args.handle, args.operation, params, body)
        if answer is Answer.BYTES:
            with _binary_out(args.out) as out:
                size = api.download(args.handle, args.operation, params, out)
            say(f"wrote {plural(size, 'bytes')}{' to ' + args.out if args.out else ''}")
            return 0
        if answer is Answer.LINES:
            write_records(
                api.stream_jsonl(args.handle, args.operation, params), "jsonl", sys.stdout
            )
            return 0
        result = api.call(args.handle, args.operation, params, raw=args.raw, body=body)
    output = args.output or ("table" if is_terminal() and not args.raw else "json")
    if output == "json":
        print_json(result)
    else:
        write_records(result if isinstance(result, list) else [result], output, sys.stdout)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """A batch's results, streamed to stdout or ``--out``."""
    with open_connector(args, sleep=retry_wait) as api, _binary_out(args.out) as out:
        size = api.download("message_batches", "results", {"batch_id": args.batch_id}, out)
    if args.out:
        say(f"wrote {plural(size, 'bytes')} to {args.out}")
    return 0
