"""Time for the sandbox: a clock is any callable returning an aware UTC datetime.

Tests inject a :class:`ManualClock` and move it with :meth:`ManualClock.advance`, so a
batch's whole life (in progress, ended, expired, archived) can be walked without sleeping::

    clock = ManualClock()
    app = create_app(clock=clock, batch_seconds=2.0)
    clock.advance(3)   # every batch created before now has ended
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "ManualClock", "format_time", "system_clock"]

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware UTC datetime."""

_DEFAULT_START = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to.

    It starts at ``start`` (1 November 2026, 12:00 UTC by default) and keeps microseconds,
    like the real API's timestamps.
    """

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or _DEFAULT_START
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._now = moment.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (or back, with a negative value) and return the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (naive datetimes are read as UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        self._now = moment.astimezone(UTC)

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z`` suffix, as the API writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
