"""``connector status``: webhook delivery health per subscription (the rules are
:func:`connector.emitter.status.assess`)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from connector.emitter.feed_cursors import list_feeds
from connector.emitter.status import assess
from connector.emitter.views import health_json as _line
from connector.emitter.views import last_answers as _last_answers

__all__ = ["add_commands", "status"]


def status(args: argparse.Namespace) -> int:
    """Print the health report; with ``--check``, exit 1 when something needs attention."""
    from connector.cli.emitter_support import opened_store

    now = time.time()
    with opened_store(args) as store:
        health = store.health()
        answers = _last_answers(store, health)
        quarantined = store.list_quarantined()
        feeds = list_feeds(store)
    for sub in health:
        print(json.dumps(_line(sub, now, answers.get(sub.id))))
    for record in quarantined:
        print(json.dumps({"quarantined": asdict(record)}))
    for feed in feeds:
        print(json.dumps({"feed": asdict(feed)}))
    totals, problems = assess(health, now, args.max_wait, answers, quarantined, feeds)
    print(json.dumps(totals))
    return 1 if args.check and problems else 0


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
