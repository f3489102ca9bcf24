"""Prometheus metrics for ``connector emit --metrics-port N`` (``prometheus-client``).

Exposed at ``http://HOST:N/metrics``:

``connector_deliveries{status}``            gauge: deliveries by status in the store (read at
                                            each scrape: pending, delivering, delivered, failed)
``connector_delivery_attempts_total{result}`` counter: this emitter's attempts (delivered,
                                            retry, failed)
``connector_delivery_latency_seconds``      histogram: time of each attempt's HTTP exchange
``connector_circuit_open``                  gauge: subscriptions whose breaker is open now
``connector_poll_duration_seconds{resource}`` histogram: one poll of one resource
``connector_poll_leader{resource}``         gauge: 1 where this emitter holds the poll lease

Only counts and ids are exposed, never a URL's query, a secret or a body.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.emitter.store import DELIVERY_STATUSES, Store
from connector.errors import StoreError

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class _State(Collector):
    """What is read at scrape time: the queue in the store, breakers, leadership."""

    def __init__(
        self,
        store: Store,
        open_circuits: Callable[[], int],
        leading: Callable[[], dict[str, bool]],
    ) -> None:
        self.store = store
        self.open_circuits = open_circuits
        self.leading = leading

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = GaugeMetricFamily(
            "connector_deliveries", "Deliveries in the store by status", labels=["status"]
        )
        try:
            for status in DELIVERY_STATUSES:
                queue.add_metric([status], self.store.count_deliveries(status))
        except StoreError:
            pass  # an unreachable store shows as missing samples, not as a failed scrape
        yield queue
        yield GaugeMetricFamily(
            "connector_circuit_open",
            "Subscriptions whose circuit breaker is open now",
            value=self.open_circuits(),
        )
        leader = GaugeMetricFamily(
            "connector_poll_leader",
            "1 where this emitter holds the resource's poll lease",
            labels=["resource"],
        )
        for resource, leads in sorted(self.leading().items()):
            leader.add_metric([resource], 1.0 if leads else 0.0)
        yield leader


class Metrics:
    """The emitter's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "connector_delivery_attempts",
            "Delivery attempts by this emitter, by result",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "connector_delivery_latency_seconds",
            "Time of each attempt's HTTP exchange",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.poll_duration = Histogram(
            "connector_poll_duration_seconds",
            "Time of one poll of one resource",
            ["resource"],
            registry=self.registry,
        )

    def watch(
        self,
        store: Store,
        open_circuits: Callable[[], int],
        leading: Callable[[], dict[str, bool]],
    ) -> None:
        """Read the queue, the breakers and the leadership at each scrape."""
        self.registry.register(_State(store, open_circuits, leading))

    def attempted(self, result: str, latency_ms: float) -> None:
        self.attempts.labels(result).inc()
        self.latency.observe(latency_ms / 1000)

    def polled(self, resource: str, started: float) -> None:
        self.poll_duration.labels(resource).observe(time.perf_counter() - started)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` from a thread of its own."""
        start_http_server(port, addr=host, registry=self.registry)
