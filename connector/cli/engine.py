"""The engine's own commands: ``connector check`` and ``connector stream``.

``connector check [--set NAME=VALUE]...`` reports, as Corteza's connection check does, three
results: *connectivity* (an HTTP answer came back), *auth* (the credentials were accepted: no
401/403, an OAuth2 token was issued) and *probe* (``service.probe.path`` answered its
``expectedStatus``). Exit 0 when all pass, 1 when one fails, 2 for a definition or setting
that is wrong.

``connector stream HANDLE OPERATION -p NAME=VALUE ...`` writes the objects of any operation
whose ``response.format`` is ``jsonl`` as JSON lines, in constant memory.

``connector operation HANDLE -p NAME=VALUE ...`` runs a top-level multi-step operation and
prints its outputs as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from connector.cli.options import connector_options, load_configured_definition
from connector.client import Connector
from connector.errors import AuthenticationError, InputError, InputProblem, TransportError

__all__ = ["add_commands", "cmd_check", "cmd_operation", "cmd_stream"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``check``, ``stream`` and ``operation`` to the CLI."""
    p = subparsers.add_parser(
        "check", help="connectivity, auth and the definition's probe, as Corteza's check"
    )
    p.set_defaults(func=cmd_check)
    p = subparsers.add_parser("stream", help="the JSON lines of any JSONL operation")
    p.add_argument("handle", help="the resource (message_batches ...)")
    p.add_argument("operation", help="an operation whose response format is jsonl (results)")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="a placeholder value"
    )
    p.set_defaults(func=cmd_stream)
    p = subparsers.add_parser(
        "operation", help="run a top-level multi-step operation (Corteza's operations)"
    )
    p.add_argument("handle", help="the operation's handle")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="an input of the operation"
    )
    p.set_defaults(func=cmd_operation)


def cmd_check(args: argparse.Namespace) -> int:
    definition = load_configured_definition(args)
    for note in definition.notes:
        print(f"note: {note}", file=sys.stderr)
    service = definition.service
    expected = service.probe.expected_status if service and service.probe else None
    results: list[tuple[str, bool | None, str]] = []
    with Connector(definition, **connector_options(args), max_retries=0) as api:
        try:
            response = api.probe()
        except TransportError as exc:
            results += [("connectivity", False, str(exc)), ("auth", None, ""), ("probe", None, "")]
        except AuthenticationError as exc:
            results += [("connectivity", True, "the token endpoint answered")]
            results += [("auth", False, exc.message), ("probe", None, "")]
        else:
            status = response.status_code
            results.append(("connectivity", True, f"HTTP {status}"))
            refused = status in (401, 403)
            results.append(("auth", not refused, f"HTTP {status}" if refused else "accepted"))
            if expected is None:
                results.append(("probe", None, "the definition declares no service.probe"))
            else:
                passed = status == expected
                results.append(("probe", passed, f"HTTP {status}, expected {expected}"))
    failed: bool = False
    for name, ok, detail in results:
        word = "skipped" if ok is None else ("ok" if ok else "FAILED")
        if ok is False:
            failed = True
        print(f"{name}: {word}" + (f" ({detail})" if detail else ""))
    return 1 if failed else 0


def cmd_stream(args: argparse.Namespace) -> int:
    from connector.cli import parse_params

    definition = load_configured_definition(args)
    operation = definition.resource(args.handle).operation(args.operation)
    if operation.response_format != "jsonl":
        problem = InputProblem(
            "operation",
            f"{args.handle}.{args.operation} answers {operation.response_format}, not jsonl; "
            "use `connector call`",
            args.operation,
        )
        raise InputError([problem])
    params = parse_params(args.param or [])
    with Connector(definition, **connector_options(args)) as api:
        for item in api.stream_jsonl(args.handle, args.operation, params):
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
    return 0


def cmd_operation(args: argparse.Namespace) -> int:
    from connector.cli import parse_params
    from connector.cli.output import dumps

    definition = load_configured_definition(args)
    with Connector(definition, **connector_options(args)) as api:
        outputs = api.run(args.handle, parse_params(args.param or []))
    print(dumps(outputs, indent=2))
    return 0
