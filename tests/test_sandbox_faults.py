"""Fault injection: error answers, switching at runtime, dropped connections, latency."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from connector.errors import ConfigurationError
from connector.sandbox import ConnectionDropped, FaultPlan, FaultRule, SandboxServer, create_app

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2026-10-21"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def api(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


@pytest.fixture
def live() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.mark.anyio
async def test_rate_limit_on_one_route_then_switched_off(api: httpx.AsyncClient) -> None:
    plan = {
        "seed": 7,
        "rules": [{"route": "/v1/models*", "status": 429, "rate": 1.0, "retry_after": 0.25}],
    }
    assert (await api.post("/_sandbox/faults", json=plan)).status_code == 200
    limited = await api.get("/v1/models", headers=HEADERS)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.headers["retry-after"] == "0.25"
    assert limited.headers["retry-after-ms"] == "250"
    assert limited.headers["request-id"].startswith("req_")
    other = await api.get("/v1/files", headers=HEADERS)
    assert other.status_code == 200
    shown = (await api.get("/_sandbox/faults")).json()
    assert shown["rules"][0]["injected"] == 1
    assert (await api.delete("/_sandbox/faults")).status_code == 200
    assert (await api.get("/v1/models", headers=HEADERS)).status_code == 200


@pytest.mark.anyio
async def test_seeds_prefix_matches_v1_routes(api: httpx.AsyncClient) -> None:
    await api.post(
        "/_sandbox/faults", json={"route": "/v1/messages/batches", "status": 500, "rate": 1.0}
    )
    response = await api.get(
        "/rest/anthropic-message-batches-api/1.0.0/messages/batches", headers=HEADERS
    )
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "api_error"


@pytest.mark.anyio
async def test_control_endpoints_need_no_key_and_reject_bad_plans(api: httpx.AsyncClient) -> None:
    bad = await api.post("/_sandbox/faults", json={"rate": 2})
    assert bad.status_code == 400
    unknown = await api.post("/_sandbox/faults", json={"rules": [{"rat": 1}]})
    assert unknown.status_code == 400
    assert "rat" in unknown.json()["error"]["message"]
    state = (await api.get("/_sandbox/state")).json()
    assert state["faults"] == {"seed": 0, "rules": []}
    assert state["batches"]["total"] == 0


def test_same_seed_gives_the_same_faults() -> None:
    def run() -> list[int | None]:
        app = create_app(
            faults=FaultPlan(rules=[FaultRule(rate=0.5, statuses=(429, 529))], seed=42)
        )
        injector = app.state.faults
        return [injector.decide("GET", "/v1/models").status for _ in range(40)]

    first = run()
    assert first == run()
    assert {None, 429, 529} == set(first)


def test_bad_rule_values_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        FaultPlan.failing(1.5)
    with pytest.raises(ConfigurationError):
        FaultPlan.from_json({"rules": [{"status": 200, "rate": 1}]})


def test_dropped_connection_over_a_socket_is_a_transport_error(live: SandboxServer) -> None:
    with httpx.Client(base_url=live.base_url) as client:
        client.post("/_sandbox/faults", json={"route": "/v1/models", "drop_rate": 1.0, "limit": 1})
        with pytest.raises(httpx.TransportError):
            client.get("/v1/models", headers=HEADERS)
        # The rule's limit is spent: the next call is served normally.
        assert client.get("/v1/models", headers=HEADERS).status_code == 200


@pytest.mark.anyio
async def test_dropped_connection_in_process_is_a_transport_error(api: httpx.AsyncClient) -> None:
    await api.post("/_sandbox/faults", json={"drop_rate": 1.0})
    with pytest.raises(httpx.TransportError) as caught:
        await api.get("/v1/models", headers=HEADERS)
    assert isinstance(caught.value, ConnectionDropped)


@pytest.mark.anyio
async def test_latency_goes_through_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    plan = FaultPlan(rules=[FaultRule(latency=1.5), FaultRule(route="/v1/models", latency=0.5)])
    app = create_app(faults=plan, sleep=fake_sleep)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://s"
    ) as api:
        assert (await api.get("/v1/models", headers=HEADERS)).status_code == 200
        await api.get("/v1/files", headers=HEADERS)
    assert slept == [2.0, 1.5]


def test_latency_is_really_added_over_a_socket() -> None:
    plan = FaultPlan(rules=[FaultRule(route="/v1/models", latency=0.2)])
    with SandboxServer(faults=plan) as server, httpx.Client(base_url=server.base_url) as client:
        started = time.perf_counter()
        assert client.get("/v1/models", headers=HEADERS).status_code == 200
        assert time.perf_counter() - started >= 0.2
