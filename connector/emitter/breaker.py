"""The per-endpoint circuit breaker (``docs/emitter.md``, Retry schedule).

An endpoint that fails most of what it is sent should not burn every queued delivery's retry
attempts while it is down. The breaker watches each subscription's recent attempts:

* **closed** (normal): deliveries are leased as usual;
* **open**: at least ``min_attempts`` attempts in the last ``window`` seconds and at least
  ``failure_ratio`` of them failed. Nothing is leased for ``cool_down`` seconds, so the
  queued deliveries keep their attempts (they are not tried, so not counted);
* **half-open**: after the cool-down one delivery is let through as a probe. A success closes
  the breaker (and forgets the failures); a failure opens it again for another cool-down.

Defaults: 10 attempts, 70 %, a 5-minute window, 30 s cool-down; every duration is multiplied
by ``time_scale`` like the retry schedule. A wall clock that jumps back cannot stretch a
cool-down or a window beyond its length. The state is the deliverer's, in memory: a restarted
emitter starts closed and learns again within a few attempts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]


@dataclass
class _Endpoint:
    attempts: deque[tuple[float, bool]] = field(default_factory=deque)
    open_until: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Decides, per subscription, whether deliveries may be leased now."""

    def __init__(
        self,
        *,
        window: float = 300.0,
        min_attempts: int = 10,
        failure_ratio: float = 0.7,
        cool_down: float = 30.0,
        time_scale: float = 1.0,
    ) -> None:
        self.window = window * time_scale
        self.cool_down = cool_down * time_scale
        self.min_attempts = min_attempts
        self.failure_ratio = failure_ratio
        self._endpoints: dict[str, _Endpoint] = {}

    def state(self, key: str, now: float) -> State:
        """``closed``, ``open`` or ``half-open`` for the subscription ``key`` at ``now``."""
        endpoint = self._endpoints.get(key)
        if endpoint is None or endpoint.open_until is None:
            return "closed"
        if endpoint.open_until - now > self.cool_down:
            endpoint.open_until = now  # the wall clock went back: the cool-down is over
        return "open" if now < endpoint.open_until or endpoint.probing else "half-open"

    def blocked(self, now: float) -> list[str]:
        """The subscriptions whose deliveries must not be leased at all now (open)."""
        return [key for key in self._endpoints if self.state(key, now) == "open"]

    def half_open(self, now: float) -> list[str]:
        """The subscriptions that may send exactly one probe now."""
        return [key for key in self._endpoints if self.state(key, now) == "half-open"]

    def start_probe(self, key: str) -> None:
        """Mark the half-open subscription's probe as in flight (no second one meanwhile)."""
        self._endpoints[key].probing = True

    def cancel_probe(self, key: str) -> None:
        """The probe was handed back unsent (shutdown): the next lease may probe again."""
        endpoint = self._endpoints.get(key)
        if endpoint is not None:
            endpoint.probing = False

    def record(self, key: str, now: float, ok: bool) -> bool:
        """Count one attempt's outcome; returns True when this outcome opened the breaker."""
        endpoint = self._endpoints.setdefault(key, _Endpoint())
        if endpoint.open_until is not None and endpoint.probing:
            endpoint.probing = False
            if ok:
                self._endpoints.pop(key)
                return False
            endpoint.open_until = now + self.cool_down
            return False
        if ok and endpoint.open_until is None and not endpoint.attempts:
            return False  # a healthy endpoint costs no memory
        endpoint.attempts.append((now, ok))
        while endpoint.attempts and endpoint.attempts[0][0] <= now - self.window:
            endpoint.attempts.popleft()
        # Attempts stamped after ``now`` were counted before the wall clock went back.
        endpoint.attempts = deque(a for a in endpoint.attempts if a[0] <= now)
        total = len(endpoint.attempts)
        failed = sum(1 for _, success in endpoint.attempts if not success)
        if (
            endpoint.open_until is None
            and total >= self.min_attempts
            and failed >= self.failure_ratio * total
        ):
            endpoint.open_until = now + self.cool_down
            endpoint.attempts.clear()
            return True
        if failed == 0:
            self._endpoints.pop(key, None)
        return False
