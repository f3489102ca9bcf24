"""Streamed messages: server-sent events decoded and folded by the definition's rules, the same
final message as a plain create, the command line, and typed errors for broken streams."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector import AsyncConnector, Connector
from connector.cli import main
from connector.cli.streaming import print_stream
from connector.errors import (
    InputError,
    OverloadedError,
    ResponseError,
    StreamInterruptedError,
)
from connector.sandbox import SandboxServer
from connector.sandbox.app import create_app

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "definitions" / "claude-api.json"
PARAMS = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "content": "What is the capital of France?",
}
TOOL_BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ],
    "tool_choice": {"type": "tool", "name": "get_weather"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


def _without_id(message: object) -> object:
    assert isinstance(message, dict)
    return {k: v for k, v in message.items() if k != "id"}


def test_events_arrive_decoded_and_add_up_to_the_plain_reply(server: SandboxServer) -> None:
    with Connector(DEFINITION, base_url=server.base_url, api_key="k") as api:
        with api.stream("messages", "stream", PARAMS) as events:
            seen = list(events)
            final = events.final()
        plain = api.call("messages", "create", PARAMS, raw=True)
    names = [e.name for e in seen]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    deltas = [e.data["delta"]["text"] for e in seen if e.name == "content_block_delta"]  # type: ignore[index]
    assert len(deltas) > 1 and "".join(deltas) == "The capital of France is Paris."
    assert _without_id(final) == _without_id(plain)
    assert final["usage"]["output_tokens"] == plain["usage"]["output_tokens"] > 1  # type: ignore[index]


def test_a_tool_use_stream_parses_its_partial_json(server: SandboxServer) -> None:
    with Connector(DEFINITION, base_url=server.base_url, api_key="k") as api:
        final = api.stream("messages", "stream", body=TOOL_BODY).final()
        plain = api.call("messages", "create", body={**TOOL_BODY, "stream": False}, raw=True)
    assert final["content"][0]["type"] == "tool_use"  # type: ignore[index]
    assert (
        final["content"][0]["input"]
        == plain["content"][0]["input"]
        == {"city": "Weather in Paris?"}
    )  # type: ignore[index]
    assert _without_id(final)["content"][0].keys() == plain["content"][0].keys()  # type: ignore[index]


def test_the_async_client_streams_the_same() -> None:
    async def run() -> tuple[list[str], object]:
        transport = httpx.ASGITransport(create_app())
        async with AsyncConnector(
            DEFINITION, base_url="http://sandbox", api_key="k", transport=transport
        ) as api:
            stream = await api.stream("messages", "stream", PARAMS)
            names = [event.name async for event in stream]
            return names, await stream.final()

    names, final = asyncio.run(run())
    assert names.count("content_block_delta") > 1
    assert final["content"][0]["text"] == "The capital of France is Paris."  # type: ignore[index]


def test_an_error_status_and_a_json_answer_are_typed_errors(server: SandboxServer) -> None:
    with Connector(DEFINITION, base_url=server.base_url, api_key="k") as api:
        with pytest.raises(Exception) as caught:
            api.stream("messages", "stream", {**PARAMS, "model": "claude-nope"})
        assert type(caught.value).__name__ == "NotFoundError"
        with pytest.raises(ResponseError, match="expected text/event-stream"):
            api.stream("messages", "create", PARAMS)  # a JSON operation read as a stream


def _serve_once(payload: bytes, *, finish: bool) -> tuple[str, threading.Thread]:
    """A one-shot HTTP server on 127.0.0.1 sending ``payload`` as a chunked SSE body, then
    either finishing the body properly or closing the socket in the middle of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(65536)
            head = (
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            conn.sendall(head + b"%x\r\n%s\r\n" % (len(payload), payload))
            if finish:
                conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}", thread


START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","content":[],'
    b'"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
)


@pytest.mark.parametrize("finish", [False, True], ids=["socket-dropped", "no-final-event"])
def test_a_broken_stream_raises_stream_interrupted(finish: bool) -> None:
    base, thread = _serve_once(START, finish=finish)
    with Connector(DEFINITION, base_url=base, api_key="k", max_retries=0) as api:
        events = api.stream("messages", "stream", PARAMS)
        with pytest.raises(StreamInterruptedError) as caught:
            for _ in events:
                pass
    thread.join(5)
    assert caught.value.events == 1
    assert "broke off after 1 event(s)" in str(caught.value)
    assert ("message_stop" in str(caught.value)) is finish


def test_an_error_event_raises_the_typed_error_it_names() -> None:
    error = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
    base, thread = _serve_once(START + error, finish=True)
    with Connector(DEFINITION, base_url=base, api_key="k", max_retries=0) as api:
        with pytest.raises(OverloadedError, match="Overloaded"):
            api.stream("messages", "stream", PARAMS).final()
    thread.join(5)


def test_call_stream_prints_jsonl_events_when_piped(
    server: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["call", "messages", "create", "--stream", "--base-url", server.base_url]
    args += ["--api-key", "k"] + [f"-p{k}={v}" for k, v in PARAMS.items()]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "message_start"
    assert lines[-1] == {"event": "message_stop", "data": {"type": "message_stop"}}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_call_stream_prints_text_as_it_arrives_on_a_terminal(server: SandboxServer) -> None:
    out = _Terminal()
    with Connector(DEFINITION, base_url=server.base_url, api_key="k") as api:
        assert print_stream(api, "messages", "create", PARAMS, out=out) == 0
        assert out.getvalue() == "The capital of France is Paris.\n"
        with pytest.raises(InputError, match="has no streaming form"):
            print_stream(api, "models", "list", {}, out=out)
