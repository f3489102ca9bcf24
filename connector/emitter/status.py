"""``connector status``: the emitter's health at a glance, for people and for monitoring.

One JSON line per subscription (state, deliveries by status, how long the oldest waiting event
has waited) and a last line with the totals. With ``--check`` the exit code says whether all is
well, so a cron job or a monitoring agent can alert on it:

* 0: every subscription is active (not disabled, not ``broken``: a secret the state key
  cannot open), no dead letters, nothing has waited longer than ``--max-wait`` (default
  1 h), no record quarantined in the last day (a poison record the poller set aside), no
  feed trigger whose last poll failed (a bad answer: its cursor waits);
* 1: at least one of those is not so (the reasons are listed in the totals line).

:func:`report` gathers it all from a store, for the command and for the service's health
route (``connector serve``) alike; :func:`assess` is the rule that turns it into problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from connector.emitter.feed_cursors import FeedState, list_feeds
from connector.emitter.store import QuarantinedRecord, Store, SubscriptionHealth
from connector.emitter.views import health_json, last_answers

# A quarantined record counts as a problem while the poller keeps meeting it (and a day after).
QUARANTINE_HORIZON = 86400.0

__all__ = ["StatusReport", "assess", "report"]


_REFUSED = {401: "rejects our signatures", 403: "refuses our deliveries"}


def assess(
    health: list[SubscriptionHealth],
    now: float,
    max_wait: float,
    last_answers: dict[str, int | None] | None = None,
    quarantined: Sequence[QuarantinedRecord] = (),
    feeds: Sequence[FeedState] = (),
) -> tuple[dict[str, object], list[str]]:
    """The totals line and the list of problems (empty when all is well). ``last_answers``:
    the last HTTP status of each failing subscription; a 401 or 403 counts against health at
    once (the endpoint will not accept anything until its secret or access is fixed).
    ``quarantined``: poison records the poller set aside; ``feeds``: the feed triggers' state
    (a capped poll or a reseed is shown with its feed, not counted as a problem)."""
    problems: list[str] = [
        f"{q.resource} record {q.record_id} is quarantined: {q.reason}"
        for q in quarantined
        if now - q.last_at <= QUARANTINE_HORIZON
    ]
    problems += [f"feed {f.event} of {f.resource}: {f.problem}" for f in feeds if f.problem]
    for sub in health:
        answer = (last_answers or {}).get(sub.id)
        if sub.state == "active" and answer in _REFUSED:
            problems.append(
                f"{sub.id} ({sub.url}) {_REFUSED[answer]} (HTTP {answer}): check that the "
                "receiver uses this subscription's secret (connector subscriptions rotate ID, "
                "or add --replace for a new one)"
            )
        if sub.state != "active":
            problems.append(f"{sub.id} is {sub.state}: {sub.disabled_reason or 'no reason given'}")
        if sub.failed:
            problems.append(
                f"{sub.id} has {sub.failed} dead letter(s) (connector events replay --failed)"
            )
        if sub.oldest_waiting_at is not None and now - sub.oldest_waiting_at > max_wait:
            waited = now - sub.oldest_waiting_at
            problems.append(f"{sub.id} has an event waiting for {waited:.0f} s")
    totals: dict[str, object] = {
        "subscriptions": len(health),
        "active": sum(1 for s in health if s.state == "active"),
        "pending": sum(s.pending + s.delivering for s in health),
        "delivered": sum(s.delivered for s in health),
        "failed": sum(s.failed for s in health),
        "quarantined": len(quarantined),
        "feeds": len(feeds),
        "healthy": not problems,
        "problems": problems,
    }
    return totals, problems


@dataclass(frozen=True)
class StatusReport:
    """Everything ``connector status`` shows, as JSON values: one line per subscription
    (:func:`~connector.emitter.views.health_json`), the quarantined records, the feed
    triggers' state, and the totals with the problems (:func:`assess`)."""

    subscriptions: list[dict[str, object]]
    quarantined: list[dict[str, object]]
    feeds: list[dict[str, object]]
    totals: dict[str, object]
    problems: list[str]


def report(store: Store, now: float, max_wait: float) -> StatusReport:
    """The store's delivery health at ``now`` (events may wait ``max_wait`` seconds)."""
    health = store.health()
    answers = last_answers(store, health)
    quarantined = store.list_quarantined()
    feeds = list_feeds(store)
    totals, problems = assess(health, now, max_wait, answers, quarantined, feeds)
    return StatusReport(
        [health_json(sub, now, answers.get(sub.id)) for sub in health],
        [asdict(record) for record in quarantined],
        [asdict(feed) for feed in feeds],
        totals,
        problems,
    )
