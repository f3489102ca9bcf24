"""The sandbox app in process (httpx over ASGITransport): auth, eras, envelope, messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connector.sandbox import ManualClock, create_app

OLD = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
NEW = {"authorization": "Bearer sk-test", "anthropic-version": "2026-10-21"}
MODEL = "claude-haiku-4-5"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(clock=ManualClock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


def _message(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}],
    } | extra


@pytest.mark.anyio
async def test_auth_missing_key_is_401_with_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["type"] == "error"
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.anyio
async def test_auth_accepts_x_api_key_and_bearer(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/models", headers=OLD)).status_code == 200
    assert (await api.get("/v1/models", headers=NEW)).status_code == 200


@pytest.mark.anyio
async def test_version_unknown_or_missing_is_400(api: httpx.AsyncClient) -> None:
    bad = await api.get("/v1/models", headers={"x-api-key": "k", "anthropic-version": "2024-01-01"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    missing = await api.get("/v1/models", headers={"x-api-key": "k"})
    assert missing.status_code == 400


@pytest.mark.anyio
async def test_unknown_path_and_wrong_method_answer_the_envelope(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/v1/nothing-here", headers=OLD)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"
    assert unknown.headers["request-id"] == unknown.json()["request_id"]
    wrong = await api.put("/v1/messages/batches", headers=OLD)
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "error"
    assert wrong.headers["request-id"].startswith("req_")


@pytest.mark.anyio
async def test_every_request_id_is_unique(api: httpx.AsyncClient) -> None:
    ids = {(await api.get("/v1/models", headers=OLD)).headers["request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.anyio
async def test_messages_sampling_parameters_depend_on_the_era(api: httpx.AsyncClient) -> None:
    body = _message("hi", temperature=0.5)
    assert (await api.post("/v1/messages", headers=OLD, json=body)).status_code == 200
    rejected = await api.post("/v1/messages", headers=NEW, json=body)
    assert rejected.status_code == 400
    assert "temperature" in rejected.json()["error"]["message"]
    out_of_range = await api.post("/v1/messages", headers=OLD, json=_message("hi", top_p=2))
    assert out_of_range.status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages"),
        ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}, "role"),
        (_message("x", max_tokens=10**6), "max_tokens"),
        (_message("x", frobnicate=True), "frobnicate"),
    ],
)
async def test_messages_validation_errors_name_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], fragment: str
) -> None:
    response = await api.post("/v1/messages", headers=NEW, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]


@pytest.mark.anyio
async def test_messages_bad_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/messages", headers=NEW | {"content-type": "application/json"}, content=b"{nope"
    )
    assert response.status_code == 400


@pytest.mark.anyio
async def test_messages_over_size_limit_is_413() -> None:
    app = create_app(max_message_bytes=1000)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as api:
        response = await api.post("/v1/messages", headers=NEW, json=_message("x" * 2000))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


@pytest.mark.anyio
async def test_messages_replies_grow_with_the_question(api: httpx.AsyncClient) -> None:
    short = (await api.post("/v1/messages", headers=NEW, json=_message("hello there"))).json()
    essay = "Sandboxes imitate services. " * 40
    long = (await api.post("/v1/messages", headers=NEW, json=_message(essay))).json()
    assert short["content"][0]["text"] == "Hello! How can I help you today?"
    assert long["content"][0]["text"].startswith("Summary of your 120-word message")
    assert long["usage"]["input_tokens"] > short["usage"]["input_tokens"]
    assert long["usage"]["output_tokens"] > short["usage"]["output_tokens"]


@pytest.mark.anyio
async def test_messages_forced_tool_use(api: httpx.AsyncClient) -> None:
    tool = {
        "name": "get_weather",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    }
    body = _message("Paris", tools=[tool], tool_choice={"type": "tool", "name": "get_weather"})
    message = (await api.post("/v1/messages", headers=NEW, json=body)).json()
    assert message["stop_reason"] == "tool_use"
    assert message["content"][0]["type"] == "tool_use"
    assert message["content"][0]["input"] == {"city": "Paris"}
    assert message["content"][0]["id"].startswith("toolu_")


@pytest.mark.anyio
async def test_messages_stream_sends_server_sent_events(api: httpx.AsyncClient) -> None:
    body = _message("What is the capital of Italy?", stream=True)
    response = await api.post("/v1/messages", headers=NEW, json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "The capital of Italy is Rome."
    assert (
        next(e for e in events if e["type"] == "message_delta")["delta"]["stop_reason"]
        == "end_turn"
    )


@pytest.mark.anyio
async def test_count_tokens_refuses_max_tokens(api: httpx.AsyncClient) -> None:
    ok = await api.post(
        "/v1/messages/count_tokens",
        headers=NEW,
        json={"model": MODEL, "messages": [{"role": "user", "content": "one two three"}]},
    )
    assert ok.json() == {"input_tokens": 10}
    refused = await api.post("/v1/messages/count_tokens", headers=NEW, json=_message("x"))
    assert refused.status_code == 400


@pytest.mark.anyio
async def test_models_lifecycle_filter_and_retired_model(api: httpx.AsyncClient) -> None:
    default = (await api.get("/v1/models", params={"limit": 100}, headers=NEW)).json()
    assert {m["lifecycle"] for m in default["data"]} == {"active", "deprecated"}
    retired = (await api.get("/v1/models", params={"lifecycle[]": "retired"}, headers=NEW)).json()
    assert retired["data"]
    assert {m["lifecycle"] for m in retired["data"]} == {"retired"}
    gone = await api.post(
        "/v1/messages", headers=NEW, json=_message("hi", model=retired["data"][0]["id"])
    )
    assert gone.status_code == 404


@pytest.mark.anyio
async def test_models_added_at_runtime_come_first(api: httpx.AsyncClient) -> None:
    added = await api.post("/_sandbox/models", json={"id": "claude-test-9", "aliases": ["t9"]})
    assert added.status_code == 201
    listing = (await api.get("/v1/models", params={"limit": 1}, headers=NEW)).json()
    assert listing["data"][0]["id"] == "claude-test-9"
    assert listing["has_more"] is True
    assert (await api.get("/v1/models/t9", headers=NEW)).json()["id"] == "claude-test-9"


@pytest.mark.anyio
@pytest.mark.parametrize("limit", ["0", "1001", "abc"])
async def test_list_limit_out_of_range_is_400(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/v1/models", params={"limit": limit}, headers=NEW)
    assert response.status_code == 400


@pytest.mark.anyio
async def test_old_era_files_use_id_cursors(api: httpx.AsyncClient) -> None:
    beta = OLD | {"anthropic-beta": "files-api-2025-04-14"}
    ids = []
    for name in ("a.txt", "b.txt", "c.txt"):
        uploaded = await api.post(
            "/v1/files?beta=true", headers=beta, files={"file": (name, b"data", "text/plain")}
        )
        ids.append(uploaded.json()["id"])
    first = (await api.get("/v1/files?beta=true", params={"limit": 2}, headers=beta)).json()
    assert [f["id"] for f in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True
    assert first["last_id"] == ids[1]
    rest = (
        await api.get("/v1/files", params={"limit": 2, "after_id": first["last_id"]}, headers=beta)
    ).json()
    assert [f["id"] for f in rest["data"]] == [ids[0]]
    assert rest["has_more"] is False
    assert rest["next_page"] is None
    back = (
        await api.get("/v1/files", params={"limit": 2, "before_id": ids[0]}, headers=beta)
    ).json()
    assert [f["id"] for f in back["data"]] == ids[::-1][:2]
    picked = (await api.get("/v1/files", params={"ids[]": [ids[0]]}, headers=NEW)).json()
    assert [f["id"] for f in picked["data"]] == [ids[0]]
    download = await api.get(
        f"/v1/files/{ids[0]}/content", headers=beta | {"accept": "application/binary"}
    )
    assert (download.content, download.headers["content-type"]) == (b"data", "text/plain")
    deleted = await api.request(
        "DELETE", f"/v1/files/{ids[0]}", headers=beta | {"content-type": "application/json"}
    )
    assert deleted.json() == {"id": ids[0], "type": "file_deleted"}


@pytest.mark.anyio
async def test_new_era_files_use_page_tokens(api: httpx.AsyncClient) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        await api.post("/v1/files", headers=NEW, files={"file": (name, b"x", "text/plain")})
    page = (await api.get("/v1/files", params={"limit": 2}, headers=NEW)).json()
    assert page["next_page"].startswith("page_")
    last = (
        await api.get("/v1/files", params={"limit": 2, "page": page["next_page"]}, headers=NEW)
    ).json()
    assert [f["filename"] for f in page["data"] + last["data"]] == ["c.txt", "b.txt", "a.txt"]
    assert last["next_page"] is None


@pytest.mark.anyio
async def test_strict_beta_requires_the_header_from_old_clients() -> None:
    app = create_app(strict_beta=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as api:
        assert (await api.get("/v1/files", headers=OLD)).status_code == 400
        with_beta = OLD | {"anthropic-beta": "skills-2025-10-02, files-api-2025-04-14"}
        assert (await api.get("/v1/files", headers=with_beta)).status_code == 200
        assert (await api.get("/v1/files", headers=NEW)).status_code == 200


@pytest.mark.anyio
async def test_old_era_skill_shape(api: httpx.AsyncClient) -> None:
    files = [
        ("files", ("demo/SKILL.md", b"---\nname: demo\n---\nHi", "text/markdown")),
        ("files", ("demo/extra.py", b"print(1)", "text/x-python")),
    ]
    created = await api.post(
        "/v1/skills?beta=true", headers=OLD, files=files, data={"display_title": "Demo skill"}
    )
    skill = created.json()
    assert skill["display_title"] == "Demo skill"
    assert skill["source"] == "custom"
    assert skill["latest_version"].isdigit()
    modern = (await api.get(f"/v1/skills/{skill['id']}", headers=NEW)).json()
    assert modern["display_name"] == "Demo skill"
    assert modern["source"] == {"type": "custom"}
    listed = (await api.get("/v1/skills", headers=OLD)).json()
    assert [s["id"] for s in listed["data"]] == [skill["id"]]
    assert listed["has_more"] is False


@pytest.mark.anyio
async def test_skill_without_skill_md_is_400(api: httpx.AsyncClient) -> None:
    files = [("files", ("demo/readme.txt", b"no manifest", "text/plain"))]
    response = await api.post("/v1/skills", headers=NEW, files=files)
    assert response.status_code == 400
    assert "SKILL.md" in response.json()["error"]["message"]
