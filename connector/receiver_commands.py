"""The ``connector receive`` command: a verifying subscriber that prints each event.

``connector receive --port 9000 --secret S [--secret OLD] [--host 127.0.0.1]`` serves the
receiver app; each verified, new event is written to stdout as one JSON line
``{"id", "type", "timestamp", "data"}``; messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

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
        required=True,
        metavar="S",
        help="the subscription's whsec_ secret; repeat during a rotation",
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

    try:
        app = create_receiver_app(
            args.secret, handlers={"*": _print_event}, tolerance=args.tolerance
        )
    except SubscriptionError as exc:
        print(f"connector receive: {exc}", file=sys.stderr)
        return 2
    print(f"connector receive: listening on http://{args.host}:{args.port}/", file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    uvicorn.Server(config).run()
    return 0
