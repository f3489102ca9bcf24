"""Message batches in process: validation, the lifecycle on an injected clock, JSONL results."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connector.sandbox import SEED_PREFIX, ManualClock, SandboxState, create_app

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def _item(custom_id: str, text: str = "hi", **params: Any) -> dict[str, Any]:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": text}],
    }
    return {"custom_id": custom_id, "params": body | params}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(clock: ManualClock) -> Starlette:
    return create_app(clock=clock, batch_seconds=10, cancel_seconds=2, max_batch_requests=50)


@pytest.fixture
async def api(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client


async def _create(api: httpx.AsyncClient, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = await api.post("/v1/messages/batches", headers=HEADERS, json={"requests": items})
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    return batch


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("requests", "fragment"),
    [
        ([], "1 to 50"),
        ([_item("x")] * 51, "1 to 50"),
        ([_item("has space")], "custom_id"),
        ([_item("a" * 65)], "custom_id"),
        ([_item("same"), _item("same")], "twice"),
        ([{"custom_id": "no-params"}], "params"),
        ("not a list", "requests"),
    ],
)
async def test_create_rejects_malformed_envelopes(
    api: httpx.AsyncClient, requests: Any, fragment: str
) -> None:
    response = await api.post("/v1/messages/batches", headers=HEADERS, json={"requests": requests})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]


@pytest.mark.anyio
async def test_create_over_the_size_limit_is_413() -> None:
    app = create_app(max_batch_bytes=2048)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://s"
    ) as api:
        items = [_item(f"r{i}", "x" * 100) for i in range(30)]
        response = await api.post("/v1/messages/batches", headers=HEADERS, json={"requests": items})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


@pytest.mark.anyio
async def test_counts_stay_processing_until_the_whole_batch_ends(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    batch = await _create(api, [_item(f"r{i}") for i in range(5)])
    url = f"/v1/messages/batches/{batch['id']}"
    for step in (0, 4, 5.99):  # at 0 s, 4 s and 9.99 s after creation
        clock.advance(step)
        seen = (await api.get(url, headers=HEADERS)).json()
        assert seen["processing_status"] == "in_progress"
        assert seen["request_counts"]["processing"] == 5
        assert seen["ended_at"] is None
        assert seen["results_url"] is None
    clock.advance(0.01)
    ended = (await api.get(url, headers=HEADERS)).json()
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 5,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert ended["ended_at"] == "2026-11-01T12:00:10.000000Z"
    assert ended["results_url"] == f"http://sandbox.test/v1/messages/batches/{batch['id']}/results"


@pytest.mark.anyio
async def test_per_request_failures_end_errored(api: httpx.AsyncClient, clock: ManualClock) -> None:
    items = [
        _item("good"),
        _item("unknown-model", model="claude-nope"),
        _item("bad-params", max_tokens="many"),
        _item("streamed", stream=True),
    ]
    batch = await _create(api, items)
    clock.advance(10)
    results = await api.get(f"/v1/messages/batches/{batch['id']}/results", headers=HEADERS)
    by_id = {
        line["custom_id"]: line["result"] for line in map(json.loads, results.text.splitlines())
    }
    assert by_id["good"]["type"] == "succeeded"
    assert by_id["unknown-model"]["error"]["error"]["type"] == "not_found_error"
    for name in ("bad-params", "streamed"):
        envelope = by_id[name]["error"]
        assert envelope["type"] == "error"
        assert envelope["error"]["type"] == "invalid_request_error"
        assert envelope["request_id"].startswith("req_")


@pytest.mark.anyio
async def test_results_are_jsonl_lines_with_headers(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    batch = await _create(api, [_item(f"r{i}", f"question {i}") for i in range(7)])
    clock.advance(10)
    response = await api.get(
        f"/v1/messages/batches/{batch['id']}/results",
        headers=HEADERS | {"accept": "application/binary"},
    )
    assert response.headers["content-type"] == "application/x-jsonl"
    assert response.headers["content-disposition"] == (
        f"attachment; filename*=utf-8''{batch['id']}_results.jsonl"
    )
    body = response.content
    assert b"\r" not in body
    assert body.endswith(b"\n")
    lines = body.split(b"\n")[:-1]
    assert len(lines) == 7
    assert all(lines)
    assert sorted(json.loads(line)["custom_id"] for line in lines) == [f"r{i}" for i in range(7)]
    again = await api.get(f"/v1/messages/batches/{batch['id']}/results", headers=HEADERS)
    assert again.content == body  # message ids are derived, so downloads repeat exactly


@pytest.mark.anyio
async def test_results_before_the_end_are_refused(api: httpx.AsyncClient) -> None:
    batch = await _create(api, [_item("r")])
    response = await api.get(f"/v1/messages/batches/{batch['id']}/results", headers=HEADERS)
    assert response.status_code == 400
    assert "in_progress" in response.json()["error"]["message"]


@pytest.mark.anyio
async def test_cancel_with_empty_json_body_then_ends(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    batch = await _create(api, [_item(f"r{i}") for i in range(10)])
    clock.advance(3)
    canceled = await api.post(
        f"/v1/messages/batches/{batch['id']}/cancel",
        headers=HEADERS | {"content-type": "application/json"},
        content=b"",
    )
    view = canceled.json()
    assert view["processing_status"] == "canceling"
    assert view["cancel_initiated_at"] == "2026-11-01T12:00:03.000000Z"
    clock.advance(1.99)
    still = (await api.get(f"/v1/messages/batches/{batch['id']}", headers=HEADERS)).json()
    assert still["processing_status"] == "canceling"
    clock.advance(0.01)
    ended = (await api.get(f"/v1/messages/batches/{batch['id']}", headers=HEADERS)).json()
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"]["succeeded"] == 3
    assert ended["request_counts"]["canceled"] == 7
    again = await api.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=HEADERS)
    assert again.json()["processing_status"] == "ended"


@pytest.mark.anyio
async def test_delete_refused_while_processing(api: httpx.AsyncClient, clock: ManualClock) -> None:
    batch = await _create(api, [_item("r")])
    url = f"/v1/messages/batches/{batch['id']}"
    refused = await api.delete(url, headers=HEADERS | {"content-type": "application/json"})
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    clock.advance(10)
    deleted = await api.delete(url, headers=HEADERS)
    assert deleted.json() == {"id": batch["id"], "type": "message_batch_deleted"}
    assert (await api.get(url, headers=HEADERS)).status_code == 404


@pytest.mark.anyio
async def test_expiry_through_the_control_endpoint(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    batch = await _create(api, [_item(f"r{i}") for i in range(4)])
    clock.advance(5)
    expired = (await api.post(f"/_sandbox/batches/{batch['id']}/expire")).json()
    assert expired["processing_status"] == "ended"
    assert expired["request_counts"]["succeeded"] == 2
    assert expired["request_counts"]["expired"] == 2


@pytest.mark.anyio
async def test_results_archived_after_29_days(api: httpx.AsyncClient, clock: ManualClock) -> None:
    batch = await _create(api, [_item("r")])
    advanced = await api.post("/_sandbox/clock/advance", json={"seconds": 29 * 86400})
    assert advanced.json()["now"] == "2026-11-30T12:00:00.000000Z"
    view = (await api.get(f"/v1/messages/batches/{batch['id']}", headers=HEADERS)).json()
    assert view["archived_at"] is not None
    results = await api.get(f"/v1/messages/batches/{batch['id']}/results", headers=HEADERS)
    assert results.status_code == 404


@pytest.mark.anyio
async def test_list_pages_newest_first_with_cursors(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    ids = []
    for index in range(5):
        ids.append((await _create(api, [_item(f"r{index}")]))["id"])
        clock.advance(1)
    newest = ids[::-1]
    page = (await api.get("/v1/messages/batches", params={"limit": 2}, headers=HEADERS)).json()
    assert [b["id"] for b in page["data"]] == newest[:2]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (True, newest[0], newest[1])
    after = (
        await api.get("/v1/messages/batches", params={"after_id": newest[3]}, headers=HEADERS)
    ).json()
    assert [b["id"] for b in after["data"]] == newest[4:]
    assert after["has_more"] is False
    before = (
        await api.get(
            "/v1/messages/batches", params={"before_id": newest[3], "limit": 2}, headers=HEADERS
        )
    ).json()
    assert [b["id"] for b in before["data"]] == newest[1:3]
    assert before["has_more"] is True
    default = (await api.get("/v1/messages/batches", headers=HEADERS)).json()
    assert len(default["data"]) == 5
    unknown = await api.get(
        "/v1/messages/batches", params={"after_id": "msgbatch_x"}, headers=HEADERS
    )
    assert unknown.status_code == 400


@pytest.mark.anyio
async def test_results_url_follows_the_path_prefix(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    batch = await _create(api, [_item("r")])
    clock.advance(10)
    view = (await api.get(f"{SEED_PREFIX}/messages/batches/{batch['id']}", headers=HEADERS)).json()
    assert view["results_url"] == (
        f"http://sandbox.test{SEED_PREFIX}/messages/batches/{batch['id']}/results"
    )


def test_state_seeds_ten_thousand_ended_batches_quickly(clock: ManualClock) -> None:
    state = SandboxState(clock=clock, batch_seconds=2)
    item = _item("only")
    started = time.perf_counter()
    for index in range(10_000):
        state.add_batch([item], created_at=clock() - timedelta(hours=1, seconds=index))
    elapsed = time.perf_counter() - started
    assert len(state.batches) == 10_000
    assert elapsed < 5.0
    oldest = state.batches.newest_first()[-1][1]
    assert state.batch_view(oldest, "http://x/v1")["processing_status"] == "ended"
