"""``connector subscriptions``: who receives which webhooks.

::

    connector subscriptions add URL [--events E,...] [--secret S] [--allow-private]
    connector subscriptions list | remove ID | rotate ID [--secret S] | enable ID | disable ID

A signing secret is printed once, when it is generated (``add``, ``rotate``), and never again.
"""

from __future__ import annotations

import argparse
import time

from connector.cli.emitter_support import command, opened_store, out, parse_moment, say
from connector.cli.hints import check_events, guard_hint, same_url
from connector.cli.options import load_configured_definition
from connector.cli.secret_files import add_secret_file
from connector.emitter.views import subscription_json as _subscription_json
from connector.errors import SubscriptionError, UnsafeDestinationError

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``subscriptions add|list|remove|rotate|enable|disable`` to the CLI."""
    parser = subparsers.add_parser(
        "subscriptions", help="who receives which webhooks", description="Manage subscribers."
    )
    commands = parser.add_subparsers(dest="subscriptions_command", metavar="COMMAND")
    commands.required = True
    add = commands.add_parser("add", help="add an endpoint; prints its secret once")
    add.add_argument("url", help="the endpoint; each event is POSTed to URL + the webhook path")
    add.add_argument("--events", default="", help="comma-separated types or prefixes (files.*)")
    add.add_argument("--secret", help="a whsec_ secret to use instead of a generated one")
    add_secret_file(add, "--secret-file", dest="secret", help="read that whsec_ secret from FILE")
    add.add_argument(
        "--since",
        metavar="T",
        help="also send the stored events since T (RFC 3339, epoch or 2h/7d ago); default: only new ones",
    )
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow http, loopback and private hosts and any port (local testing)",
    )
    add.add_argument(
        "--replace",
        action="store_true",
        help="replace the subscription(s) this URL already has (their queued deliveries go)",
    )
    add.set_defaults(func=subscriptions_add)
    listing = commands.add_parser("list", help="every subscription as JSON lines (no secrets)")
    listing.set_defaults(func=subscriptions_list)
    remove = commands.add_parser("remove", help="delete a subscription and its deliveries")
    remove.add_argument("id", help="the subscription, sub_...")
    remove.set_defaults(func=subscriptions_remove)
    rotate = commands.add_parser(
        "rotate", help="new secret (printed once); the old one keeps signing for 24 h"
    )
    rotate.add_argument("id", help="the subscription, sub_...")
    rotate.add_argument("--secret", help="the new whsec_ secret (default: generated)")
    add_secret_file(rotate, "--secret-file", dest="secret", help="read the new secret from FILE")
    rotate.set_defaults(func=subscriptions_rotate)
    enable = commands.add_parser("enable", help="resume a disabled subscription")
    enable.add_argument("id", help="the subscription, sub_...")
    enable.set_defaults(func=subscriptions_enable)
    disable = commands.add_parser("disable", help="pause a subscription, keeping its queue")
    disable.add_argument("id", help="the subscription, sub_...")
    disable.add_argument(
        "--reason", default="disabled by the operator", help="shown by status and list"
    )
    disable.set_defaults(func=subscriptions_disable)


@command
def subscriptions_add(args: argparse.Namespace) -> int:
    """Add a subscription; print it as JSON, with the secret only if it was generated here."""
    events = [e.strip() for e in args.events.split(",") if e.strip()]
    check_events(events, load_configured_definition(args))
    url = args.url
    if "://" not in url:
        raise SubscriptionError(
            f"{url!r} has no scheme: write https://{url} (or http://{url} with "
            "--allow-private for local testing)",
            field="url",
        )
    since = parse_moment(args.since, time.time()) if args.since else None
    with opened_store(args, create=True) as store:
        same = [s for s in store.list_subscriptions() if same_url(s.url, url)]
        if same and not args.replace:
            ids = ", ".join(s.id for s in same)
            raise SubscriptionError(
                f"{url} already has a subscription ({ids}); pass --replace to replace it "
                f"(its queued deliveries are dropped), or remove it first "
                f"(connector subscriptions remove {same[0].id})",
                field="url",
            )
        try:
            sub = store.add_subscription(url, events, args.secret)
        except UnsafeDestinationError as exc:
            raise UnsafeDestinationError(
                f"{exc}{guard_hint(args)}", url=exc.url, address=exc.address
            ) from None
        for old in same:
            store.remove_subscription(old.id)
            say(f"connector: replaced {old.id} (same URL) by {sub.id}")
        caught_up = store.queue_history(sub.id, since) if since is not None else 0
    shown = _subscription_json(sub)
    if since is not None:
        shown["queued_from_history"] = caught_up
    if not args.secret:
        shown["secret"] = sub.secrets[0]
        say("connector: keep this secret now: it will not be shown again")
    out(shown)
    return 0


@command
def subscriptions_list(args: argparse.Namespace) -> int:
    """Print every subscription as one JSON line, without its secrets."""
    with opened_store(args) as store:
        for sub in store.list_subscriptions():
            out(_subscription_json(sub))
    return 0


@command
def subscriptions_remove(args: argparse.Namespace) -> int:
    """Delete a subscription with its queued deliveries."""
    with opened_store(args) as store:
        store.remove_subscription(args.id)
    out({"id": args.id, "removed": True})
    return 0


@command
def subscriptions_rotate(args: argparse.Namespace) -> int:
    """Make a new secret current; print it once. The old one keeps signing for 24 h."""
    with opened_store(args) as store:
        secret = store.rotate_secret(args.id, args.secret)
    shown: dict[str, object] = {"id": args.id, "rotated": True}
    if not args.secret:
        shown["secret"] = secret
        say("connector: keep this secret now: it will not be shown again")
    say("connector: the previous secret keeps signing (alongside) for 24 h")
    out(shown)
    return 0


@command
def subscriptions_enable(args: argparse.Namespace) -> int:
    """Resume deliveries to a disabled subscription."""
    with opened_store(args) as store:
        store.enable_subscription(args.id)
        out(_subscription_json(store.get_subscription(args.id)))
    return 0


@command
def subscriptions_disable(args: argparse.Namespace) -> int:
    """Pause a subscription; its queued deliveries wait for ``enable``."""
    with opened_store(args) as store:
        store.disable_subscription(args.id, args.reason)
        out(_subscription_json(store.get_subscription(args.id)))
    return 0
