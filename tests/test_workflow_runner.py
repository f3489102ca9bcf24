"""The step runner against a fake executor: criteria, actions, loops, nesting, failures, time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connector.errors import InputError, StepFailedError, WorkflowDefinitionError
from connector.workflows.binding import NO_BODY, OperationCall, OperationRef
from connector.workflows.loader import load_document
from connector.workflows.runner import DeadlineExceededError, RunOptions, WorkflowRunner

DATA = Path(__file__).parent / "data" / "workflows"
FLOW = DATA / "flow-control.arazzo.yaml"


@dataclass
class FakeResponse:
    status_code: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    url: str = "http://fake/op"

    def read(self) -> bytes:
        return self.body

    def iter_lines(self) -> Iterator[str]:
        yield from self.body.decode().splitlines()


Handler = Callable[[OperationCall], FakeResponse]


class FakeExecutor:
    """Operations createThing, readThing (path id) and listResults (JSONL)."""

    OPERATIONS: ClassVar[dict[str, OperationRef]] = {
        "createThing": OperationRef("things", "create", "POST", "createThing"),
        "readThing": OperationRef("things", "read", "GET", "readThing"),
        "listResults": OperationRef("things", "results", "GET", "listResults", "jsonl"),
    }

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[OperationCall] = []

    def find_operation(self, operation_id: str) -> OperationRef | None:
        return self.OPERATIONS.get(operation_id)

    def known_operation_ids(self) -> list[str]:
        return sorted(self.OPERATIONS)

    @contextmanager
    def execute(self, call: OperationCall) -> Iterator[FakeResponse]:
        self.calls.append(call)
        yield self.handler(call)


def reply(status: int, body: Any, **headers: str) -> FakeResponse:
    return FakeResponse(
        status, json.dumps(body).encode(), {"content-type": "application/json", **headers}
    )


class Clock:
    """An injected clock: sleeping moves time, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def thing_api(
    polls_to_end: int = 3, missing: tuple[str, ...] = ("missing",), busy: int = 0
) -> Handler:
    state = {"polls": 0, "busy": busy}

    def handle(call: OperationCall) -> FakeResponse:
        if call.ref.operation == "create":
            return reply(200, {"id": "t1"})
        if call.ref.operation == "results":
            lines = "\n".join(json.dumps({"custom_id": f"c{i}"}) for i in range(3)) + "\n"
            return FakeResponse(200, lines.encode(), {"content-type": "application/binary"})
        if call.path["id"] in missing:
            return reply(404, {"type": "error", "error": {"type": "not_found_error"}})
        if state["busy"]:
            state["busy"] -= 1
            return reply(529, {"type": "error"}, **{"retry-after": "2"})
        state["polls"] += 1
        status = "ended" if state["polls"] >= polls_to_end else "in_progress"
        return reply(200, {"id": call.path["id"], "status": status, "polls": state["polls"]})

    return handle


def runner(
    handler: Handler, clock: Clock | None = None, **options: Any
) -> tuple[WorkflowRunner, FakeExecutor]:
    executor = FakeExecutor(handler)
    clock = clock or Clock()
    run_options = RunOptions(clock=clock, sleep=clock.sleep, **options)
    return WorkflowRunner(load_document(FLOW), {"api": executor}, run_options), executor


def test_run_retries_on_success_until_the_criterion_changes() -> None:
    clock = Clock()
    run, _ = runner(thing_api(polls_to_end=3), clock)
    outputs = run.run("poll-until-ended", {"apiKey": "sk-secret"})
    assert outputs == {"id": "t1", "status": "ended", "polls": 3}
    assert clock.sleeps == [5, 5]


def test_run_builds_parameters_and_body() -> None:
    """Headers, references, path parameters, embedded expressions, literal '$', replacements."""
    run, executor = runner(thing_api(polls_to_end=1))
    run.run("poll-until-ended", {"apiKey": "sk-secret"})
    create, poll = executor.calls
    assert create.headers == {
        "x-api-key": "sk-secret",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    assert create.body == {"price": "$5", "note": "key 3", "limit": 3, "extra": 3}
    assert poll.path == {"id": "t1"} and poll.body is NO_BODY


def test_run_honours_retry_after_header_and_cap() -> None:
    clock = Clock()
    run, _ = runner(thing_api(polls_to_end=1, busy=2), clock)
    run.run("poll-until-ended", {"apiKey": "k"})
    assert clock.sleeps == [2, 2]  # Retry-After: 2 wins over retryAfter: 1
    clock = Clock()
    run, _ = runner(thing_api(polls_to_end=1, busy=2), clock, max_retry_after=0.5)
    run.run("poll-until-ended", {"apiKey": "k"})
    assert clock.sleeps == [0.5, 0.5]


def test_run_fails_after_the_retry_limit() -> None:
    run, executor = runner(thing_api(polls_to_end=1, busy=5))
    with pytest.raises(StepFailedError) as caught:
        run.run("poll-until-ended", {"apiKey": "sk-secret"})
    error = caught.value
    assert (error.workflow_id, error.step_id, error.criterion, error.value) == (
        "poll-until-ended",
        "poll",
        "$statusCode == 200",
        529,
    )
    assert len(executor.calls) == 1 + 3  # one create, the first poll and two retries


def test_run_fails_when_polling_exhausts_its_limit() -> None:
    run, executor = runner(thing_api(polls_to_end=100))
    with pytest.raises(StepFailedError) as caught:
        run.run("poll-until-ended", {"apiKey": "k"})
    assert caught.value.step_id == "poll"
    assert caught.value.criterion == "$.status != 'ended'"
    assert len(executor.calls) == 1 + 11


def test_run_goto_loops_and_end_stops() -> None:
    run, executor = runner(thing_api(polls_to_end=99))
    assert run.run("goto-loop") == {"n": 3, "never": None}
    assert [c.path["id"] for c in executor.calls] == ["counter"] * 3


def test_run_failure_action_goto_and_workflow_default_actions() -> None:
    run, executor = runner(thing_api(polls_to_end=1))
    assert run.run("failing") == {"fallback": "ended"}
    assert [c.path["id"] for c in executor.calls] == ["missing", "other"]


def test_run_workflow_failure_actions_apply_when_a_step_has_none() -> None:
    """The fallback step fails too; the workflow's failureActions (a reference to end) end it."""
    run, _ = runner(thing_api(polls_to_end=1, missing=("missing", "other")))
    assert run.run("failing") == {"fallback": None}


def test_run_nested_workflows_dependencies_and_goto_workflow() -> None:
    run, executor = runner(thing_api(polls_to_end=1))
    outputs = run.run("parent", {"apiKey": "k"})
    assert outputs == {"childId": "t1", "loopCount": 3, "fallback": "ended"}
    create = next(c for c in executor.calls if c.ref.operation == "create")
    assert create.body["limit"] == 7


def test_run_decodes_jsonl_bodies_to_a_list() -> None:
    run, _ = runner(thing_api())
    outputs = run.run("results")
    assert outputs["results"] == [{"custom_id": "c0"}, {"custom_id": "c1"}, {"custom_id": "c2"}]
    assert outputs["first"] == "c0"


def test_run_streams_jsonl_to_results_out(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    run, _ = runner(thing_api(), results_out=out)
    outputs = run.run("results")
    assert outputs["results"] == {"path": str(out), "count": 3}
    assert [json.loads(line)["custom_id"] for line in out.read_text().splitlines()] == [
        "c0",
        "c1",
        "c2",
    ]


def test_run_stops_at_the_deadline() -> None:
    run, _ = runner(thing_api(polls_to_end=100), deadline=12)
    with pytest.raises(DeadlineExceededError) as caught:
        run.run("poll-until-ended", {"apiKey": "k"})
    assert caught.value.step_id == "poll" and caught.value.criterion == "deadline"


def test_run_validates_inputs_and_hides_secrets() -> None:
    run, _ = runner(thing_api())
    with pytest.raises(InputError) as caught:
        run.run("poll-until-ended", {"limit": "x"})
    parameters = {p.parameter for p in caught.value.problems}
    assert parameters == {"apiKey", "limit"}
    with pytest.raises(InputError) as caught:
        run.run("poll-until-ended", {"apiKey": 12345})
    assert "12345" not in str(caught.value)


def test_step_failure_never_shows_the_api_key() -> None:
    def echo_key(call: OperationCall) -> FakeResponse:
        return reply(500, {"echo": call.headers.get("x-api-key")})

    executor = FakeExecutor(echo_key)
    document = load_document(
        {
            "arazzo": "1.0.1",
            "info": {"title": "t", "version": "1"},
            "sourceDescriptions": [{"name": "api", "url": "x"}],
            "workflows": [
                {
                    "workflowId": "w",
                    "steps": [
                        {
                            "stepId": "s",
                            "operationId": "createThing",
                            "parameters": [
                                {"name": "x-api-key", "in": "header", "value": "$inputs.apiKey"}
                            ],
                            "successCriteria": [{"condition": "$response.body#/echo == 'nope'"}],
                        }
                    ],
                }
            ],
        }
    )
    with pytest.raises(StepFailedError) as caught:
        WorkflowRunner(document, {"api": executor}).run(inputs={"apiKey": "sk-ant-very-secret"})
    assert "sk-ant-very-secret" not in str(caught.value)
    assert caught.value.value == "***"


def test_runner_refuses_unknown_operation_ids_with_location() -> None:
    data = json.loads(json.dumps(load_document(FLOW).model_dump(by_alias=True, exclude_none=True)))
    data["workflows"][0]["steps"][1]["operationId"] = "readThings"
    document = load_document(data)
    with pytest.raises(WorkflowDefinitionError) as caught:
        WorkflowRunner(document, {"api": FakeExecutor(thing_api())})
    (problem,) = caught.value.problems
    assert problem.location == "workflows[0].steps[1].operationId"
    assert "'readThing'" in problem.message


def test_runner_refuses_an_unknown_workflow_id() -> None:
    run, _ = runner(thing_api())
    with pytest.raises(WorkflowDefinitionError) as caught:
        run.run("nope")
    assert caught.value.problems[0].found == "nope"
