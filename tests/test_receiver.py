"""The receiver app: verify on raw bytes, never 500 on bad input, dedupe, dispatch by type."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.emitter.signing import generate_secret, sign
from connector.receiver import MemoryDedupe, ReceivedEvent, create_receiver_app

NOW = 1_700_000_000
SECRET = generate_secret()
BODY = b'{"type":"files.created","timestamp":"2023-11-14T22:13:20Z","data":{"id":"file_1"}}'
PATH = "/hooks/webhooks/claude-api/files.created"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _signed(msg_id: str = "evt_1", ts: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(msg_id, ts, body, SECRET),
        "content-type": "application/json",
    }


@pytest.fixture
async def received() -> AsyncIterator[tuple[httpx.AsyncClient, list[ReceivedEvent]]]:
    seen: list[ReceivedEvent] = []

    async def on_file(event: ReceivedEvent) -> None:
        seen.append(event)

    app = create_receiver_app(SECRET, handlers={"files.created": on_file}, clock=lambda: NOW)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://receiver"
    ) as client:
        yield client, seen


@pytest.mark.anyio
async def test_receiver_accepts_and_dispatches_on_any_path(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]],
) -> None:
    client, seen = received
    response = await client.post(PATH, content=BODY, headers=_signed())
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert [(e.id, e.type, e.data, e.path) for e in seen] == [
        ("evt_1", "files.created", {"id": "file_1"}, PATH)
    ]


@pytest.mark.anyio
async def test_receiver_dedupes_by_webhook_id(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]],
) -> None:
    client, seen = received
    for ts in (NOW, NOW + 5):
        response = await client.post("/", content=BODY, headers=_signed(ts=ts))
        assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert len(seen) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("skew", [-299, 299])
async def test_receiver_accepts_within_299_seconds(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]], skew: int
) -> None:
    client, _ = received
    response = await client.post("/", content=BODY, headers=_signed(ts=NOW + skew))
    assert response.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("skew", [-301, 301])
async def test_receiver_rejects_beyond_301_seconds(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]], skew: int
) -> None:
    client, seen = received
    response = await client.post("/", content=BODY, headers=_signed(ts=NOW + skew))
    assert response.status_code == 401
    assert response.json()["error"] == "stale-timestamp"
    assert seen == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"webhook-id": ""}, 400, "missing-header"),
        ({"webhook-timestamp": "1700000000.9"}, 400, "bad-timestamp"),
        ({"webhook-timestamp": "nan"}, 400, "bad-timestamp"),
        ({"webhook-timestamp": "-5"}, 400, "bad-timestamp"),
        ({"webhook-signature": "v1"}, 401, "bad-signature"),
        ({"webhook-signature": "v1,a,b"}, 401, "bad-signature"),
        ({"webhook-signature": "v1,abc  v1,def"}, 401, "bad-signature"),
        ({"webhook-signature": "v1," + "A" * 44}, 401, "bad-signature"),
    ],
)
async def test_receiver_maps_bad_headers_to_4xx(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]],
    change: dict[str, str],
    status: int,
    reason: str,
) -> None:
    client, seen = received
    response = await client.post("/", content=BODY, headers={**_signed(), **change})
    assert (response.status_code, response.json()["error"]) == (status, reason)
    assert seen == []


@pytest.mark.anyio
async def test_receiver_reports_bad_payload_apart_from_forgery(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]],
) -> None:
    client, _ = received
    for body in (b"not json", b"[1,2]", b'{"data":{}}'):
        response = await client.post("/", content=body, headers=_signed(body=body))
        assert (response.status_code, response.json()["error"]) == (400, "bad-payload")


@pytest.mark.anyio
async def test_receiver_acknowledges_unknown_types(
    received: tuple[httpx.AsyncClient, list[ReceivedEvent]],
) -> None:
    client, seen = received
    body = b'{"type":"skills.deleted","timestamp":"2023-11-14T22:13:20Z","data":{}}'
    response = await client.post("/", content=body, headers=_signed(body=body))
    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert seen == []


@pytest.mark.anyio
async def test_receiver_rejects_oversized_body() -> None:
    app = create_receiver_app(SECRET, clock=lambda: NOW, max_body=1000)
    body = b"x" * 5000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        response = await c.post("/", content=body, headers=_signed(body=body))
    assert response.status_code == 413


def test_memory_dedupe_forgets_after_horizon_and_beyond_cap() -> None:
    now = [0.0]
    dedupe = MemoryDedupe(horizon=100, max_entries=3, clock=lambda: now[0])
    for i in range(4):
        dedupe.add(f"id{i}")
    assert not dedupe.seen("id0")
    assert dedupe.seen("id3")
    now[0] = 100.0
    assert not dedupe.seen("id3")


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[httpx.Client]:
    app = create_receiver_app(SECRET, handlers={"*": lambda e: None}, clock=lambda: NOW)

    # A sync shim over the ASGI app so hypothesis can drive it without an event loop per case.
    def handler(request: httpx.Request) -> httpx.Response:
        import anyio

        async def call() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://r"
            ) as client:
                r = await client.request(
                    request.method,
                    str(request.url),
                    content=request.content,
                    headers=request.headers,
                )
                await r.aread()
                return httpx.Response(r.status_code, content=r.content)

        return anyio.run(call)

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://r") as client:
        yield client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    msg_id=header_text,
    stamp=st.one_of(header_text, st.integers(NOW - 400, NOW + 400).map(str)),
    signature=st.one_of(
        header_text,
        st.lists(st.tuples(st.sampled_from(["v1", "v2", "v1a", ""]), header_text), max_size=5).map(
            lambda parts: " ".join(f"{v},{s}" for v, s in parts)
        ),
    ),
    body=st.binary(max_size=300),
    sign_it=st.booleans(),
)
def test_receiver_fuzz_never_500(
    fuzz_client: httpx.Client, msg_id: str, stamp: str, signature: str, body: bytes, sign_it: bool
) -> None:
    if sign_it and stamp.isdigit() and msg_id and "." not in msg_id:
        signature = sign(msg_id, int(stamp), body, SECRET)
    response = fuzz_client.post(
        "/x",
        content=body,
        headers={"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature},
    )
    assert response.status_code < 500
    assert response.status_code in (200, 400, 401, 413)


def test_receive_command_prints_verified_events_as_json_lines(tmp_path: object) -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import argparse, sys; from connector.cli.receive import add_commands;"
        "p = argparse.ArgumentParser(); add_commands(p.add_subparsers());"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "receive", "--port", str(port), "--secret", SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        now = int(time.time())
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}{PATH}", content=BODY, headers=_signed(ts=now)
                )
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200
        forged = httpx.post(
            f"http://127.0.0.1:{port}/", content=BODY, headers=_signed(ts=now - 1000)
        )
        assert forged.status_code == 401
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line == {
            "id": "evt_1",
            "type": "files.created",
            "timestamp": "2023-11-14T22:13:20Z",
            "data": {"id": "file_1"},
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_receive_command_refuses_bad_secret() -> None:
    code = (
        "import argparse, sys; from connector.cli.receive import add_commands;"
        "p = argparse.ArgumentParser(); add_commands(p.add_subparsers());"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "receive", "--secret", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "whsec_" in done.stderr
