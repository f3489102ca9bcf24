"""What the emitter's commands share: the store named by ``--state``, error-to-exit mapping,
output (JSON lines on stdout, messages on stderr), ``--since`` moments, and the write-through
observer ``connector call`` uses."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from connector.cli.exits import USAGE_ERRORS as _USAGE_ERRORS
from connector.config import default_state
from connector.definitions import Definition
from connector.emitter.backends import open_store
from connector.emitter.guard import Guard
from connector.emitter.store import Store
from connector.emitter.views import rfc3339
from connector.emitter.writes import WriteRecorder
from connector.errors import ConfigurationError, ConnectorError, InputError, InputProblem

__all__ = [
    "REPLAY_WINDOW",
    "command",
    "opened_store",
    "out",
    "parse_moment",
    "recording_writes",
    "rfc3339",
    "say",
    "state_location",
]

REPLAY_WINDOW = 30 * 86400.0
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhd])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def say(message: str) -> None:
    """A human message, on stderr."""
    print(message, file=sys.stderr)


def out(value: object) -> None:
    """One JSON line of machine output, on stdout (flushed, so a pipe sees it at once)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def state_location(args: argparse.Namespace) -> str:
    """The store's location: ``--state``, else ``CONNECTOR_STATE`` or the default."""
    return getattr(args, "state", None) or default_state()


def _open(args: argparse.Namespace, *, create: bool = False) -> Store:
    location = state_location(args)
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
    location = state_location(args)
    if not location.startswith(("postgresql://", "postgres://")) and not os.path.exists(location):
        yield None
        return
    store = open_store(location)
    try:
        yield WriteRecorder(definition, store)
    finally:
        store.close()
