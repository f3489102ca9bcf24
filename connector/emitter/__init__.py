"""The synthetic webhook emitter: an outbox store, signed delivery with retries, an SSRF guard.

The poller (list -> snapshot diff -> events) writes through :class:`Store`; the
:class:`Deliverer` leases due deliveries and sends them, signed per Standard Webhooks.
"""

from __future__ import annotations

from connector.emitter.backends import open_store
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.poller import Poller, PollResult
from connector.emitter.schedule import RetrySchedule
from connector.emitter.sender import GuardedSender
from connector.emitter.service import CycleReport, Emitter
from connector.emitter.signing import generate_secret, parse_secret, sign, verify
from connector.emitter.store import (
    Attempt,
    DeliveryInfo,
    Event,
    EventInfo,
    Lease,
    SnapshotRecord,
    Store,
    Subscription,
    build_event,
    event_id,
)
from connector.emitter.writes import WriteRecorder

__all__ = [
    "Attempt",
    "CycleReport",
    "Deliverer",
    "DeliveryInfo",
    "Emitter",
    "Event",
    "EventInfo",
    "Guard",
    "GuardedSender",
    "Lease",
    "PollResult",
    "Poller",
    "RetrySchedule",
    "SnapshotRecord",
    "Store",
    "Subscription",
    "WriteRecorder",
    "build_event",
    "event_id",
    "generate_secret",
    "open_store",
    "parse_secret",
    "sign",
    "verify",
]
