"""The ``connector receive`` command: a verifying subscriber that prints each event.

``connector receive --port 9000 --secret S [--secret OLD] [--host 127.0.0.1]`` serves the
receiver app; each verified, new event is written to stdout as one JSON line
``{"id", "type", "timestamp", "data"}``; messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.cli.secret_files import add_secret_file
from connector.errors import SubscriptionError
from connector.receiver import ReceivedEvent, create_receiver_app

__all__ = ["add_commands", "receive"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``receive`` to the CLI."""
    parser = subparsers.add_parser(
        "receive",
        help="run a verifying webhook subscriber that prints each event as a JSON line",
        description="Verify Standard Webhooks deliveries and print each event as a JSON line.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port to listen on (9000)")
    parser.add_argument(
        "--secret",
        action="append",
        metavar="S",
        help="the subscription's whsec_ secret; repeat during a rotation (prefer "
        "--secret-file or CONNECTOR_WEBHOOK_SECRET: flags show in ps)",
    )
    add_secret_file(
        parser,
        "--secret-file",
        dest="secret",
        repeatable=True,
        help="read the secret(s) from FILE, one a line ('-': stdin)",
    )
    parser.add_argument(
        "--tolerance", type=int, default=300, help="accepted clock skew in seconds (300)"
    )
    parser.set_defaults(func=receive)


def _print_event(event: ReceivedEvent) -> None:
    line = {"id": event.id, "type": event.type, "timestamp": event.timestamp, "data": event.data}
    text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        # A lone surrogate (valid JSON, signed by the sender) or a terminal that cannot show
        # a character: print the same JSON with \u escapes rather than fail the delivery.
        text = json.dumps(line, ensure_ascii=True, separators=(",", ":"))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def receive(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit 2 on a bad secret."""
    import uvicorn

    secrets = args.secret or os.environ.get("CONNECTOR_WEBHOOK_SECRET", "").split()
    if not secrets:
        print(
            "connector receive: no signing secret: pass --secret-file FILE, set "
            "CONNECTOR_WEBHOOK_SECRET, or --secret S",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_receiver_app(secrets, handlers={"*": _print_event}, tolerance=args.tolerance)
    except SubscriptionError as exc:
        print(f"connector receive: {exc}", file=sys.stderr)
        return 2
    print(f"connector receive: listening on http://{args.host}:{args.port}/", file=sys.stderr)
    config = uvicorn.Config(
        _LogRejections(app), host=args.host, port=args.port, log_level="warning"
    )
    uvicorn.Server(config).run()
    return 0


class _LogRejections:
    """Print one stderr line for every delivery the receiver refuses, with the reason (a
    wrong secret shows up here at once, not only as retries on the sender's side)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = b""

        async def watch(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400:
                body += message.get("body", b"")
                if not message.get("more_body"):
                    _say_rejected(scope, status, body)
            await send(message)

        await self.app(scope, receive, watch)


def _say_rejected(scope: Scope, status: int, body: bytes) -> None:
    try:
        problem = json.loads(body)
        reason = f"{problem.get('error')}: {problem.get('message')}"
    except (ValueError, AttributeError):
        reason = "refused"
    client = scope.get("client") or ("?", 0)
    print(
        f"connector receive: rejected {scope['method']} {scope['path']} from {client[0]}: "
        f"{status} {reason}",
        file=sys.stderr,
        flush=True,
    )
