"""When a failed delivery is tried again (``docs/emitter.md``, Retry schedule).

The default follows Standard Webhooks: ten attempts, at once and then after 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h (the last about 75.6 h after the first), each
delay moved by up to ±20 % at random. Throttling answers (429, 502, 503, 504, a timeout) push
the next try at least 60 s away; a ``Retry-After`` header (seconds or an HTTP date) is honoured
but clamped to [the scheduled delay, 24 h]. An endpoint that has failed without a single
success for 5 days is disabled.

Every duration is multiplied by ``time_scale``, so a test can run the whole schedule in
seconds (``time_scale=0.001``) with the same logic.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["DEFAULT_DELAYS", "THROTTLE_STATUSES", "RetrySchedule", "parse_retry_after"]

DEFAULT_DELAYS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
_DAY = 86400.0
_DIGITS = re.compile(r"[0-9]{1,15}")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None when absent or unusable.

    Accepts delta-seconds (digits only) or an HTTP date; a date in the past, a negative or
    fractional number, and anything else are ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return float(int(text))
    if not text or text[0] in "+-" or text[0].isdigit():
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    delta = when.timestamp() - now
    return delta if delta >= 0 else None


@dataclass(frozen=True)
class RetrySchedule:
    """The retry policy of the deliverer.

    ``delays[i]`` is the wait after the (i+1)-th failed attempt, so there are
    ``len(delays) + 1`` attempts in all. ``time_scale`` multiplies every duration,
    including ``Retry-After`` values, the throttle floor and ``disable_after``.
    """

    delays: tuple[float, ...] = DEFAULT_DELAYS
    jitter: float = 0.2
    time_scale: float = 1.0
    throttle_floor: float = 60.0
    max_retry_after: float = _DAY
    disable_after: float = 5 * _DAY

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets before it becomes a dead letter."""
        return len(self.delays) + 1

    @property
    def disable_after_scaled(self) -> float:
        """Seconds of failures only (scaled) after which an endpoint is disabled."""
        return self.disable_after * self.time_scale

    def next_delay(
        self,
        attempts: int,
        *,
        throttled: bool = False,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds until the next attempt after ``attempts`` failed ones, or None if exhausted.

        ``retry_after`` is the server's unscaled wish in seconds (see :func:`parse_retry_after`).
        """
        if attempts >= self.max_attempts:
            return None
        base = self.delays[max(attempts, 1) - 1]
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        delay = base * spread
        if throttled:
            delay = max(delay, self.throttle_floor)
        if retry_after is not None and retry_after >= 0:
            delay = min(max(delay, retry_after), max(self.max_retry_after, delay))
        return delay * self.time_scale
