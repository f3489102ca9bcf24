"""Which module brings which command: the one list a part edits to plug its commands in.

A part adds its commands by writing a module with ``add_commands(subparsers)`` (argparse
sub-parsers: add one parser per command, ``set_defaults(func=handler)``; the handler takes the
``argparse.Namespace`` and returns the exit code) and listing it here with each command's
one-line help. The command line imports a module only when one of its commands runs, so
``connector --help`` and ``connector describe`` stay fast (no aiohttp, uvicorn, starlette or
yaml for them); ``tests/test_cli_registry.py`` checks that this list and the modules agree.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

COMMANDS: dict[str, tuple[str, str]] = {
    # command: (module that registers it, its one-line help as shown by `connector --help`)
    "describe": ("connector.cli.describe", "resources, operations and placeholders"),
    "validate": ("connector.cli.describe", "load and lint a definition"),
    "schema": ("connector.cli.describe", "the JSON Schema of the definition format"),
    "call": ("connector.cli.calls", "call one operation"),
    "pull": (
        "connector.cli.pull",
        "a list operation across all pages (incremental, with children, into a database)",
    ),
    "results": ("connector.cli.calls", "stream a batch's JSONL results (constant memory)"),
    "stream": ("connector.cli.engine", "the JSON lines of any JSONL operation"),
    "check": (
        "connector.cli.engine",
        "connectivity, auth and the definition's probe, as Corteza's check",
    ),
    "operation": (
        "connector.cli.engine",
        "run a top-level multi-step operation (Corteza's operations)",
    ),
    "sandbox": ("connector.cli.sandbox", "serve a local imitation of the Anthropic API"),
    "demo": ("connector.cli.demo", "the whole flow on an in-process sandbox: no key, no set-up"),
    "asyncapi": (
        "connector.cli.exports",
        "an AsyncAPI 3.1 document of the webhooks, for subscribers",
    ),
    "openapi": (
        "connector.cli.exports",
        "an OpenAPI 3.1 description of the definition's operations",
    ),
    "subscriptions": ("connector.cli.subscriptions", "who receives which webhooks"),
    "emit": ("connector.cli.emit", "poll the API, detect changes, deliver webhooks"),
    "events": ("connector.cli.events", "the event log and replays"),
    "status": ("connector.cli.status", "webhook delivery health, per subscription"),
    "store": (
        "connector.cli.store",
        "the emitter's state store: schema migrations, copies (SQLite to PostgreSQL)",
    ),
    "receive": (
        "connector.cli.receive",
        "run a verifying webhook subscriber that prints each event as a JSON line",
    ),
    "workflow": ("connector.cli.workflow", "run or validate Arazzo workflows"),
    "batch": ("connector.cli.workflow", "message batches from a JSONL file"),
    "serve": ("connector.cli.serve", "the HTTP API for platforms, with a web console"),
    "tokens": ("connector.cli.serve", "bearer tokens for connector serve"),
}
