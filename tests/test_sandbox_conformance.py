"""The official SDK (2.15, strict response validation) against the sandbox on a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import anthropic
import pytest

from connector.sandbox import FaultPlan, FaultRule, ManualClock, SandboxServer

MODEL = "claude-haiku-4-5"


def _params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    } | extra


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def serve(clock: ManualClock) -> Iterator[Callable[..., SandboxServer]]:
    servers: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        options.setdefault("clock", clock)
        server = SandboxServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(serve: Callable[..., SandboxServer]) -> SandboxServer:
    return serve(batch_seconds=2.0, cancel_seconds=1.0)


@pytest.fixture
def client(server: SandboxServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=server.base_url, api_key="sk-test", _strict_response_validation=True
    ) as sdk:
        yield sdk


def test_messages_create_answers_deterministically(client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(**_params("What is the capital of France?"))
    message = raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.content[0].type == "text"
    assert message.content[0].text == "The capital of France is Paris."
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.model == "claude-haiku-4-5-20251001"
    again = client.messages.create(**_params("What is the capital of France?"))
    assert again.content == message.content
    assert again.usage.input_tokens == message.usage.input_tokens > 0


def test_messages_create_stops_at_stop_sequence_and_max_tokens(client: anthropic.Anthropic) -> None:
    stopped = client.messages.create(
        **_params("What is the capital of France?", stop_sequences=["Paris"])
    )
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "Paris"
    assert stopped.content[0].type == "text"
    assert stopped.content[0].text == "The capital of France is "
    cut = client.messages.create(**_params("What is the capital of France?", max_tokens=3))
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 3
    assert cut.content[0].type == "text"
    assert cut.content[0].text == "The capital of"


def test_messages_count_tokens_grows_with_text(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "hi " * 50}]
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_messages_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(**_params("hi", model="claude-nonexistent-9"))
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_batches_succeed_and_error_on_the_clock(
    client: anthropic.Anthropic, server: SandboxServer, clock: ManualClock
) -> None:
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "ok-1", "params": _params("What is the capital of Japan?")},
            {"custom_id": "ok-2", "params": _params("12 * 12")},
            {"custom_id": "bad", "params": _params("hi", model="claude-nonexistent-9")},
        ]
    )
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3
    assert batch.results_url is None
    assert batch.expires_at - batch.created_at == timedelta(hours=24)
    clock.advance(1.9)
    assert client.messages.batches.retrieve(batch.id).request_counts.processing == 3
    clock.advance(0.2)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at is not None
    assert (ended.request_counts.succeeded, ended.request_counts.errored) == (2, 1)
    assert ended.results_url == f"{server.base_url}/v1/messages/batches/{batch.id}/results"
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["ok-1"].type == "succeeded"
    assert results["ok-1"].message.content[0].text == "The capital of Japan is Tokyo."  # type: ignore[union-attr]
    assert results["ok-2"].message.content[0].text == "12 * 12 = 144."  # type: ignore[union-attr]
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.type == "not_found_error"  # type: ignore[union-attr]


def test_batches_cancel_then_canceled_results(
    client: anthropic.Anthropic, clock: ManualClock
) -> None:
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": _params("hi")} for i in range(4)]
    )
    clock.advance(1.0)  # half of the requests have finished
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at == batch.created_at + timedelta(seconds=1)
    assert canceling.request_counts.processing == 4
    clock.advance(1.0)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (2, 2)
    kinds = sorted(r.result.type for r in client.messages.batches.results(batch.id))
    assert kinds == ["canceled", "canceled", "succeeded", "succeeded"]


def test_batches_expire_after_24_hours(
    serve: Callable[..., SandboxServer], clock: ManualClock
) -> None:
    slow = serve(batch_seconds=48 * 3600)
    with anthropic.Anthropic(
        base_url=slow.base_url, api_key="k", _strict_response_validation=True
    ) as sdk:
        batch = sdk.messages.batches.create(
            requests=[{"custom_id": f"r{i}", "params": _params("hi")} for i in range(4)]
        )
        clock.advance(24 * 3600)
        ended = sdk.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.ended_at == ended.expires_at
        assert (ended.request_counts.succeeded, ended.request_counts.expired) == (2, 2)
        kinds = sorted(r.result.type for r in sdk.messages.batches.results(batch.id))
        assert kinds == ["expired", "expired", "succeeded", "succeeded"]


def test_batches_list_pages_newest_first_and_delete(
    client: anthropic.Anthropic, clock: ManualClock
) -> None:
    ids = []
    for index in range(5):
        ids.append(
            client.messages.batches.create(
                requests=[{"custom_id": "only", "params": _params(f"batch {index}")}]
            ).id
        )
        clock.advance(0.001)
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2]
    assert first.has_more is True
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(ids[0])
    clock.advance(5)
    deleted = client.messages.batches.delete(ids[0])
    assert (deleted.id, deleted.type) == (ids[0], "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(ids[0])


def test_models_list_and_retrieve_by_alias(client: anthropic.Anthropic) -> None:
    models = list(client.models.list(limit=2))
    assert len(models) >= 4
    assert models == sorted(models, key=lambda m: m.created_at, reverse=True)
    assert all(m.lifecycle in ("active", "deprecated") for m in models)
    model = client.models.retrieve("claude-sonnet-4-5")
    assert model.id == "claude-sonnet-4-5-20250929"
    assert model.type == "model"


def test_files_ga_and_beta(client: anthropic.Anthropic) -> None:
    uploaded = client.files.upload(file=("notes.txt", b"hello sandbox", "text/plain"))
    assert (uploaded.filename, uploaded.size_bytes, uploaded.mime_type) == (
        "notes.txt",
        13,
        "text/plain",
    )
    second = client.beta.files.upload(file=("b.json", b"{}", "application/json"))
    assert [f.id for f in client.files.list(limit=1)] == [second.id, uploaded.id]
    assert [f.id for f in client.beta.files.list()] == [second.id, uploaded.id]
    assert client.beta.files.retrieve_metadata(uploaded.id).filename == "notes.txt"
    assert client.files.retrieve_metadata(second.id).size_bytes == 2
    assert client.files.download(uploaded.id).read() == b"hello sandbox"
    assert client.beta.files.download(second.id).read() == b"{}"
    assert client.files.delete(uploaded.id).id == uploaded.id
    assert client.beta.files.delete(second.id).id == second.id
    with pytest.raises(anthropic.NotFoundError):
        client.files.retrieve_metadata(uploaded.id)


def test_skills_ga_and_beta(client: anthropic.Anthropic) -> None:
    skill_md = b"---\nname: greeter\ndescription: says hello\n---\nSay hello."
    skill = client.skills.create(
        files=[("greeter/SKILL.md", skill_md, "text/markdown")], display_name="Greeter"
    )
    assert skill.display_name == "Greeter"
    assert skill.source.type == "custom"
    assert skill.latest_version_id
    beta = client.beta.skills.create(files=[("other/SKILL.md", skill_md, "text/markdown")])
    assert beta.display_name == "greeter"
    assert [s.id for s in client.skills.list(limit=1)] == [beta.id, skill.id]
    assert client.beta.skills.retrieve(skill.id).display_name == "Greeter"
    assert client.skills.delete(skill.id).type == "skill_deleted"
    assert client.beta.skills.delete(beta.id).id == beta.id
    assert list(client.skills.list()) == []


def test_errors_carry_the_request_id_header(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.batches.retrieve("msgbatch_missing")
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    assert caught.value.response.headers["request-id"] == caught.value.request_id


def test_overloaded_answers_are_retried_by_the_sdk(serve: Callable[..., SandboxServer]) -> None:
    rule = FaultRule(
        route="/v1/messages", method="POST", statuses=(529,), rate=1.0, limit=2, retry_after=0.01
    )
    flaky = serve(faults=FaultPlan(rules=[rule]))
    with anthropic.Anthropic(
        base_url=flaky.base_url, api_key="k", _strict_response_validation=True
    ) as sdk:
        message = sdk.messages.create(**_params("hello"))
    assert message.content[0].type == "text"
    assert rule.injected == 2


def test_wrong_key_is_refused_when_a_key_is_set(serve: Callable[..., SandboxServer]) -> None:
    guarded = serve(api_key="sk-right")
    with anthropic.Anthropic(base_url=guarded.base_url, api_key="sk-wrong") as sdk:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            sdk.models.list()
        assert caught.value.status_code == 401
        assert "sk-wrong" not in str(caught.value.body)
    with anthropic.Anthropic(base_url=guarded.base_url, api_key="sk-right") as sdk:
        assert sdk.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5-20251001"
