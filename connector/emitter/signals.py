"""Operator signals (``docs/emitter.md``, Operations): the emitter's own events about its deliveries.

* ``message.attempt.exhausted``: a delivery used its last attempt and became a dead letter;
* ``endpoint.disabled``: a subscription was disabled (410 Gone, or failing for too long).

They go only to subscriptions that ask for them by name (``--events endpoint.disabled`` or a
prefix such as ``endpoint.*``); an empty filter or ``*`` means "every API event" and does not
include them. A signal about the delivery of a signal is never made, so a failing operator
endpoint cannot feed itself. Ids are deterministic like every event's.
"""

from __future__ import annotations

from connector.emitter.store import Attempt, Event, Lease, build_event

__all__ = ["OPERATIONAL", "SIGNAL_PATH", "disabled_event", "exhausted_event", "is_operational"]

EXHAUSTED = "message.attempt.exhausted"
DISABLED = "endpoint.disabled"
OPERATIONAL = frozenset({EXHAUSTED, DISABLED})
SIGNAL_PATH = "/webhooks/connector/"


def is_operational(event_type: str) -> bool:
    """Whether ``event_type`` is one of the emitter's own signals."""
    return event_type in OPERATIONAL


def exhausted_event(lease: Lease, attempt: Attempt, error: str) -> Event | None:
    """The signal for a delivery that ran out of attempts (None for a signal's own delivery)."""
    if is_operational(lease.event.type):
        return None
    return build_event(
        EXHAUSTED,
        resource="emitter",
        record_id=f"{lease.subscription.id}:{lease.event.id}",
        marker=f"exhausted@{attempt.attempted_at:.6f}",
        data={
            "subscription_id": lease.subscription.id,
            "event_id": lease.event.id,
            "event_type": lease.event.type,
            "attempts": lease.attempts + 1,
            "last_status": attempt.status,
            "last_error": error,
        },
        timestamp=attempt.attempted_at,
        path=SIGNAL_PATH + EXHAUSTED,
        created_at=attempt.attempted_at,
    )


def disabled_event(lease: Lease, reason: str, at: float) -> Event:
    """The signal for a subscription the deliverer just disabled."""
    return build_event(
        DISABLED,
        resource="emitter",
        record_id=lease.subscription.id,
        marker=f"disabled@{at:.6f}",
        data={
            "subscription_id": lease.subscription.id,
            "url": lease.subscription.url,
            "reason": reason,
        },
        timestamp=at,
        path=SIGNAL_PATH + DISABLED,
        created_at=at,
    )
