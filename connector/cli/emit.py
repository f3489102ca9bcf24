"""``connector emit``: poll the API, record events, deliver them.

::

    connector emit [--interval SECONDS] [--once] [--backfill] [--allow-private]

Machine output (JSON lines) goes to stdout, messages to stderr. Exit codes: 0 ok, 1 the API
or a subscriber failed, 2 bad usage or input. The global options ``--definition``,
``--base-url``, ``--api-key`` and ``--state`` come from the top-level parser.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import anyio

from connector.cli.emitter_support import command, opened_store, out, rfc3339, say
from connector.cli.hints import refuse_without_credentials
from connector.cli.options import load_configured_definition, settings_from_args
from connector.cli.value_types import positive, whole
from connector.client import AsyncConnector
from connector.emitter.guard import Guard
from connector.emitter.service import DEFAULT_INTERVAL, CycleReport, Emitter, stop_on_signals
from connector.emitter.store import Store

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``emit`` to the CLI."""
    parser = subparsers.add_parser(
        "emit",
        help="poll the API, detect changes, deliver webhooks",
        description="Poll every resource that has webhooks, record events, deliver them.",
    )
    parser.add_argument(
        "--interval",
        type=positive,
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
        type=whole,
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
        type=positive,
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
