"""Connector and AsyncConnector against the sandbox app, in process.

The async client talks to the app over httpx.ASGITransport. The sync client needs a sync
transport: ``ASGIBridge`` runs the same ASGITransport on an anyio portal thread, so both clients
exercise the very same app and state.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from starlette.applications import Starlette

from connector import (
    AsyncConnector,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    Connector,
    InputError,
    NotFoundError,
    PaginationError,
    ResponseError,
    TransportError,
    load_definition,
)
from connector.sandbox import ManualClock, create_app

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
KEY = "sk-ant-test-secret-0123456789"
MODEL = "claude-sonnet-4-5"
ALL_OPERATIONS = {(r.handle, name) for r in DEFINITION.resources for name in r.operations}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ASGIBridge(httpx.BaseTransport):
    """A sync httpx transport over httpx.ASGITransport, run on an anyio blocking portal."""

    def __init__(self, app: Starlette) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._asgi = httpx.ASGITransport(app)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)

        async def forward() -> tuple[int, httpx.Headers, bytes]:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            await response.aclose()
            return response.status_code, response.headers, body

        status, headers, body = self._portal.call(forward)
        return httpx.Response(status, headers=headers, content=body)

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(clock: ManualClock) -> Starlette:
    return create_app(clock=clock, batch_seconds=2.0, api_key=KEY)


@pytest.fixture
def bridge(app: Starlette) -> Iterator[ASGIBridge]:
    transport = ASGIBridge(app)
    yield transport
    transport.close()


@pytest.fixture
def api(bridge: ASGIBridge) -> Iterator[Connector]:
    with Connector(
        DEFINITION, base_url="http://sandbox.test", api_key=KEY, transport=bridge, sleep=_no_sleep
    ) as connector:
        yield connector


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry sleep of {seconds} s against the sandbox")


def _skill_dir(tmp_path: Path, name: str = "my-skill") -> Path:
    skill = tmp_path / name
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Says hello.\n---\nBody\n")
    (skill / "scripts" / "hello.py").write_text("print('hello')\n")
    return skill


BATCH_PARAMS = {"custom_id": "req-1", "model": MODEL, "max_tokens": "16", "content": "Hi"}


# --- every operation --------------------------------------------------------------------------


def test_connector_every_operation_against_the_sandbox(
    api: Connector, clock: ManualClock, tmp_path: Path
) -> None:
    """Each operation of claude-api.json works against the sandbox through the sync client."""
    done: set[tuple[str, str]] = set()

    def call(handle: str, operation: str, params: dict[str, Any] | None = None) -> Any:
        done.add((handle, operation))
        return api.call(handle, operation, params)

    message = call("messages", "create", {"model": MODEL, "max_tokens": "32", "content": "Hello"})
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    assert isinstance(message["usage_input_tokens"], int)
    tokens = call("messages", "count_tokens", {"model": MODEL, "content": "Hello"})
    assert tokens["input_tokens"] > 0
    streamed = call("messages", "stream", {"model": MODEL, "max_tokens": "32", "content": "Hello"})
    assert streamed["role"] == "assistant" and streamed["content"][0]["type"] == "text"

    models = call("models", "list")
    assert models and all(m["id"] for m in models)
    assert call("models", "read", {"model_id": models[0]["id"]})["id"] == models[0]["id"]

    batch = call("message_batches", "create", BATCH_PARAMS)
    assert batch["processing_status"] == "in_progress"
    assert isinstance(batch["created_at"], datetime)
    assert batch["id"] in [b["id"] for b in call("message_batches", "list")]
    assert call("message_batches", "read", {"batch_id": batch["id"]})["id"] == batch["id"]
    other = call("message_batches", "create", {**BATCH_PARAMS, "custom_id": "req-2"})
    assert (
        call("message_batches", "cancel", {"batch_id": other["id"]})["processing_status"]
        == "canceling"
    )
    third = call("message_batches", "create", {**BATCH_PARAMS, "custom_id": "req-3"})
    assert (
        call("message_batches", "delete", {"batch_id": third["id"]})["processing_status"]
        == "canceling"
    )
    clock.advance(3)
    results = call("message_batches", "results", {"batch_id": batch["id"]})
    assert [r["custom_id"] for r in results] == ["req-1"]
    assert results[0]["result"]["type"] == "succeeded"
    removed = call("message_batches", "remove", {"batch_id": batch["id"]})
    assert removed == {"id": batch["id"], "type": "message_batch_deleted"}

    payload = bytes(range(256)) * 4
    path = tmp_path / "data.bin"
    path.write_bytes(payload)
    uploaded = call("files", "upload", {"file": str(path)})
    assert uploaded["filename"] == "data.bin" and uploaded["size_bytes"] == len(payload)
    assert uploaded["id"] in [f["id"] for f in call("files", "list")]
    assert call("files", "read", {"file_id": uploaded["id"]})["id"] == uploaded["id"]
    assert call("files", "download", {"file_id": uploaded["id"]}) == payload
    assert call("files", "delete", {"file_id": uploaded["id"]})["type"] == "file_deleted"

    skill = call(
        "skills", "create", {"directory": str(_skill_dir(tmp_path)), "display_title": "Hi"}
    )
    assert skill["id"].startswith("skill_") and skill["display_title"] == "Hi"
    assert skill["id"] in [s["id"] for s in call("skills", "list")]
    assert call("skills", "read", {"skill_id": skill["id"]})["id"] == skill["id"]
    assert call("skills", "delete", {"skill_id": skill["id"]})["type"] == "skill_deleted"

    assert done == ALL_OPERATIONS


@pytest.mark.anyio
async def test_async_connector_every_operation_against_the_sandbox(
    app: Starlette, clock: ManualClock, tmp_path: Path
) -> None:
    done: set[tuple[str, str]] = set()
    async with AsyncConnector(
        DEFINITION,
        base_url="http://sandbox.test",
        api_key=KEY,
        transport=httpx.ASGITransport(app),
    ) as api:

        async def call(handle: str, operation: str, params: dict[str, Any] | None = None) -> Any:
            done.add((handle, operation))
            return await api.call(handle, operation, params)

        streamed = await call(
            "messages", "stream", {"model": MODEL, "max_tokens": 8, "content": "x"}
        )
        assert streamed["type"] == "message" and streamed["stop_reason"]
        assert (
            await call("messages", "create", {"model": MODEL, "max_tokens": 8, "content": "x"})
        )["id"].startswith("msg_")
        assert (await call("messages", "count_tokens", {"model": MODEL, "content": "x"}))[
            "input_tokens"
        ] > 0
        models = await call("models", "list")
        await call("models", "read", {"model_id": models[0]["id"]})
        batch = await call("message_batches", "create", BATCH_PARAMS)
        await call("message_batches", "list")
        await call("message_batches", "read", {"message_batch_id": batch["id"]})
        spare = await call("message_batches", "create", BATCH_PARAMS)
        await call("message_batches", "cancel", {"batch_id": spare["id"]})
        spare = await call("message_batches", "create", BATCH_PARAMS)
        await call("message_batches", "delete", {"batch_id": spare["id"]})
        clock.advance(3)
        results = await call("message_batches", "results", {"batch_id": batch["id"]})
        assert results[0]["custom_id"] == "req-1"
        streamed = [
            r
            async for r in api.stream_jsonl("message_batches", "results", {"batch_id": batch["id"]})
        ]
        assert streamed == results
        await call("message_batches", "remove", {"batch_id": batch["id"]})
        path = tmp_path / "a.txt"
        path.write_text("hello")
        uploaded = await call("files", "upload", {"file": str(path)})
        await call("files", "list")
        await call("files", "read", {"file_id": uploaded["id"]})
        assert await call("files", "download", {"file_id": uploaded["id"]}) == b"hello"
        await call("files", "delete", {"file_id": uploaded["id"]})
        skill = await call("skills", "create", {"directory": str(_skill_dir(tmp_path))})
        await call("skills", "list")
        await call("skills", "read", {"skill_id": skill["id"]})
        await call("skills", "delete", {"skill_id": skill["id"]})
        with pytest.raises(NotFoundError) as caught:
            await api.call("skills", "read", {"skill_id": skill["id"]})
        assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert done == ALL_OPERATIONS


# --- pagination -------------------------------------------------------------------------------


def _batches(api: Connector, count: int) -> list[str]:
    return [api.call("message_batches", "create", BATCH_PARAMS)["id"] for _ in range(count)]


def test_iterate_cursor_pagination_walks_every_page(api: Connector, bridge: ASGIBridge) -> None:
    ids = _batches(api, 5)
    bridge.requests.clear()
    seen = [b["id"] for b in api.iterate("message_batches", "list", {"limit": 2})]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert len(bridge.requests) == 3
    assert "after_id" in bridge.requests[1].url.params


def test_iterate_max_items_stops_early_and_fetches_no_more_pages(
    api: Connector, bridge: ASGIBridge
) -> None:
    _batches(api, 5)
    bridge.requests.clear()
    seen = list(api.iterate("message_batches", "list", {"limit": 2}, max_items=3))
    assert len(seen) == 3
    assert len(bridge.requests) == 2


def test_iterate_is_lazy(api: Connector, bridge: ASGIBridge) -> None:
    _batches(api, 3)
    bridge.requests.clear()
    items = api.iterate("message_batches", "list", {"limit": 1})
    assert bridge.requests == []
    next(items)
    assert len(bridge.requests) == 1


def test_iterate_page_token_pagination(api: Connector, bridge: ASGIBridge, tmp_path: Path) -> None:
    ids = [
        api.call("skills", "create", {"directory": str(_skill_dir(tmp_path, f"skill-{i}"))})["id"]
        for i in range(3)
    ]
    bridge.requests.clear()
    seen = [s["id"] for s in api.iterate("skills", "list", {"limit": 1})]
    assert sorted(seen) == sorted(ids)
    assert "page" in bridge.requests[1].url.params


def test_iterate_raw_gives_the_api_objects(api: Connector) -> None:
    _batches(api, 1)
    (item,) = api.iterate("message_batches", "list", raw=True)
    assert item["type"] == "message_batch"
    assert isinstance(item["created_at"], str)


@pytest.mark.anyio
async def test_async_iterate_with_max_items(app: Starlette) -> None:
    async with AsyncConnector(
        DEFINITION, base_url="http://sandbox.test", api_key=KEY, transport=httpx.ASGITransport(app)
    ) as api:
        for _ in range(4):
            await api.call("message_batches", "create", BATCH_PARAMS)
        seen = [b async for b in api.iterate("message_batches", "list", {"limit": 1}, max_items=3)]
        assert len(seen) == 3


def test_iterate_repeating_cursor_is_a_pagination_error() -> None:
    """A cursor the API returns twice would loop forever; it stops with PaginationError."""
    page = {"data": [{"id": "b1"}], "has_more": True, "first_id": "b1", "last_id": "b1"}
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=page)

    with Connector(
        DEFINITION, base_url="http://x", api_key=KEY, transport=httpx.MockTransport(handler)
    ) as api:
        with pytest.raises(PaginationError) as caught:
            list(api.iterate("message_batches", "list"))
    assert caught.value.cursor == "b1"
    assert caught.value.resource == "message_batches"
    assert len(calls) == 2


def test_iterate_repeating_page_token_is_a_pagination_error() -> None:
    page = {"data": [{"id": "s1"}], "next_page": "page_s1"}
    with Connector(
        DEFINITION,
        base_url="http://x",
        api_key=KEY,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=page)),
    ) as api:
        with pytest.raises(PaginationError):
            list(api.iterate("skills", "list"))


def test_iterate_stops_on_has_more_false_even_with_a_cursor() -> None:
    page = {"data": [{"id": "b1"}], "has_more": False, "last_id": "b1"}
    with Connector(
        DEFINITION,
        base_url="http://x",
        api_key=KEY,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=page)),
    ) as api:
        assert len(list(api.iterate("message_batches", "list"))) == 1


# --- JSONL and binary bodies ------------------------------------------------------------------


def test_stream_jsonl_streams_every_result(api: Connector, clock: ManualClock) -> None:
    requests = [
        {
            "custom_id": f"r-{i}",
            "params": {
                "model": MODEL,
                "max_tokens": 8,
                "messages": [{"role": "user", "content": f"n{i}"}],
            },
        }
        for i in range(300)
    ]
    batch = api.call("message_batches", "create", body={"requests": requests})
    clock.advance(3)
    results = list(api.stream_jsonl("message_batches", "results", {"batch_id": batch["id"]}))
    assert sorted(r["custom_id"] for r in results) == sorted(r["custom_id"] for r in requests)
    assert {r["result"]["type"] for r in results} == {"succeeded"}


def test_stream_jsonl_is_lazy_over_the_body() -> None:
    """Objects come out as their lines arrive; the body is never read whole first."""
    produced: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield b'{"custom_id": "r-%d"}\n' % i

    with Connector(
        DEFINITION,
        base_url="http://x",
        api_key=KEY,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body())),
    ) as api:
        stream = api.stream_jsonl("message_batches", "results", {"batch_id": "b"})
        assert next(stream) == {"custom_id": "r-0"}
        assert len(produced) < 10
        assert sum(1 for _ in stream) == 999


def test_stream_jsonl_error_status_is_a_typed_error(api: Connector) -> None:
    batch = api.call("message_batches", "create", BATCH_PARAMS)
    with pytest.raises(BadRequestError) as caught:
        list(api.stream_jsonl("message_batches", "results", {"batch_id": batch["id"]}))
    assert caught.value.request_id is not None


def test_download_writes_binary_in_chunks(api: Connector, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    file_id = api.call("files", "upload", {"file": str(path)})["id"]
    out = io.BytesIO()
    assert api.download("files", "download", {"file_id": file_id}, out) == len(payload)
    assert out.getvalue() == payload


# --- errors and secrets -----------------------------------------------------------------------


def test_call_not_found_is_typed_with_request_id(api: Connector, bridge: ASGIBridge) -> None:
    with pytest.raises(NotFoundError) as caught:
        api.call("message_batches", "read", {"batch_id": "msgbatch_missing"})
    error = caught.value
    assert error.status == 404
    assert error.error_type == "not_found_error"
    assert error.request_id is not None and error.request_id.startswith("req_")
    assert (error.resource, error.operation) == ("message_batches", "read")
    assert error.request_id in str(error)


def test_send_returns_an_error_response_without_raising(api: Connector) -> None:
    response = api.send("message_batches", "read", {"batch_id": "msgbatch_missing"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_call_raw_returns_the_whole_json(api: Connector) -> None:
    batch = api.call("message_batches", "create", BATCH_PARAMS, raw=True)
    assert batch["type"] == "message_batch"
    assert batch["request_counts"]["processing"] == 1


def test_on_write_sees_every_successful_write(bridge: ASGIBridge) -> None:
    writes: list[tuple[str, str, Any]] = []
    with Connector(
        DEFINITION,
        base_url="http://sandbox.test",
        api_key=KEY,
        transport=bridge,
        on_write=lambda *args: writes.append(args),
    ) as api:
        message = api.call("messages", "create", {"model": MODEL, "max_tokens": 8, "content": "x"})
        api.call("models", "list")
    assert [(h, o) for h, o, _ in writes] == [("messages", "create")]
    assert writes[0][2]["id"] == message["id"]


def test_wrong_key_is_an_authentication_error_without_the_key(bridge: ASGIBridge) -> None:
    wrong = "sk-ant-wrong-key-9876543210"
    with Connector(
        DEFINITION, base_url="http://sandbox.test", api_key=wrong, transport=bridge
    ) as api:
        with pytest.raises(AuthenticationError) as caught:
            api.call("models", "list")
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)


def test_secrets_never_appear_in_reprs_errors_or_logs(
    bridge: ASGIBridge, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The API key is absent from the connectors' reprs, from every error and from log lines."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with Connector(
        DEFINITION, base_url="http://sandbox.test", api_key=KEY, transport=bridge
    ) as api:
        texts.append(repr(api))
        texts.append(repr(api.definition))
        api.call("models", "list")
        for attempt in (
            lambda: api.call("message_batches", "read", {"batch_id": "nope"}),
            lambda: api.call("messages", "create", {"max_tokens": "x"}),
            lambda: api.call("files", "upload", {"file": str(tmp_path / "absent")}),
        ):
            with pytest.raises(Exception) as caught:
                attempt()
            texts += [str(caught.value), repr(caught.value)]
    texts.append(repr(AsyncConnector(DEFINITION, base_url="http://sandbox.test", api_key=KEY)))

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.url}")

    with Connector(
        DEFINITION,
        base_url="http://sandbox.test",
        api_key=KEY,
        transport=httpx.MockTransport(refused),
        sleep=lambda seconds: None,
    ) as api:
        with pytest.raises(TransportError) as transport_error:
            api.call("models", "list")
        texts += [str(transport_error.value), repr(transport_error.value)]
    with pytest.raises(ConfigurationError) as missing:
        Connector(DEFINITION, base_url="http://sandbox.test", env={}).call("models", "list")
    texts.append(str(missing.value))
    texts.append(caplog.text)
    assert all(KEY not in text for text in texts)
    assert len(texts) >= 11


def test_secret_placeholder_value_never_appears_in_an_input_error() -> None:
    definition = load_definition(
        {
            "service": {"baseURL": "http://x"},
            "resources": [
                {
                    "handle": "tokens",
                    "endpoint": "/tokens",
                    "operations": {
                        "create": {
                            "method": "POST",
                            "bodyTemplate": {
                                "value": '{"pin": {{pin}}}',
                                "placeholders": [
                                    {"name": "pin", "type": "Integer", "secret": True}
                                ],
                            },
                        }
                    },
                }
            ],
        }
    )
    secret = "hunter2-very-secret"
    with Connector(definition, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as api:
        with pytest.raises(InputError) as caught:
            api.call("tokens", "create", {"pin": secret})
    assert caught.value.problems[0].parameter == "pin"
    assert secret not in str(caught.value) and secret not in repr(caught.value.problems)


def _jsonl_connector(chunks: list[bytes]) -> Connector:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter(chunks))

    return Connector(
        DEFINITION, base_url="http://x", api_key=KEY, transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize("size", [1, 2, 5, 64, 10_000])
def test_stream_jsonl_any_chunking_gives_the_same_objects(size: int) -> None:
    """Lines cut anywhere, even inside a multi-byte character, decode the same."""
    objects = [{"custom_id": f"r-{i}", "text": "é中😀" * (i % 4), "n": i} for i in range(50)]
    raw = b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objects)
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    with _jsonl_connector(chunks) as api:
        assert list(api.stream_jsonl("message_batches", "results", {"batch_id": "b"})) == objects


def test_stream_jsonl_tolerates_crlf_blank_lines_bom_and_no_final_newline() -> None:
    chunks = [b'\xef\xbb\xbf{"a": 1}\r\n', b"\r\n   \n", b'{"b":', b" 2}"]
    with _jsonl_connector(chunks) as api:
        assert list(api.stream_jsonl("message_batches", "results", {"batch_id": "b"})) == [
            {"a": 1},
            {"b": 2},
        ]


@pytest.mark.parametrize(
    ("chunks", "line"),
    [
        ([b'{"a": 1}\n{oops}\n'], 2),
        ([b'{"a": 1}\n\n', b'\xff\xfe"x"\n'], 3),
        ([b'{"a": 1}\n{"b":'], 2),
    ],
)
def test_stream_jsonl_bad_line_is_a_response_error_with_its_number(
    chunks: list[bytes], line: int
) -> None:
    with _jsonl_connector(chunks) as api:
        with pytest.raises(ResponseError) as caught:
            list(api.stream_jsonl("message_batches", "results", {"batch_id": "b"}))
    assert f"line {line} " in str(caught.value)
