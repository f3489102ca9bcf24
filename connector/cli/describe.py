"""``connector describe``, ``validate`` and ``schema``: what a definition offers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from connector.cli.options import load_configured_definition

# One description for the CLI and the service (each operation with its form's JSON Schema).
from connector.forms import describe_resource

from .output import console, is_terminal, plural, print_json, say

if TYPE_CHECKING:
    from connector.types import JSON

__all__ = ["add_commands", "cmd_describe", "cmd_schema", "cmd_validate"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``describe``, ``validate`` and ``schema``."""
    p = subparsers.add_parser(
        "describe",
        help="resources, operations and placeholders",
        description="What the definition offers: each resource's operations with the "
        "placeholders they take (-p NAME=VALUE), its record fields and its webhooks.",
    )
    p.add_argument("handle", nargs="?", help="one resource (default: all)")
    p.add_argument(
        "--json", action="store_true", help="machine-readable output (the default on a pipe)"
    )
    p.set_defaults(func=cmd_describe)

    p = subparsers.add_parser(
        "validate",
        help="load and lint a definition",
        description="Load a definition and report every problem with its JSON location.",
    )
    p.add_argument("file", help="the definition (JSON)")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser(
        "schema",
        help="the JSON Schema of the definition format",
        description="Print the JSON Schema a definition is validated against (for editors).",
    )
    p.set_defaults(func=cmd_schema)


def cmd_describe(args: argparse.Namespace) -> int:
    """Print the resources: a table per resource on a terminal, JSON otherwise."""
    definition = load_configured_definition(args)
    resources = [definition.resource(args.handle)] if args.handle else definition.resources
    described = [describe_resource(r) for r in resources]
    if args.json or not is_terminal():
        print_json(described)
        return 0
    _print_described(described)
    return 0


def _print_described(described: list[dict[str, JSON]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = console(sys.stdout)
    for number, resource in enumerate(described):
        if number:
            out.print()
        title = Text.assemble(
            (resource["handle"], "bold"), "  ", (resource["endpoint"], "dim"), "  ",
            resource["description"] or "",
        )  # fmt: skip
        out.print(title)
        table = Table(
            box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, header_style="bold cyan"
        )
        table.add_column("operation", no_wrap=True)
        table.add_column("method", no_wrap=True)
        table.add_column("-p NAME=<type> (* required)", overflow="fold")
        table.add_column("description", overflow="fold", ratio=1)
        for op in resource["operations"]:
            table.add_row(op["name"], op["method"], "", op["description"] or "", style="bold")
            for p in op["placeholders"]:
                options = f" (one of {', '.join(map(str, p['options']))})" if "options" in p else ""
                table.add_row(
                    "",
                    "",
                    f"{p['name']}{'*' if p['required'] else ''}=<{p['type']}>",
                    f"{p['description'] or ''}{options}",
                )
        out.print(table)
        extra = Table.grid(padding=(0, 2))
        extra.add_column(style="bold", no_wrap=True)
        extra.add_column(overflow="fold")
        if resource["fields"]:
            extra.add_row(
                "fields", ", ".join(f"{f['name']} ({f['type']})" for f in resource["fields"])
            )
        for hook in resource["webhooks"]:
            payload = ", ".join(hook["payload"])
            extra.add_row("webhook", f"{hook['event']}" + (f"  data: {payload}" if payload else ""))
        out.print(extra)


def cmd_validate(args: argparse.Namespace) -> int:
    """Load ``file``; every problem is reported (exit 2) or it is valid."""
    from connector.definitions import load_definition

    definition = load_definition(Path(args.file))
    operations = sum(len(r.operations) for r in definition.resources)
    webhooks = sum(len(r.webhooks) for r in definition.resources)
    counts = ", ".join(
        (
            plural(len(definition.resources), "resources"),
            plural(operations, "operations"),
            plural(webhooks, "webhooks"),
        )
    )
    say(f"{args.file}: valid ({counts})")
    # What an untrusted definition can read from the environment, said before it is run.
    variables = ", ".join(definition.environment_variables) or "none"
    say(f"environment variables read: {variables}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the definition format's JSON Schema."""
    from connector.definitions import definition_json_schema

    print_json(definition_json_schema())
    return 0
