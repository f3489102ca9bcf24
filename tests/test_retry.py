"""Retries through Connector: which failures, how many attempts, how long each wait.

Every test uses httpx.MockTransport and an injected sleep that records the delays, so no test
sleeps and every delay is asserted exactly or within the jitter band.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import (
    AsyncConnector,
    BadRequestError,
    ConflictError,
    Connector,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    TransportError,
    UpstreamError,
    load_definition,
)

DEFINITION = load_definition(
    Path(__file__).resolve().parent.parent / "definitions" / "claude-api.json"
)
BATCH = {"id": "msgbatch_1", "type": "message_batch", "processing_status": "in_progress"}
READ = ("message_batches", "read", {"batch_id": "msgbatch_1"})
CREATE = (
    "message_batches",
    "create",
    {"custom_id": "a", "model": "m", "max_tokens": 10, "content": "hi"},
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Step = httpx.Response | Exception


class Script:
    """Answers requests from a list of steps (a response, or an exception to raise); the last
    step repeats. Records every request it saw."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests) - 1, len(self.steps) - 1)]
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def attempts(self) -> int:
        return len(self.requests)


def error(
    status: int, kind: str = "api_error", headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"type": "error", "error": {"type": kind, "message": f"status {status}"}}
    return httpx.Response(
        status, json=body, headers={"request-id": f"req_{status}", **(headers or {})}
    )


def ok(body: Any = BATCH) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"request-id": "req_ok"})


def connector(script: Script, sleeps: list[float], **options: Any) -> Connector:
    return Connector(
        DEFINITION,
        base_url="http://api.test",
        api_key="sk-test",
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        **options,
    )


def run(
    script: Script, call: tuple[str, str, dict[str, Any]], **options: Any
) -> tuple[Any, list[float]]:
    sleeps: list[float] = []
    with connector(script, sleeps, **options) as api:
        try:
            return api.call(*call), sleeps
        except Exception as exc:  # returned so that tests can assert on it with the delays
            return exc, sleeps


def assert_backoff(sleeps: list[float]) -> None:
    """Each delay is min(0.5 × 2ⁿ, 8) × (1 − 0.25 × random): within [0.75, 1] of its base."""
    for n, delay in enumerate(sleeps):
        base = min(0.5 * 2**n, 8.0)
        assert 0.75 * base <= delay <= base, (n, delay)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (408, RequestTimeoutError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (529, OverloadedError),
    ],
)
def test_retry_retryable_status_gets_two_retries_with_backoff(
    status: int, cls: type[Exception]
) -> None:
    """408, 409, 429, 5xx and 529 are retried twice (3 attempts), then the typed error surfaces."""
    script = Script(error(status))
    result, sleeps = run(script, READ)
    assert isinstance(result, cls)
    assert script.attempts == 3
    assert len(sleeps) == 2
    assert_backoff(sleeps)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, UpstreamError),
        (403, UpstreamError),
        (404, NotFoundError),
        (413, UpstreamError),
        (422, UpstreamError),
    ],
)
def test_retry_client_errors_are_not_retried(status: int, cls: type[Exception]) -> None:
    script = Script(error(status))
    result, sleeps = run(script, READ)
    assert isinstance(result, cls)
    assert script.attempts == 1
    assert sleeps == []


def test_retry_success_after_failures_returns_the_record() -> None:
    script = Script(error(503), error(529), ok())
    result, sleeps = run(script, READ)
    assert result["id"] == "msgbatch_1"
    assert script.attempts == 3
    assert len(sleeps) == 2


def test_retry_backoff_doubles_to_the_cap() -> None:
    """Without jitter the waits are 0.5, 1, 2, 4, 8, 8 s: doubling, capped at 8 s."""
    script = Script(error(500))
    _, sleeps = run(script, READ, retry=RetryPolicy(max_retries=6, jitter=0.0))
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert script.attempts == 7


def test_retry_max_retries_zero_turns_retrying_off() -> None:
    script = Script(error(529))
    result, sleeps = run(script, READ, max_retries=0)
    assert isinstance(result, OverloadedError)
    assert (script.attempts, sleeps) == (1, [])


def test_retry_x_should_retry_false_overrides_a_retryable_status() -> None:
    script = Script(error(500, headers={"x-should-retry": "false"}))
    result, sleeps = run(script, READ)
    assert isinstance(result, InternalServerError)
    assert (script.attempts, sleeps) == (1, [])


def test_retry_x_should_retry_true_overrides_a_final_status() -> None:
    script = Script(error(400, "invalid_request_error", {"x-should-retry": "true"}))
    result, sleeps = run(script, READ)
    assert isinstance(result, BadRequestError)
    assert script.attempts == 3
    assert_backoff(sleeps)


def test_retry_after_ms_is_obeyed() -> None:
    script = Script(
        error(529, "overloaded_error", {"retry-after-ms": "150"}),
        error(529, "overloaded_error", {"retry-after-ms": "150"}),
        ok(),
    )
    result, sleeps = run(script, READ)
    assert result["id"] == "msgbatch_1"
    assert sleeps == [0.15, 0.15]


def test_retry_after_ms_wins_over_retry_after() -> None:
    script = Script(
        error(429, "rate_limit_error", {"retry-after-ms": "20", "retry-after": "30"}), ok()
    )
    _, sleeps = run(script, READ)
    assert sleeps == [0.02]


def test_retry_after_seconds_is_obeyed() -> None:
    script = Script(error(429, "rate_limit_error", {"retry-after": "2"}), ok())
    _, sleeps = run(script, READ)
    assert sleeps == [2.0]


def test_retry_after_fractional_seconds_is_obeyed() -> None:
    script = Script(error(503, headers={"retry-after": "0.25"}), ok())
    _, sleeps = run(script, READ)
    assert sleeps == [0.25]


def test_retry_after_http_date_is_obeyed() -> None:
    when = datetime.now(UTC) + timedelta(seconds=5)
    script = Script(error(503, headers={"retry-after": format_datetime(when, usegmt=True)}), ok())
    _, sleeps = run(script, READ)
    assert len(sleeps) == 1
    assert 3.5 <= sleeps[0] <= 5.0


def test_retry_after_http_date_in_the_past_retries_at_once() -> None:
    when = datetime.now(UTC) - timedelta(seconds=30)
    script = Script(error(503, headers={"retry-after": format_datetime(when, usegmt=True)}), ok())
    _, sleeps = run(script, READ)
    assert sleeps == [0.0]


def test_retry_after_garbage_falls_back_to_backoff() -> None:
    script = Script(error(503, headers={"retry-after": "soon", "retry-after-ms": "x"}), ok())
    _, sleeps = run(script, READ)
    assert_backoff(sleeps)


def test_retry_after_longer_than_the_cap_is_not_waited_for() -> None:
    """A server asking for more than max_server_delay (60 s) gets its error surfaced, not a hung
    client."""
    script = Script(error(429, "rate_limit_error", {"retry-after": "3600"}))
    result, sleeps = run(script, READ)
    assert isinstance(result, RateLimitError)
    assert (script.attempts, sleeps) == (1, [])


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadError("reset"),
        httpx.ReadTimeout("slow read"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_retry_transport_errors_on_a_get_are_retried(failure: Exception) -> None:
    script = Script(failure)
    result, sleeps = run(script, READ)
    assert isinstance(result, TransportError)
    assert result.attempts == 3
    assert script.attempts == 3
    assert_backoff(sleeps)
    assert "sk-test" not in str(result)


def test_retry_transport_error_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), ok())
    result, _ = run(script, READ)
    assert result["id"] == "msgbatch_1"


# --- operations that are not idempotent -------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503, 504])
def test_retry_create_is_not_retried_after_an_ambiguous_status(status: int) -> None:
    """Creating a batch after a 5xx/408/409 may have run: retrying could bill it twice."""
    script = Script(error(status))
    result, sleeps = run(script, CREATE)
    assert isinstance(result, UpstreamError)
    assert (script.attempts, sleeps) == (1, [])


@pytest.mark.parametrize("status", [429, 529])
def test_retry_create_is_retried_when_certainly_not_processed(status: int) -> None:
    """429 and 529 are answered before any work is done: a create is safe to retry."""
    script = Script(error(status), ok())
    result, sleeps = run(script, CREATE)
    assert result["id"] == "msgbatch_1"
    assert script.attempts == 2
    assert_backoff(sleeps)


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
def test_retry_create_is_retried_when_the_connection_was_never_made(failure: Exception) -> None:
    script = Script(failure, ok())
    result, _ = run(script, CREATE)
    assert result["id"] == "msgbatch_1"
    assert script.attempts == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("reset"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.WriteError("broken pipe"),
    ],
)
def test_retry_create_is_not_retried_after_the_request_may_have_arrived(failure: Exception) -> None:
    script = Script(failure, ok())
    result, sleeps = run(script, CREATE)
    assert isinstance(result, TransportError)
    assert result.attempts == 1
    assert (script.attempts, sleeps) == (1, [])


def test_retry_create_x_should_retry_true_is_the_servers_word_that_it_is_safe() -> None:
    script = Script(error(500, headers={"x-should-retry": "true"}), ok())
    result, _ = run(script, CREATE)
    assert result["id"] == "msgbatch_1"
    assert script.attempts == 2


def test_retry_idempotent_post_is_retried_like_a_get() -> None:
    """count_tokens declares `idempotent: true`, so a 500 is retried although it is a POST."""
    script = Script(error(500), ok({"input_tokens": 3}))
    result, _ = run(script, ("messages", "count_tokens", {"model": "m", "content": "x"}))
    assert result == {"input_tokens": 3}
    assert script.attempts == 2


def test_retry_resends_the_same_body() -> None:
    script = Script(error(529), error(429), ok())
    run(script, CREATE)
    bodies = [r.content for r in script.requests]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert json.loads(bodies[0])["requests"][0]["custom_id"] == "a"


def test_retry_delete_is_idempotent_by_default() -> None:
    """DELETE is idempotent: a 500 on removing an ended batch is retried."""
    script = Script(error(500), ok({"id": "msgbatch_1", "type": "message_batch_deleted"}))
    result, _ = run(script, ("message_batches", "remove", {"batch_id": "msgbatch_1"}))
    assert result == {"id": "msgbatch_1", "type": "message_batch_deleted"}
    assert script.attempts == 2


# --- the async twin ---------------------------------------------------------------------------


async def _arun(script: Script, call: tuple[str, str, dict[str, Any]]) -> tuple[Any, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with AsyncConnector(
        DEFINITION,
        base_url="http://api.test",
        api_key="sk-test",
        transport=httpx.MockTransport(script),
        sleep=sleep,
    ) as api:
        try:
            return await api.call(*call), sleeps
        except Exception as exc:
            return exc, sleeps


@pytest.mark.anyio
async def test_async_retry_follows_the_same_policy() -> None:
    script = Script(error(529, "overloaded_error", {"retry-after-ms": "10"}), ok())
    result, sleeps = await _arun(script, READ)
    assert result["id"] == "msgbatch_1"
    assert sleeps == [0.01]


@pytest.mark.anyio
async def test_async_retry_create_not_retried_after_a_500() -> None:
    script = Script(error(500))
    result, sleeps = await _arun(script, CREATE)
    assert isinstance(result, InternalServerError)
    assert (script.attempts, sleeps) == (1, [])


@pytest.mark.anyio
async def test_async_retry_transport_errors_give_a_transport_error() -> None:
    script = Script(httpx.ConnectError("refused"))
    result, sleeps = await _arun(script, READ)
    assert isinstance(result, TransportError)
    assert script.attempts == 3
    assert_backoff(sleeps)
