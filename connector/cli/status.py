"""``connector status``: webhook delivery health per subscription (the rules are
:func:`connector.emitter.status.report`, shared with the service)."""

from __future__ import annotations

import argparse
import json
import time

from connector.emitter.status import report

__all__ = ["add_commands", "status"]


def status(args: argparse.Namespace) -> int:
    """Print the health report; with ``--check``, exit 1 when something needs attention."""
    from connector.cli.emitter_support import opened_store

    now = time.time()
    with opened_store(args) as store:
        found = report(store, now, args.max_wait)
    for line in found.subscriptions:
        print(json.dumps(line))
    for record in found.quarantined:
        print(json.dumps({"quarantined": record}))
    for feed in found.feeds:
        print(json.dumps({"feed": feed}))
    print(json.dumps(found.totals))
    return 1 if args.check and found.problems else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector status``."""
    parser = subparsers.add_parser("status", help="webhook delivery health, per subscription")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when something needs attention"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long an event may wait (default 3600)",
    )
    parser.set_defaults(func=status)
