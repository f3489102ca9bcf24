"""What becomes of one delivery attempt: the rules that turn its answer into the next step.

* 2xx: delivered (the endpoint's failure clock resets);
* 410 Gone: a dead letter, and the endpoint is disabled at once;
* anything else: tried again after the :class:`~connector.emitter.schedule.RetrySchedule`'s
  next delay (``Retry-After`` honoured, throttling answers slowed), or a dead letter after the
  last attempt. An endpoint failing for ``disable_after`` (5 days, scaled) **and** at least
  :data:`DISABLE_MIN_FAILURES` attempts in a row is disabled, so a wall clock jumping ahead
  cannot disable it alone.

A dead letter and a disabled endpoint also queue their operator signals
(:mod:`~connector.emitter.signals`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from connector.emitter.schedule import THROTTLE_STATUSES, RetrySchedule, parse_retry_after
from connector.emitter.signals import disabled_event, exhausted_event
from connector.emitter.store import Attempt, Event, Lease, Store
from connector.errors import ConnectorError

__all__ = ["DISABLE_MIN_FAILURES", "Outcome", "delivered", "record_attempt"]

log = logging.getLogger("connector.emitter")
DISABLE_MIN_FAILURES = 5


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: ``delivered``, ``retry`` or ``failed`` (dead letter)."""

    delivery_id: int
    result: str
    status: int | None
    error: str | None
    next_attempt_at: float | None = None
    disabled: str | None = None


def delivered(lease: Lease, attempt: Attempt) -> Outcome | None:
    """The outcome of a successful (2xx) attempt, which only needs :meth:`Store.complete`
    (so it can be committed with others); None for any other answer."""
    if attempt.status is not None and 200 <= attempt.status < 300:
        return Outcome(lease.delivery_id, "delivered", attempt.status, None)
    return None


def record_attempt(
    store: Store,
    schedule: RetrySchedule,
    rng: random.Random,
    lease: Lease,
    attempt: Attempt,
    retry_after: str | None,
    timed_out: bool,
) -> Outcome:
    """Record one attempt and decide what follows (see the module docstring)."""
    status, now = attempt.status, attempt.attempted_at
    delivery, sub = lease.delivery_id, lease.subscription
    success = delivered(lease, attempt)
    if success is not None:
        store.complete(lease, attempt)
        return success
    error = attempt.error or f"HTTP {status}"
    if status == 410:
        reason = "the endpoint answered 410 Gone"
        if store.fail(lease, attempt, disable=reason):
            _signal(store, disabled_event(lease, reason, now))
        log.warning("subscription %s disabled: %s", sub.id, reason)
        return Outcome(delivery, "failed", status, error, disabled=reason)
    disable = None
    failing_since = sub.failing_since if sub.failing_since is not None else now
    if (
        now - failing_since >= schedule.disable_after_scaled
        and sub.failures + 1 >= DISABLE_MIN_FAILURES
    ):
        disable = "failing without a success for too long"
        log.warning("subscription %s disabled: %s", sub.id, disable)
    delay = schedule.next_delay(
        lease.attempts + 1,
        throttled=timed_out or status in THROTTLE_STATUSES,
        retry_after=parse_retry_after(retry_after, now),
        rng=rng,
    )
    if delay is None:
        if store.fail(lease, attempt, disable=disable):
            _signal(store, exhausted_event(lease, attempt, error))
            if disable is not None:
                _signal(store, disabled_event(lease, disable, now))
        log.warning("event %s to %s exhausted its attempts: %s", lease.event.id, sub.id, error)
        return Outcome(delivery, "failed", status, error, disabled=disable)
    if store.reschedule(lease, attempt, now + delay, disable=disable) and disable:
        _signal(store, disabled_event(lease, disable, now))
    return Outcome(delivery, "retry", status, error, now + delay, disable)


def _signal(store: Store, event: Event | None) -> None:
    """Queue an operator signal for the subscriptions that asked for it; never raises."""
    if event is None:
        return
    try:
        store.record_event(event)
    except ConnectorError as exc:
        log.error("cannot record the %s signal: %s", event.type, exc)
