"""``connector emit --metrics-port``: Prometheus metrics of a running emitter, scraped over
HTTP and read with prometheus-client's own parser."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from emitter_support import DEFINITION, Delivery, recording_receiver
from prometheus_client.parser import text_string_to_metric_families

from connector.client import Connector
from connector.emitter.guard import Guard
from connector.emitter.signing import generate_secret
from connector.emitter.store_sqlite import SQLiteStore
from connector.sandbox import SandboxServer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_emit_serves_queue_attempt_latency_poll_and_leadership_metrics(tmp_path: Path) -> None:
    secret = generate_secret()
    received: list[Delivery] = []
    state, port = tmp_path / "state.db", _free_port()
    with (
        SandboxServer() as sandbox,
        SandboxServer(app=recording_receiver({"a": secret}, received)) as receiver,
        Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api,
    ):
        with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
            store.add_subscription(f"{receiver.base_url}/a", [], secret)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "--base-url",
                sandbox.base_url,
                "--api-key",
                "k",
                "--state",
                str(state),
                "emit",
                "--allow-private",
                "--interval",
                "0.2",
                "--resource",
                "files",
                "--metrics-port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            assert b"/metrics" in process.stderr.readline()
            baseline = ("connector_poll_duration_seconds_count", (("resource", "files"),))
            deadline = time.monotonic() + 30
            while not _samples(port).get(baseline) and time.monotonic() < deadline:
                time.sleep(0.05)  # the first poll takes the baseline (no event for what exists)
            path = tmp_path / "a.txt"
            path.write_text("a")
            api.call("files", "upload", {"file": str(path)}, raw=True)
            deadline = time.monotonic() + 30
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while True:  # the attempt is counted once it is recorded
                samples = _samples(port)
                done = samples.get(
                    ("connector_delivery_attempts_total", (("result", "delivered"),))
                )
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            if process.stderr is not None:
                process.stderr.close()
    assert received
    assert samples[("connector_delivery_attempts_total", (("result", "delivered"),))] == 1
    assert samples[("connector_deliveries", (("status", "delivered"),))] == 1
    assert samples[("connector_deliveries", (("status", "pending"),))] == 0
    assert samples[("connector_delivery_latency_seconds_count", ())] == 1
    assert samples[("connector_poll_duration_seconds_count", (("resource", "files"),))] >= 1
    assert samples[("connector_poll_leader", (("resource", "files"),))] == 1
    assert samples[("connector_circuit_open", ())] == 0
