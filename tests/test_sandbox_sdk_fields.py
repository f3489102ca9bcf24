"""Every field the installed Python SDK's response models declare is present in every answer of
the sandbox (null where it does not apply), for both API versions the SDKs speak."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.beta import BetaMessage
from anthropic.types.messages import MessageBatchIndividualResponse
from pydantic import TypeAdapter
from sdk_fields import missing_keys

from connector.sandbox import ManualClock, SandboxServer

MODEL = "claude-haiku-4-5"
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock, batch_seconds=1.0) as running:
        yield running


@pytest.fixture(scope="module", params=["2026-10-21", "2023-06-01"])
def client(server: SandboxServer, request: pytest.FixtureRequest) -> Iterator[anthropic.Anthropic]:
    """The installed SDK as it is (``anthropic-version: 2026-10-21``, ``Authorization:
    Bearer``) and as the SDKs before it spoke (``2023-06-01`` with ``x-api-key``)."""
    if request.param == "2026-10-21":
        sdk = anthropic.Anthropic(base_url=server.base_url, api_key="sk-test")
        assert sdk.default_headers["anthropic-version"] == "2026-10-21"
        assert "Authorization" in sdk.auth_headers
    else:
        sdk = anthropic.Anthropic(
            base_url=server.base_url,
            auth_token=None,
            api_key=None,
            default_headers={"anthropic-version": "2023-06-01", "X-Api-Key": "sk-test"},
        )
    with sdk:
        yield sdk


def _params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    } | extra


def _check(raw: Any, kind: Any = None) -> Any:
    """The parsed answer, after checking its raw JSON against the model the SDK parsed it as
    (each item of a page against the item model)."""
    parsed = raw.parse()
    body = raw.http_response.json()
    if kind is None and hasattr(parsed, "data") and isinstance(body.get("data"), list):
        for item, model in zip(body["data"], parsed.data, strict=True):
            assert missing_keys(item, type(model)) == []
        return parsed
    missing = missing_keys(body, kind or type(parsed))
    assert missing == [], "\n".join(missing)
    return parsed


def test_messages_text_and_tool_use_carry_every_declared_field(client: anthropic.Anthropic) -> None:
    text = client.messages.with_raw_response.create(**_params("What is the capital of France?"))
    _check(text, Message)
    _check(text, BetaMessage)
    tool = client.messages.with_raw_response.create(
        **_params(
            "Weather in Paris?", tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"}
        )
    )
    assert _check(tool).content[0].type == "tool_use"
    _check(
        client.messages.with_raw_response.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    )


def test_every_stream_event_carries_every_declared_field(server: SandboxServer) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    body = _params("What is the capital of France?", stream=True)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with httpx.stream(
        "POST", f"{server.base_url}/v1/messages", json=body, headers=headers
    ) as response:
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    kinds = [e["type"] for e in events]
    assert "message_delta" in kinds
    for event in events:
        if event["type"] == "ping":
            continue
        adapter.validate_python(event)
        missing = missing_keys(event, RawMessageStreamEvent)
        assert missing == [], "\n".join(missing)


def test_batches_and_their_results_carry_every_declared_field(
    client: anthropic.Anthropic, clock: ManualClock
) -> None:
    batches = client.messages.batches
    created = _check(
        batches.with_raw_response.create(
            requests=[
                {"custom_id": "a", "params": _params("hi")},
                {"custom_id": "b", "params": _params("hi", model="claude-nope")},
            ]
        )
    )
    clock.advance(2)
    _check(batches.with_raw_response.retrieve(created.id))
    _check(batches.with_raw_response.list())
    results = batches.with_raw_response.results(created.id)
    for line in results.http_response.read().decode().splitlines():
        assert missing_keys(json.loads(line), MessageBatchIndividualResponse) == []
    _check(batches.with_raw_response.delete(created.id))


def test_models_carry_every_declared_field(client: anthropic.Anthropic) -> None:
    _check(client.models.with_raw_response.retrieve("claude-sonnet-4-5"))
    _check(client.models.with_raw_response.list())
    _check(client.beta.models.with_raw_response.retrieve("claude-sonnet-4-5"))


def test_files_carry_every_declared_field(client: anthropic.Anthropic) -> None:
    for files in (client.files, client.beta.files):
        uploaded = _check(files.with_raw_response.upload(file=("a.txt", b"hello", "text/plain")))
        _check(files.with_raw_response.retrieve_metadata(uploaded.id))
        _check(files.with_raw_response.list())
        _check(files.with_raw_response.delete(uploaded.id))


def test_skills_carry_every_declared_field(client: anthropic.Anthropic) -> None:
    skill_md = b"---\nname: greeter\ndescription: says hello\n---\nSay hello."
    ga = client.skills.with_raw_response.create(
        files=[("greeter/SKILL.md", skill_md, "text/markdown")], display_name="Greeter"
    )
    beta = client.beta.skills.with_raw_response.create(
        files=[("other/SKILL.md", skill_md, "text/markdown")], display_name="Other"
    )
    for skills, raw in ((client.skills, ga), (client.beta.skills, beta)):
        skill = _check(raw)
        _check(skills.with_raw_response.retrieve(skill.id))
        _check(skills.with_raw_response.list())
        _check(skills.with_raw_response.delete(skill.id))


@pytest.mark.parametrize(
    ("version", "header"),
    [("2026-10-21", "Authorization: Bearer"), ("2023-06-01", "x-api-key")],
)
def test_a_missing_key_is_refused_naming_the_header_of_the_requests_version(
    server: SandboxServer, version: str, header: str
) -> None:
    answer = httpx.get(f"{server.base_url}/v1/models", headers={"anthropic-version": version})
    assert answer.status_code == 401
    assert answer.json()["error"] == {
        "type": "authentication_error",
        "message": f"{header} header is required",
    }


def test_a_wrong_key_is_refused_naming_the_header_the_sdk_used() -> None:
    with SandboxServer(api_key="sk-right") as server:
        modern = anthropic.Anthropic(base_url=server.base_url, api_key="sk-wrong", max_retries=0)
        with modern, pytest.raises(anthropic.AuthenticationError) as caught:
            modern.models.list()
        assert caught.value.body["error"]["message"] == "invalid Authorization: Bearer"  # type: ignore[index]
        with anthropic.Anthropic(base_url=server.base_url, api_key="sk-right") as right:
            assert right.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5-20251001"


def test_skills_create_takes_display_name_and_the_older_display_title(
    server: SandboxServer,
) -> None:
    skill_md = b"---\nname: greeter\ndescription: says hello\n---\nSay hello."
    headers = {
        "x-api-key": "k",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "skills-2025-10-02",
    }
    for field in ("display_name", "display_title"):
        answer = httpx.post(
            f"{server.base_url}/v1/skills",
            headers=headers,
            data={field: f"By {field}"},
            files=[("files[]", ("greeter/SKILL.md", skill_md, "text/markdown"))],
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["display_title"] == f"By {field}"
