"""The emitter's commands: ``subscriptions``, ``emit`` and ``events``.

::

    connector subscriptions add URL [--events E,...] [--secret S] [--allow-private]
    connector subscriptions list | remove ID | rotate ID [--secret S] | enable ID | disable ID
    connector emit [--interval SECONDS] [--once] [--backfill] [--allow-private]
    connector events list [--status failed] [--limit N]
    connector events replay EVENT_ID [--subscription ID]
    connector events replay --failed [--since T] [--until T] [--subscription ID]

Machine output (JSON, JSONL) goes to stdout, messages to stderr. A signing secret is printed
once, when it is generated (``add``, ``rotate``), and never again. Exit codes: 0 ok, 1 the API
or a subscriber failed, 2 bad usage or input. The global options ``--definition``,
``--base-url``, ``--api-key`` and ``--state`` come from the top-level parser.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import anyio

from connector.cli.exits import USAGE_ERRORS as _USAGE_ERRORS
from connector.cli.hints import check_events, guard_hint, refuse_without_credentials, same_url
from connector.cli.options import load_configured_definition, settings_from_args
from connector.cli.secret_files import add_secret_file
from connector.client import AsyncConnector
from connector.config import default_state
from connector.definitions import Definition
from connector.emitter.guard import Guard
from connector.emitter.service import DEFAULT_INTERVAL, CycleReport, Emitter, stop_on_signals
from connector.emitter.store import Store, open_store
from connector.emitter.views import rfc3339
from connector.emitter.views import subscription_json as _subscription_json
from connector.emitter.writes import WriteRecorder
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InputError,
    InputProblem,
    SubscriptionError,
    UnsafeDestinationError,
)

__all__ = [
    "REPLAY_WINDOW",
    "add_commands",
    "command",
    "opened_store",
    "out",
    "parse_moment",
    "recording_writes",
    "rfc3339",
    "say",
]

REPLAY_WINDOW = 30 * 86400.0
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhd])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``subscriptions`` and ``emit`` to the CLI (``events`` is in :mod:`connector.cli.events`,
    ``store`` in :mod:`connector.cli.store`)."""
    _add_subscriptions(subparsers)
    _add_emit(subparsers)


def _add_subscriptions(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_emit(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emit",
        help="poll the API, detect changes, deliver webhooks",
        description="Poll every resource that has webhooks, record events, deliver them.",
    )
    parser.add_argument(
        "--interval",
        type=_positive,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between polls ({DEFAULT_INTERVAL:g})",
    )
    parser.add_argument("--once", action="store_true", help="one poll and delivery pass, then exit")
    parser.add_argument(
        "--backfill", action="store_true", help="the first poll fires events for existing records"
    )
    parser.add_argument(
        "--allow-private", action="store_true", help="deliver to http and private/loopback hosts"
    )
    parser.add_argument(
        "--resource", action="append", metavar="HANDLE", help="poll only this resource (repeat)"
    )
    parser.add_argument(
        "--sweep-every",
        type=_whole,
        default=None,
        metavar="N",
        help="list resources with a *.deleted webhook completely only every N-th poll (1)",
    )
    parser.add_argument(
        "--release-held",
        action="store_true",
        help="accept deletions the mass-vanish guard is holding (after checking the API)",
    )
    parser.add_argument(
        "--grace",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="on stop, cancel attempts still running after this long (default: let them finish)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="N",
        help="serve Prometheus metrics at http://HOST:N/metrics",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics listen on (127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.set_defaults(func=emit)


# helpers ---------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _whole(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1: {text!r}")
    return int(text)


def say(message: str) -> None:
    """A human message, on stderr."""
    print(message, file=sys.stderr)


def out(value: object) -> None:
    """One JSON line of machine output, on stdout (flushed, so a pipe sees it at once)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _state(args: argparse.Namespace) -> str:
    return getattr(args, "state", None) or default_state()


def _open(args: argparse.Namespace, *, create: bool = False) -> Store:
    location = _state(args)
    if (
        not create
        and not location.startswith(("postgresql://", "postgres://"))
        and not os.path.exists(location)
    ):
        # Reading commands never leave an empty store (and its key file) behind by accident.
        raise ConfigurationError(
            f"no emitter state at {location}: add a subscription first "
            "(connector subscriptions add URL), or point --state / CONNECTOR_STATE at the store",
            setting="--state",
        )
    guard = Guard(allow_private=bool(getattr(args, "allow_private", False)))
    return open_store(location, guard=guard)


@contextmanager
def opened_store(args: argparse.Namespace, *, create: bool = False) -> Iterator[Store]:
    """The store named by ``--state`` / ``CONNECTOR_STATE``, closed on exit; only ``create``
    makes one where none exists."""
    store = _open(args, create=create)
    try:
        yield store
    finally:
        store.close()


def command(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Map the library's errors to exit codes and one line on stderr."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return body(args)
        except _USAGE_ERRORS as exc:
            say(f"connector: {exc}")
            return 2
        except ConnectorError as exc:
            say(f"connector: {exc}")
            return 1

    handler.__name__ = body.__name__
    handler.__doc__ = body.__doc__
    return handler


def parse_moment(text: str, now: float, *, option: str = "--since") -> float:
    """Epoch seconds from RFC 3339, epoch seconds, or a duration ago (``90m``, ``2h``, ``7d``)."""
    text = text.strip()
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problem = InputProblem(option, "not RFC 3339, epoch seconds or a duration (2h, 7d)", text)
        raise InputError([problem]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# subscriptions ---------------------------------------------------------------------------


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


# emit ------------------------------------------------------------------------------------


@command
def emit(args: argparse.Namespace) -> int:
    """Poll and deliver: one pass with ``--once`` (exit 1 if anything failed), else until
    SIGTERM or Ctrl-C."""
    _log_to_stderr()
    definition = load_configured_definition(args)
    settings = settings_from_args(args)
    refuse_without_credentials(definition, settings)
    connector = AsyncConnector(definition, **settings.connector_options())
    with opened_store(args, create=True) as store:
        return anyio.run(_emit, args, connector, store)


def _log_to_stderr() -> None:
    """The emitter's own log lines (alerts, disabled endpoints) on stderr, once."""
    logger = logging.getLogger("connector")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("connector emit: %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


async def _emit(args: argparse.Namespace, connector: AsyncConnector, store: Store) -> int:
    async with connector:
        return await _emit_with(args, connector, store)


async def _emit_with(args: argparse.Namespace, connector: AsyncConnector, store: Store) -> int:
    stop = anyio.Event()
    emitter = Emitter(
        connector,
        store,
        guard=Guard(allow_private=args.allow_private),
        resources=args.resource,
        backfill=args.backfill,
        sweep_every=args.sweep_every,
        release_held=args.release_held,
    )
    unknown = set(args.resource or ()) - {p.handle for p in emitter.pollers}
    if unknown:
        await emitter.aclose()
        say(f"connector emit: not a pollable resource: {', '.join(sorted(unknown))}")
        return 2
    if args.metrics_port is not None:
        from connector.emitter.metrics import Metrics

        metrics = Metrics()
        emitter.measure(metrics)
        try:
            metrics.serve(args.metrics_port, args.metrics_host)
        except OSError as exc:
            await emitter.aclose()
            say(f"connector emit: cannot serve metrics on port {args.metrics_port}: {exc.strerror}")
            return 2
        say(f"connector emit: metrics at http://{args.metrics_host}:{args.metrics_port}/metrics")
    async with emitter, anyio.create_task_group() as group:
        group.start_soon(stop_on_signals, stop, _announce)
        if args.once:
            report = await emitter.run_once(stop=stop)
            group.cancel_scope.cancel()
            out(report.to_json())
            _say_if_nobody_listens(store)
            if emitter.failure:
                say(f"connector emit: the state store failed: {emitter.failure}")
            return 0 if report.ok and not stop.is_set() and not emitter.failure else 1
        cycles = 0

        def show(report: CycleReport) -> None:
            nonlocal cycles
            cycles += 1
            if report.events or not report.ok or any(p.held for p in report.polls):
                out({"cycle": cycles, "at": rfc3339(time.time()), **report.to_json()})

        say(f"connector emit: polling every {args.interval:g} s; Ctrl-C to stop")
        _say_if_nobody_listens(store)
        await emitter.run(stop, interval=args.interval, grace=args.grace, on_cycle=show)
        group.cancel_scope.cancel()
    if emitter.failure:
        say(f"connector emit: stopped: the state store failed: {emitter.failure}")
        return 1
    say("connector emit: stopped")
    return 0


def _say_if_nobody_listens(store: Store) -> None:
    if not store.list_subscriptions():
        say(
            "connector emit: no subscriptions yet, so events are recorded but sent nowhere; "
            "add one with: connector subscriptions add URL (http://127.0.0.1:PORT needs "
            "--allow-private)"
        )


def _announce(name: str) -> None:
    say(f"connector emit: {name}, finishing in-flight work")


# write-through ---------------------------------------------------------------------------


@contextmanager
def recording_writes(
    args: argparse.Namespace, definition: Definition
) -> Iterator[WriteRecorder | None]:
    """An ``on_write`` observer for other commands (``connector call``), or None.

    It records ``<handle>.created`` for creates only where an emitter state store already
    exists (``--state``), so a plain API call never leaves a state file behind::

        with recording_writes(args, definition) as on_write:
            connector = Connector(definition, ..., on_write=on_write)
    """
    location = _state(args)
    if not location.startswith(("postgresql://", "postgres://")) and not os.path.exists(location):
        yield None
        return
    store = open_store(location)
    try:
        yield WriteRecorder(definition, store)
    finally:
        store.close()
