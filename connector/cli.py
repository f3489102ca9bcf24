"""The command line: thin, calls the library (``DESIGN.md`` §3).

Exit codes: 0 success; 1 the upstream API or a subscriber failed; 2 bad usage, bad definition
or bad input. Machine output goes to stdout, messages and progress to stderr.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from . import __version__
from .client import Connector
from .config import connector_options, default_state, load_configured_definition, open_connector
from .definitions import definition_json_schema, load_definition
from .errors import (
    ConfigurationError,
    ConnectorError,
    DefinitionError,
    InputError,
    InputProblem,
    WorkflowDefinitionError,
)
from .forms import describe_resource as _describe_resource
from .types import JSON

__all__ = ["build_parser", "main"]

# Parts that bring their own commands (each module exposes add_commands(subparsers)).
_COMMAND_MODULES = (
    "connector.sandbox.commands",
    "connector.demo",
    "connector.asyncapi",
    "connector.openapi",
    "connector.emitter.commands",
    "connector.emitter.log_commands",
    "connector.emitter.status",
    "connector.receiver_commands",
    "connector.workflows.commands",
    "connector.pulls.commands",
    "connector.platform.commands",
)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: JSON, *, indent: int | None = None) -> str:
    """JSON text for the command line (datetimes as RFC 3339)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=indent)


def parse_params(pairs: Sequence[str]) -> dict[str, JSON]:
    """``NAME=VALUE`` pairs; ``NAME=@file`` reads the value from a file. Values stay strings:
    the placeholder's type decides how they are read (``max_tokens=100`` → 100)."""
    params: dict[str, JSON] = {}
    problems: list[InputProblem] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            problems.append(InputProblem(pair, "expected NAME=VALUE (or NAME=@file)"))
            continue
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(InputProblem(name, f"cannot read {value[1:]!r}: {exc.strerror}"))
                continue
        params[name] = value
    if problems:
        raise InputError(problems)
    return params


def cmd_describe(args: argparse.Namespace) -> int:
    definition = load_configured_definition(args)
    resources = [definition.resource(args.handle)] if args.handle else definition.resources
    described = [_describe_resource(r) for r in resources]
    if args.json or not sys.stdout.isatty():
        print(dumps(described, indent=2))
        return 0
    for resource in described:
        print(f"{resource['handle']}  {resource['endpoint']}  {resource['description'] or ''}")
        for op in resource["operations"]:
            print(f"  {op['name']:<13} {op['method']:<6} {op['description'] or ''}")
            for p in op["placeholders"]:
                need = "required" if p["required"] else "optional"
                print(f"      -p {p['name']}=<{p['type']}>  {need}  {p['description'] or ''}")
        for hook in resource["webhooks"]:
            print(f"  webhook {hook['event']}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    definition = load_definition(Path(args.file))
    operations = sum(len(r.operations) for r in definition.resources)
    webhooks = sum(len(r.webhooks) for r in definition.resources)
    print(
        f"{args.file}: valid ({len(definition.resources)} resources, {operations} operations, {webhooks} webhooks)",
        file=sys.stderr,
    )
    # What an untrusted definition can read from the environment, said before it is run.
    variables = ", ".join(definition.environment_variables) or "none"
    print(f"environment variables read: {variables}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(dumps(definition_json_schema(), indent=2))
    return 0


def _read_body(path: str | None) -> JSON:
    from .requests import UNSET

    if path is None:
        return UNSET
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            [InputProblem("--body", f"cannot read {path!r}: {exc.strerror}")]
        ) from None
    from .jsontext import JSONTextError, parse_strict
    from .requests import BODY_DEPTH

    try:
        return parse_strict(text, max_depth=BODY_DEPTH)
    except JSONTextError as exc:
        line = f" (line {exc.line})" if exc.line else ""
        raise InputError([InputProblem("--body", f"{exc.message}{line}")]) from None


def _write_records(records: Iterable[JSON], output: str, out: IO[str]) -> int:
    count = 0
    if output == "json":
        items = list(records)
        out.write(dumps(items if len(items) != 1 else items[0], indent=2) + "\n")
        return len(items)
    if output == "jsonl":
        for record in records:
            out.write(dumps(record) + "\n")
            count += 1
        return count
    rows = [r if isinstance(r, dict) else {"value": r} for r in records]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if output == "csv":
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return len(rows)
    widths = {c: min(40, max([len(c)] + [len(_cell(r.get(c))) for r in rows])) for c in columns}
    out.write("  ".join(c.ljust(widths[c]) for c in columns) + "\n")
    for row in rows:
        out.write(
            "  ".join(_cell(row.get(c))[: widths[c]].ljust(widths[c]) for c in columns) + "\n"
        )
    return len(rows)


def _cell(value: JSON) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value if isinstance(value, str) else dumps(value)


def cmd_call(args: argparse.Namespace) -> int:
    from .emitter.commands import recording_writes

    params = parse_params(args.param or [])
    body = _read_body(args.body)
    definition = load_configured_definition(args)
    # Where an emitter store exists, a create made here becomes a <handle>.created event
    # (the only source of messages.created: messages cannot be listed).
    with (
        recording_writes(args, definition) as on_write,
        Connector(definition, **connector_options(args), on_write=on_write) as api,
    ):
        operation = api.definition.resource(args.handle).operation(args.operation)
        if args.stream or operation.response_format == "sse":
            from .stream_commands import print_stream

            return print_stream(api, args.handle, args.operation, params, body)
        if operation.response_format in ("binary", "jsonl") and (
            args.out or operation.response_format == "binary"
        ):
            with _binary_out(args.out) as out:
                size = api.download(args.handle, args.operation, params, out)
            print(f"wrote {size} bytes{' to ' + args.out if args.out else ''}", file=sys.stderr)
            return 0
        if operation.response_format == "jsonl":
            _write_records(
                api.stream_jsonl(args.handle, args.operation, params), "jsonl", sys.stdout
            )
            return 0
        result = api.call(args.handle, args.operation, params, raw=args.raw, body=body)
    output = args.output or ("table" if sys.stdout.isatty() and not args.raw else "json")
    if output == "json":
        print(dumps(result, indent=2))
    else:
        _write_records(result if isinstance(result, list) else [result], output, sys.stdout)
    return 0


class _binary_out:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        self.handle = open(self.path, "wb") if self.path else sys.stdout.buffer
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.path and self.handle is not None:
            self.handle.close()


def cmd_results(args: argparse.Namespace) -> int:
    with open_connector(args) as api, _binary_out(args.out) as out:
        size = api.download("message_batches", "results", {"batch_id": args.batch_id}, out)
    if args.out:
        print(f"wrote {size} bytes to {args.out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (the parts register their own commands)."""
    parser = argparse.ArgumentParser(
        prog="connector",
        description="One JSON definition of an HTTP API: calls, synthetic webhooks, workflows, a sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    parser.add_argument(
        "--definition",
        default=os.environ.get("CONNECTOR_DEFINITION"),
        help="definition file (default: the bundled claude-api.json; env CONNECTOR_DEFINITION)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="API origin, as for the official SDK (env ANTHROPIC_BASE_URL)",
    )
    parser.add_argument("--api-key", default=None, help="API key (env ANTHROPIC_API_KEY)")
    parser.add_argument(
        "--header",
        action="append",
        metavar="'NAME: VALUE'",
        help="a header for every request (repeatable; env CONNECTOR_HEADERS, one per line)",
    )
    parser.add_argument(
        "--state", default=default_state(), help="emitter store: SQLite path (env CONNECTOR_STATE)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("describe", help="resources, operations and placeholders")
    p.add_argument("handle", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("validate", help="load and lint a definition")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="the JSON Schema of the definition format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("call", help="call one operation")
    p.add_argument("handle")
    p.add_argument("operation")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a placeholder value (repeatable; NAME=@file reads a file)",
    )
    p.add_argument(
        "--body", metavar="FILE", help="a JSON body replacing the body template ('-' for stdin)"
    )
    p.add_argument("--raw", action="store_true", help="the whole JSON answer instead of the fields")
    p.add_argument("--output", choices=["json", "jsonl", "table", "csv"])
    p.add_argument("--out", metavar="FILE", help="write a binary or JSONL answer to FILE")
    p.add_argument(
        "--stream",
        action="store_true",
        help="stream the answer (server-sent events): text as it arrives, JSONL events when piped",
    )
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("results", help="stream a batch's JSONL results (constant memory)")
    p.add_argument("batch_id")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_results)

    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    _accept_global_options_anywhere(parser, sub)
    return parser


_GLOBAL_OPTIONS = ("--definition", "--base-url", "--api-key", "--header", "--state")


def _accept_global_options_anywhere(
    parser: argparse.ArgumentParser, sub: argparse._SubParsersAction[argparse.ArgumentParser]
) -> None:
    """Let ``connector call ... --base-url X`` work as well as ``connector --base-url X call ...``.

    Each command (and sub-command) gets the global options with a suppressed default, so a
    value given after the command wins and an absent one leaves the top-level value alone.
    A command that defines one of them itself (``sandbox --api-key``) keeps its own meaning.
    """
    globals_ = {
        a.option_strings[0]: a
        for a in parser._actions
        if a.option_strings and a.option_strings[0] in _GLOBAL_OPTIONS
    }
    pending = list(sub.choices.values())
    while pending:
        command = pending.pop()
        for option, action in globals_.items():
            if option not in command._option_string_actions:
                repeatable = isinstance(action, argparse._AppendAction)
                command.add_argument(
                    option,
                    dest=action.dest,
                    action="append" if repeatable else "store",
                    default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS,
                )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())


_USAGE_ERRORS = (DefinitionError, InputError, ConfigurationError, WorkflowDefinitionError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
        return code
    except _USAGE_ERRORS as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    except ConnectorError as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("connector: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
