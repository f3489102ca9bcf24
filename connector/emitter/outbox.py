"""The outbox rules, independent of any database: what a subscription may be, how its secrets
are kept and rotated, which events it takes, and how ids are made.

The SQL store (:mod:`~connector.emitter.sql_store`) calls these and only stores what they
decide, so SQLite and PostgreSQL behave the same by construction:

* a subscription URL passes the SSRF :class:`~connector.emitter.guard.Guard` when added;
* an event filter is a list of types, ``*`` or ``prefix.*`` (:func:`check_events`,
  :func:`~connector.emitter.store.filter_matches`); the emitter's own signals go only to
  filters that name them (:func:`matching`, :mod:`~connector.emitter.signals`);
* a secret is a ``whsec_`` secret (generated when absent), sealed before it is written; a
  rotation keeps the previous secret signing for 24 h, at most 10 old ones, and drops what
  the key cannot open (:meth:`Outbox.rotation`);
* a row whose secrets cannot be opened reads as a ``broken`` subscription, never an error
  (:meth:`Outbox.subscription`);
* subscription ids are ``sub_`` + 80 random bits; event ids are deterministic
  (:func:`~connector.emitter.store.event_id`).
"""

from __future__ import annotations

import base64
import json
import secrets as _random
from collections.abc import Sequence
from typing import Any

from connector.emitter.guard import Guard
from connector.emitter.sealing import SecretBox
from connector.emitter.signals import is_operational
from connector.emitter.signing import generate_secret, parse_secret
from connector.emitter.store import MAX_OLD_SECRETS, ROTATION_GRACE, Subscription, filter_matches
from connector.errors import StoreError, SubscriptionError

__all__ = ["Outbox", "check_events", "matching", "new_subscription_id"]


def check_events(events: Sequence[str] | str) -> tuple[str, ...]:
    """A valid event filter (``"a,b"`` or a list), or a SubscriptionError naming the bad one."""
    if isinstance(events, str):
        events = [e for e in events.split(",") if e]
    for pattern in events:
        body = pattern[:-2] if pattern.endswith(".*") else pattern
        if pattern != "*" and not all(p and p.replace("_", "a").isalnum() for p in body.split(".")):
            raise SubscriptionError(f"bad event filter {pattern!r}", field="events")
    return tuple(events)


def new_subscription_id() -> str:
    """``sub_`` + 16 base32 characters of randomness."""
    return "sub_" + base64.b32encode(_random.token_bytes(10)).decode().lower()


def matching(subscriptions: Sequence[tuple[str, str]], event_type: str) -> list[str]:
    """The ids of ``(id, events JSON)`` subscriptions whose filter takes ``event_type``; the
    emitter's own signals only go to filters that name them (not to ``*`` or an empty one)."""
    operational = is_operational(event_type)
    chosen = []
    for sid, text in subscriptions:
        patterns = json.loads(text)
        if operational and (not patterns or "*" in patterns):
            continue
        if filter_matches(patterns, event_type):
            chosen.append(sid)
    return chosen


class Outbox:
    """The rules bound to one store's guard and secret box."""

    def __init__(self, guard: Guard, box: SecretBox) -> None:
        self.guard = guard
        self.box = box

    def new_subscription(
        self, url: str, events: Sequence[str] | str, secret: str | None
    ) -> tuple[str, str, str, str]:
        """``(id, url, events JSON, sealed secret)`` for a subscription to add."""
        self.guard.validate_url(url)
        patterns = check_events(events)
        secret = secret or generate_secret()
        parse_secret(secret)
        return new_subscription_id(), url, json.dumps(patterns), self.box.seal(secret)

    def fresh_secret(self, secret: str | None) -> str:
        """The secret a rotation makes current (generated when absent), checked."""
        secret = secret or generate_secret()
        parse_secret(secret)
        return secret

    def rotation(self, current: str, old: str, now: float) -> str:
        """The ``old_secrets`` JSON after a rotation: the sealed ``current`` signs 24 h more,
        old ones keep their expiry, at most 10, and only what this key opens is kept (that is
        how rotating repairs a broken subscription)."""
        kept = [[s, e] for s, e in _old_secrets(old) if e > now and self.opens(s)]
        if self.opens(current):
            kept.insert(0, [current, now + ROTATION_GRACE])
        return json.dumps(kept[:MAX_OLD_SECRETS])

    def opens(self, sealed: object) -> bool:
        """Whether this store's key opens ``sealed``."""
        try:
            self.box.open(str(sealed))
        except StoreError:
            return False
        return True

    def subscription(self, row: Sequence[Any], now: float) -> Subscription:
        """The subscription of a row (``SUBSCRIPTION_COLUMNS`` order). One whose secrets cannot
        be opened (sealed under another key, a tampered row) comes back ``broken``, without
        secrets, saying why: it is never signed for, and it does not stop the others."""
        state, reason = row[5], row[6]
        try:
            old = [self.box.open(s) for s, expires in json.loads(row[4]) if expires > now]
            secrets: tuple[str, ...] = (self.box.open(row[3]), *old)
        except (StoreError, ValueError, TypeError) as exc:
            detail = exc if isinstance(exc, StoreError) else "the stored old secrets are malformed"
            secrets, state = (), "broken"
            reason = f"its signing secret cannot be opened: {detail}"
        return Subscription(
            id=row[0],
            url=row[1],
            events=tuple(json.loads(row[2])),
            secrets=secrets,
            state=state,
            disabled_reason=reason,
            failing_since=row[7],
            created_at=row[8],
            failures=row[9],
        )


def _old_secrets(stored: str) -> list[tuple[object, float]]:
    try:
        return [(s, float(e)) for s, e in json.loads(stored)]
    except (ValueError, TypeError):
        return []
