"""The emitter's records as JSON, shared by the CLI and the service (``connector serve``).

One shape for a subscription (never its secrets: only how many are valid) and one for a
subscription's delivery health (what ``connector status`` prints per subscription).
"""

from __future__ import annotations

from datetime import UTC, datetime

from connector.emitter.store import Store, Subscription, SubscriptionHealth

__all__ = ["health_json", "last_answers", "rfc3339", "subscription_json"]


def rfc3339(value: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC text (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


def subscription_json(sub: Subscription) -> dict[str, object]:
    """A subscription without its secrets (``secrets`` is how many sign at the moment)."""
    return {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events) or ["*"],
        "state": sub.state,
        "disabled_reason": sub.disabled_reason,
        "failing_since": rfc3339(sub.failing_since),
        "created_at": rfc3339(sub.created_at),
        "secrets": len(sub.secrets),
    }


def last_answers(store: Store, health: list[SubscriptionHealth]) -> dict[str, int | None]:
    """The last HTTP status each failing subscription got (None: no answer at all)."""
    answers: dict[str, int | None] = {}
    for sub in health:
        if sub.failing_since is None:
            continue
        tried = [
            d for d in store.list_deliveries(subscription_id=sub.id, status="pending") if d.attempts
        ]
        if tried:
            answers[sub.id] = max(tried, key=lambda d: d.updated_at).last_status
    return answers


def health_json(
    sub: SubscriptionHealth, now: float, answer: int | None = None
) -> dict[str, object]:
    """One subscription's delivery health, ages in seconds from ``now``; ``answer`` is the
    last HTTP status it got while failing."""
    return {
        "id": sub.id,
        "url": sub.url,
        "state": sub.state,
        "disabled_reason": sub.disabled_reason,
        "failing_for_s": None if sub.failing_since is None else round(now - sub.failing_since, 1),
        "last_status": answer,
        "pending": sub.pending,
        "delivering": sub.delivering,
        "delivered": sub.delivered,
        "failed": sub.failed,
        "oldest_waiting_s": None
        if sub.oldest_waiting_at is None
        else round(now - sub.oldest_waiting_at, 1),
    }
