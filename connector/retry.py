"""The retry policy: which failures are retried, how long to wait, when a POST is safe.

Defaults follow the official SDK (``API-REFERENCE.md`` §7.1): 2 retries, a delay of
``min(0.5 × 2ⁿ, 8) × (1 − 0.25 × random)``, and the server's own word first: ``retry-after-ms``,
then ``retry-after`` (seconds or an HTTP date), and ``x-should-retry: true|false`` overriding the
status rule.

What differs from the SDK is the rule for operations that are not idempotent (creating a
batch). Retrying one after an *ambiguous* failure (a 500, a reset connection, a read timeout)
may run it twice: two batches, billed twice. So such an operation is retried only where the
request certainly was not processed: the connection was never made, or the API said 429
(rate limited) or 529 (overloaded), which it answers before doing any work. ``x-should-retry:
true`` from the server also counts as its word that a retry is safe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryPolicy"]

_RETRY_STATUSES = {408, 409, 429}
_NOT_PROCESSED_STATUSES = {429, 529}
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_SERVER_DELAY = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait. ``max_retries=0`` turns retrying off.

    ``max_server_delay`` caps a ``retry-after`` the server asks for (a client that sleeps for
    hours is a hung client); a longer one is not retried and surfaces as the error.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_server_delay: float = _MAX_SERVER_DELAY

    def backoff(self, retries_taken: int, rng: random.Random | None = None) -> float:
        """The delay before retry number ``retries_taken + 1`` when the server gave none."""
        base = min(self.initial_delay * 2.0**retries_taken, self.max_delay)
        fraction = float((rng or random).random())
        return float(base * (1 - self.jitter * fraction))

    def delay_after_response(
        self,
        response: httpx.Response,
        retries_taken: int,
        *,
        idempotent: bool,
        now: datetime | None = None,
    ) -> float | None:
        """Seconds to wait before retrying ``response``, or None when it is final."""
        if retries_taken >= self.max_retries:
            return None
        should = response.headers.get("x-should-retry", "").strip().lower()
        status = response.status_code
        if should == "false":
            return None
        if should != "true":
            retryable = status in _RETRY_STATUSES or status >= 500
            if not retryable:
                return None
            if not idempotent and status not in _NOT_PROCESSED_STATUSES:
                return None
        server = _server_delay(response.headers, now)
        if server is not None:
            return server if 0 <= server <= self.max_server_delay else None
        return self.backoff(retries_taken)

    def delay_after_error(
        self, error: httpx.TransportError, retries_taken: int, *, idempotent: bool
    ) -> float | None:
        """Seconds to wait before retrying after a transport error, or None when it is final."""
        if retries_taken >= self.max_retries:
            return None
        if not idempotent and not isinstance(error, _NOT_SENT_ERRORS):
            return None
        return self.backoff(retries_taken)


def _server_delay(headers: httpx.Headers, now: datetime | None) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
