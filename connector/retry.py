"""The retry policy: which failures are retried, how long to wait, when a POST is safe.

Defaults follow the official SDKs (``docs/architecture.md``, What the sandbox imitates): 2 retries, a delay of
``min(0.5 × 2ⁿ, 8) × (1 − 0.25 × random)``, and the server's own word first. Which statuses
are retried and which headers carry the server's word are the API's conventions
(``service.conventions``, :mod:`connector.conventions`): ``retry-after`` (seconds or an HTTP
date) always, and where declared a milliseconds header (Anthropic: ``retry-after-ms``) and a
``true|false`` override of the status rule (Anthropic: ``x-should-retry``).

What differs from the SDK is the rule for operations that are not idempotent (creating a
batch). Retrying one after an *ambiguous* failure (a 500, a reset connection, a read timeout)
may run it twice: two batches, billed twice. So such an operation is retried only where the
request certainly was not processed: the connection was never made, or the API answered a
status it gives before doing any work (429, and the declared overloaded status, 529 for
Anthropic). The should-retry header's ``true`` also counts as the server's word that a retry
is safe, and so does a declared idempotency-key header, which the client then sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from .conventions import GENERIC, Rules

__all__ = ["RetryPolicy"]

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
        conventions: Rules = GENERIC,
    ) -> float | None:
        """Seconds to wait before retrying ``response``, or None when it is final.

        ``conventions`` (the definition's) say which statuses are retried, which mean "not
        processed", and which headers carry the server's word.
        """
        if retries_taken >= self.max_retries:
            return None
        should = ""
        if conventions.should_retry_header:
            should = response.headers.get(conventions.should_retry_header, "").strip().lower()
        status = response.status_code
        if should == "false":
            return None
        if should != "true":
            if not conventions.retryable(status):
                return None
            if not idempotent and not conventions.unprocessed(status):
                return None
        server = _server_delay(response.headers, now, conventions.retry_after_ms_header)
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


def _server_delay(
    headers: httpx.Headers, now: datetime | None, ms_header: str | None
) -> float | None:
    value = headers.get(ms_header) if ms_header else None
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
