"""``connector status``: the emitter's health at a glance, for people and for monitoring.

One JSON line per subscription (state, deliveries by status, how long the oldest waiting event
has waited) and a last line with the totals. With ``--check`` the exit code says whether all is
well, so a cron job or a monitoring agent can alert on it:

* 0: every subscription is active (not disabled, not ``broken``: a secret the state key
  cannot open), no dead letters, nothing has waited longer than ``--max-wait`` (default
  1 h), no record quarantined in the last day (a poison record the poller set aside);
* 1: at least one of those is not so (the reasons are listed in the totals line).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict

from connector.emitter.store import QuarantinedRecord, Store, SubscriptionHealth

# A quarantined record counts as a problem while the poller keeps meeting it (and a day after).
QUARANTINE_HORIZON = 86400.0

__all__ = ["add_commands", "assess", "status"]


_REFUSED = {401: "rejects our signatures", 403: "refuses our deliveries"}


def assess(
    health: list[SubscriptionHealth],
    now: float,
    max_wait: float,
    last_answers: dict[str, int | None] | None = None,
    quarantined: Sequence[QuarantinedRecord] = (),
) -> tuple[dict[str, object], list[str]]:
    """The totals line and the list of problems (empty when all is well). ``last_answers``:
    the last HTTP status of each failing subscription; a 401 or 403 counts against health at
    once (the endpoint will not accept anything until its secret or access is fixed).
    ``quarantined``: poison records the poller set aside."""
    problems: list[str] = [
        f"{q.resource} record {q.record_id} is quarantined: {q.reason}"
        for q in quarantined
        if now - q.last_at <= QUARANTINE_HORIZON
    ]
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
        "healthy": not problems,
        "problems": problems,
    }
    return totals, problems


def _last_answers(store: Store, health: list[SubscriptionHealth]) -> dict[str, int | None]:
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


def _line(sub: SubscriptionHealth, now: float, answer: int | None) -> dict[str, object]:
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


def status(args: argparse.Namespace) -> int:
    """Print the health report; with ``--check``, exit 1 when something needs attention."""
    from connector.emitter.command_support import opened_store

    now = time.time()
    with opened_store(args) as store:
        health = store.health()
        answers = _last_answers(store, health)
        quarantined = store.list_quarantined()
    for sub in health:
        print(json.dumps(_line(sub, now, answers.get(sub.id))))
    for record in quarantined:
        print(json.dumps({"quarantined": asdict(record)}))
    totals, problems = assess(health, now, args.max_wait, answers, quarantined)
    print(json.dumps(totals))
    return 1 if args.check and problems else 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connector status``."""
    parser = subparsers.add_parser("status", help="webhook delivery health, per subscription")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when something needs attention"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long an event may wait (default 3600)",
    )
    parser.set_defaults(func=status)
