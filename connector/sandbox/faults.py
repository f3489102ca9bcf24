"""Fault injection: error answers, added latency and dropped connections, on demand.

Off by default. A :class:`FaultPlan` is a seed and a list of :class:`FaultRule`; each rule
matches a path pattern (``fnmatch``; ``*`` for every API path, and the seeds' ``/rest/...``
prefix is matched as ``/v1``) and optionally a method. Every matching rule adds its latency;
the first that fires decides the fault. Draws come from ``random.Random(seed)``, so a run is
repeatable::

    plan = FaultPlan(rules=[FaultRule(route="/v1/messages", statuses=(529,), rate=1.0, limit=2)])
    app = create_app(faults=plan)   # the first two POST /v1/messages answer 529, then normal

At runtime ``POST /_sandbox/faults`` replaces the plan with the same fields as JSON.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field

import anyio
import httpx

from connector.errors import ConfigurationError, ConnectorError

from .wire import JSON

__all__ = ["ConnectionDropped", "Fault", "FaultInjector", "FaultPlan", "FaultRule"]

Sleep = Callable[[float], Awaitable[None]]
_ALLOWED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class ConnectionDropped(ConnectorError, httpx.RemoteProtocolError):
    """Raised inside the app to drop a connection without an answer.

    Over uvicorn the server then closes the socket; over ``httpx.ASGITransport`` the exception
    reaches the client as it is, and being an ``httpx.TransportError`` it reads as one.
    """


@dataclass
class FaultRule:
    """Where and how often to misbehave.

    ``rate`` is the chance of an error answer (a status drawn from ``statuses``), ``drop_rate``
    the chance of a dropped connection, ``latency`` seconds added before answering. ``limit``
    caps how many faults the rule injects (``None``: no cap). ``retry_after`` (seconds) goes
    into ``retry-after`` and ``retry-after-ms`` on error answers.
    """

    route: str = "*"
    method: str | None = None
    statuses: tuple[int, ...] = (529,)
    rate: float = 0.0
    drop_rate: float = 0.0
    latency: float = 0.0
    limit: int | None = None
    retry_after: float = 0.05
    injected: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule applies to this request (``path`` normalised to ``/v1/...``)."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self.route in ("*", "") or fnmatch.fnmatchcase(path, self.route)

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> FaultRule:
        """A rule from the control endpoint's JSON (``status`` is a shorthand for one status)."""
        known = {
            "route",
            "method",
            "status",
            "statuses",
            "rate",
            "drop_rate",
            "latency",
            "limit",
            "retry_after",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown fault rule key(s) {unknown}; allowed: {sorted(known)}", setting="faults"
            )
        statuses = data.get("statuses", [data["status"]] if "status" in data else [529])
        try:
            rule = cls(
                route=str(data.get("route", "*")),
                method=str(data["method"]) if data.get("method") else None,
                statuses=tuple(int(s) for s in statuses),
                rate=float(data.get("rate", 0.0)),
                drop_rate=float(data.get("drop_rate", 0.0)),
                latency=float(data.get("latency", 0.0)),
                limit=None if data.get("limit") is None else int(data["limit"]),
                retry_after=float(data.get("retry_after", 0.05)),
            )
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"bad fault rule value: {error}", setting="faults") from None
        rule.check()
        return rule

    def check(self) -> None:
        """Refuse values that make no sense (a rate outside 0-1, a non-error status)."""
        for name in ("rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(
                    f"{name} must be between 0 and 1, not {value}", setting="faults"
                )
        if self.latency < 0 or self.retry_after < 0:
            raise ConfigurationError(
                "latency and retry_after must not be negative", setting="faults"
            )
        bad = [s for s in self.statuses if s not in _ALLOWED_STATUSES]
        if bad or not self.statuses:
            raise ConfigurationError(
                f"statuses {bad or '[]'} not allowed; choose from {sorted(_ALLOWED_STATUSES)}",
                setting="faults",
            )


@dataclass
class FaultPlan:
    """A seed and the rules; an empty plan injects nothing."""

    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    @classmethod
    def from_json(cls, data: JSON) -> FaultPlan:
        """A plan from ``{"seed": 1, "rules": [...]}`` (a bare rule object is one rule)."""
        if not isinstance(data, dict):
            raise ConfigurationError("faults must be a JSON object", setting="faults")
        if "rules" not in data and data:
            return cls(rules=[FaultRule.from_json(data)])
        rules = data.get("rules") or []
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ConfigurationError("faults.rules must be a list of objects", setting="faults")
        return cls(rules=[FaultRule.from_json(r) for r in rules], seed=int(data.get("seed", 0)))

    @classmethod
    def failing(cls, rate: float, *, seed: int = 0) -> FaultPlan:
        """Every API path answers 429, 500 or 529 with probability ``rate`` (``--fail-rate``)."""
        rule = FaultRule(statuses=(429, 500, 529), rate=rate)
        rule.check()
        return cls(rules=[rule], seed=seed)

    def to_json(self) -> dict[str, JSON]:
        """The plan as the control endpoint shows it (with each rule's ``injected`` count)."""
        return {"seed": self.seed, "rules": [asdict(rule) for rule in self.rules]}


@dataclass(frozen=True)
class Fault:
    """What to do to one request: wait ``latency``, then drop it or answer ``status``."""

    latency: float = 0.0
    status: int | None = None
    drop: bool = False
    retry_after: float = 0.0


class FaultInjector:
    """Decides, per request, which fault (if any) applies; thread-safe and repeatable."""

    def __init__(self, plan: FaultPlan | None = None, *, sleep: Sleep | None = None) -> None:
        self._lock = threading.Lock()
        self.sleep: Sleep = sleep or anyio.sleep
        self.replace(plan or FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def replace(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force, restarting its random sequence from its seed."""
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed)

    def decide(self, method: str, path: str) -> Fault:
        """The fault for one request; ``Fault()`` (nothing) when no rule fires."""
        with self._lock:
            latency = 0.0
            chosen: Fault | None = None
            for rule in self._plan.rules:
                if not rule.matches(method, path):
                    continue
                latency += rule.latency
                if chosen is not None or (rule.limit is not None and rule.injected >= rule.limit):
                    continue
                if rule.drop_rate and self._random.random() < rule.drop_rate:
                    rule.injected += 1
                    chosen = Fault(drop=True)
                elif rule.rate and self._random.random() < rule.rate:
                    rule.injected += 1
                    status = self._random.choice(rule.statuses)
                    chosen = Fault(status=status, retry_after=rule.retry_after)
            if chosen is None:
                return Fault(latency=latency)
            return Fault(latency, chosen.status, chosen.drop, chosen.retry_after)
