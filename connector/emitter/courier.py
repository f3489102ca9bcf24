"""One delivery attempt: sign, POST the frozen bytes, time it, and say what happened.

The :class:`Courier` sends a leased delivery's body byte-identical to
``subscription.url + event.path`` with fresh Standard Webhooks headers (``webhook-timestamp``
is the attempt time). The URL text goes through the guard before every attempt (the sender
checks it again, and its resolver checks every address it dials). The sender bounds the whole
request by the deadline itself (aiohttp's own total timeout; ``anyio.fail_after`` for an
httpx transport), so an attempt opens no cancel scope of its own. Each subscription's secrets
are parsed once into a :class:`~connector.emitter.signing.Signer`, kept while they stay the
same.

What happened is a :class:`Sent`: the :class:`~connector.emitter.store.Attempt` to record,
the answer's ``Retry-After`` and whether it timed out; recording it is
:mod:`~connector.emitter.outcomes`' business.

Example::

    courier = Courier(sender, guard, clock=time.time, user_agent="connector-webhooks/1")
    sent = await courier.attempt(lease)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.emitter.guard import Guard
from connector.emitter.sender import Sender, SendFailed, SendTimeout
from connector.emitter.signing import Signer
from connector.emitter.store import Attempt, Lease
from connector.errors import UnsafeDestinationError

__all__ = ["RESPONSE_LIMIT", "Courier", "Sent"]

RESPONSE_LIMIT = 20 * 1024
# Signers kept at most (one per distinct set of secrets); past that the cache starts afresh.
SIGNERS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt's result: what to record, the ``Retry-After`` given, whether it timed out."""

    attempt: Attempt
    retry_after: str | None = None
    timed_out: bool = False


class Courier:
    """Makes attempts through ``sender``; ``clock`` stamps them (and ``webhook-timestamp``)."""

    def __init__(
        self, sender: Sender, guard: Guard, *, clock: Callable[[], float], user_agent: str
    ) -> None:
        self.sender = sender
        self.guard = guard
        self.clock = clock
        self._user_agent = user_agent
        self._signers: dict[tuple[str, ...], Signer] = {}

    def _signer(self, secrets: tuple[str, ...]) -> Signer:
        signer = self._signers.get(secrets)
        if signer is None:
            if len(self._signers) >= SIGNERS_KEPT:
                self._signers.clear()
            signer = self._signers[secrets] = Signer(secrets)
        return signer

    def headers(self, lease: Lease, timestamp: int) -> dict[str, str]:
        """The attempt's headers, signed for ``timestamp``."""
        event = lease.event
        return {
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self._signer(lease.subscription.secrets).sign(
                event.id, timestamp, event.body
            ),
            "content-type": "application/json",
            "user-agent": self._user_agent,
            # Ask for no compression; what comes anyway is stored raw, never inflated.
            "accept-encoding": "identity",
        }

    async def attempt(self, lease: Lease) -> Sent:
        """Send once; never raises for what the endpoint or the network does."""
        url = lease.subscription.url.rstrip("/") + lease.event.path
        now = self.clock()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        body = b""
        retry_after: str | None = None
        timed_out = False
        try:
            self.guard.validate_url(url)
            reply = await self.sender.post(
                lease.subscription.id, url, lease.event.body, self.headers(lease, int(now))
            )
            status, retry_after, body = reply.status, reply.retry_after, reply.body
        except SendTimeout as exc:
            timed_out, error = True, str(exc)
        except UnsafeDestinationError as exc:
            error = f"refused by the guard: {exc}"
        except SendFailed as exc:
            error = str(exc)
        attempt = Attempt(
            attempted_at=now,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
            response=body[:RESPONSE_LIMIT],
        )
        return Sent(attempt, retry_after, timed_out)
