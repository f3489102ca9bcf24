"""The event log's commands: ``connector events list``, ``events replay``, ``events prune``."""

from __future__ import annotations

import argparse
import json
import time

from connector.cli.emitter_support import (
    REPLAY_WINDOW,
    command,
    opened_store,
    out,
    parse_moment,
    rfc3339,
    say,
)

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``events list|replay|prune`` to the CLI."""
    parser = subparsers.add_parser(
        "events", help="the event log and replays", description="Inspect and replay events."
    )
    commands = parser.add_subparsers(dest="events_command", metavar="COMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="events newest first, as JSON lines")
    listing.add_argument(
        "--status",
        choices=("pending", "delivering", "delivered", "failed"),
        help="only events with a delivery in this status",
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.set_defaults(func=events_list)
    replay = commands.add_parser("replay", help="queue events again for delivery")
    replay.add_argument("event_id", nargs="?", help="the event to send again")
    replay.add_argument("--failed", action="store_true", help="every dead letter in the window")
    replay.add_argument("--since", help="window start: RFC 3339, epoch seconds or 2h/7d ago (30d)")
    replay.add_argument("--until", help="window end (default: now)")
    replay.add_argument("--subscription", metavar="ID", help="only to this subscription")
    replay.set_defaults(func=events_replay)
    prune = commands.add_parser(
        "prune", help="forget settled events older than a moment (default: 30 days)"
    )
    prune.add_argument("--before", help="RFC 3339, epoch seconds or 30d ago (default 30d)")
    prune.set_defaults(func=events_prune)


@command
def events_list(args: argparse.Namespace) -> int:
    """Print events newest first, one JSON line each, with their deliveries."""
    with opened_store(args) as store:
        for info in store.list_events(args.status, limit=args.limit):
            event = info.event
            out(
                {
                    "id": event.id,
                    "type": event.type,
                    "resource": event.resource,
                    "record_id": event.record_id,
                    "path": event.path,
                    "created_at": rfc3339(event.created_at),
                    "body": json.loads(event.body),
                    "deliveries": [
                        {
                            "subscription_id": d.subscription_id,
                            "status": d.status,
                            "attempts": d.attempts,
                            "last_status": d.last_status,
                            "last_error": d.last_error,
                            "next_attempt_at": rfc3339(d.next_attempt_at),
                        }
                        for d in info.deliveries
                    ],
                }
            )
    return 0


@command
def events_replay(args: argparse.Namespace) -> int:
    """Queue one event again, or every dead letter created in the window."""
    if bool(args.event_id) == bool(args.failed):
        say("connector events replay: give either EVENT_ID or --failed")
        return 2
    now = time.time()
    with opened_store(args) as store:
        if args.event_id:
            if args.since or args.until:
                say("connector events replay: --since/--until go with --failed")
                return 2
            queued = store.replay(args.event_id, args.subscription)
            out({"event": args.event_id, "queued": queued})
        else:
            since = parse_moment(args.since, now) if args.since else now - REPLAY_WINDOW
            until = parse_moment(args.until, now, option="--until") if args.until else None
            queued = store.replay_failed(since, until, args.subscription)
            out({"failed": True, "since": rfc3339(since), "queued": queued})
    say(f"connector: {queued} deliveries queued; a running emitter (or emit --once) sends them")
    return 0


@command
def events_prune(args: argparse.Namespace) -> int:
    """Delete settled events (and their deliveries) created before the moment given."""
    now = time.time()
    before = (
        parse_moment(args.before, now, option="--before") if args.before else now - REPLAY_WINDOW
    )
    with opened_store(args) as store:
        pruned = store.prune(before)
    out({"before": rfc3339(before), "pruned": pruned})
    return 0
