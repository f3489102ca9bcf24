"""service.conventions: error envelopes, request ids, retry rules, receipts and idempotency
keys come from the definition; the generic defaults fit common APIs and the bare seed keeps
the packaged definition's (Anthropic's) behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import (
    Connector,
    InternalServerError,
    OverloadedError,
    UnprocessableEntityError,
    load_definition,
)
from connector.definitions import Definition

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "definitions" / "seed" / "claude-api.seed.json"


def api(conventions: dict[str, Any] | None = None) -> Definition:
    service: dict[str, Any] = {"baseURL": "http://api.test"}
    if conventions is not None:
        service["conventions"] = conventions
    return load_definition(
        {
            "service": service,
            "resources": [
                {
                    "handle": "things",
                    "endpoint": "/things",
                    "fields": [
                        {"name": "id", "selector": ["id"]},
                        {"name": "n", "selector": ["n"]},
                    ],
                    "operations": {
                        "create": {"method": "POST", "bodyTemplate": "{}"},
                        "delete": {
                            "method": "DELETE",
                            "path": {"value": "/{{id}}", "placeholders": [{"name": "id"}]},
                        },
                        "read": {
                            "method": "GET",
                            "path": {"value": "/{{id}}", "placeholders": [{"name": "id"}]},
                        },
                    },
                }
            ],
        }
    )


class Script:
    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses[min(len(self.requests), len(self.responses)) - 1]


def call(definition: Definition, script: Script, *args: Any, **options: Any) -> Any:
    with Connector(
        definition,
        transport=httpx.MockTransport(script),
        sleep=lambda _: None,
        **options,
    ) as client:
        try:
            return client.call(*args)
        except Exception as exc:
            return exc


def test_generic_defaults_read_a_github_style_validation_error() -> None:
    body = {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]}
    script = Script(httpx.Response(422, json=body, headers={"x-request-id": "gh-1"}))
    error = call(api(), script, "things", "create")
    assert isinstance(error, UnprocessableEntityError)
    assert "HTTP 422: Validation Failed" in str(error) and error.request_id == "gh-1"


def test_declared_details_and_request_id_header() -> None:
    conventions = {"errors": {"details": ["errors"]}, "requestIdHeaders": ["x-github-request-id"]}
    body = {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]}
    script = Script(httpx.Response(422, json=body, headers={"x-github-request-id": "AB:12"}))
    error = call(api(conventions), script, "things", "create")
    assert "Validation Failed" in str(error) and '"field": "title"' in str(error)
    assert error.request_id == "AB:12"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "Stripe says no", "type": "card_error"}}, "Stripe says no"),
        ({"error": "plain string"}, "plain string"),
        ({"errors": [{"message": "first"}, {"message": "second"}]}, "first"),
        ("<html>bad gateway</html>", "<html>bad gateway</html>"),
    ],
)
def test_generic_error_messages(body: Any, message: str) -> None:
    response = (
        httpx.Response(400, json=body)
        if not isinstance(body, str)
        else httpx.Response(400, text=body)
    )
    error = call(api(), Script(response), "things", "read", {"id": "1"})
    assert message in str(error)


def test_an_undeclared_529_is_a_server_error_and_a_create_is_not_retried() -> None:
    script = Script(httpx.Response(529, json={}), httpx.Response(200, json={"id": "1"}))
    error = call(api(), script, "things", "create")
    assert type(error) is InternalServerError and len(script.requests) == 1


def test_a_declared_overloaded_status_is_retried_even_for_a_create() -> None:
    script = Script(httpx.Response(503, json={}), httpx.Response(200, json={"id": "1"}))
    result = call(api({"overloadedStatus": 503}), script, "things", "create")
    assert result == {"id": "1", "n": None} and len(script.requests) == 2


def test_should_retry_header_only_counts_where_declared() -> None:
    stop = httpx.Response(500, json={}, headers={"x-should-retry": "false"})
    ok = httpx.Response(200, json={"id": "1"})
    generic = Script(stop, ok)
    call(api(), generic, "things", "read", {"id": "1"})
    declared = Script(stop, ok)
    call(api({"shouldRetryHeader": "x-should-retry"}), declared, "things", "read", {"id": "1"})
    assert (len(generic.requests), len(declared.requests)) == (2, 1)


def test_idempotency_key_makes_a_create_retryable_with_one_key() -> None:
    script = Script(httpx.Response(500, json={}), httpx.Response(200, json={"id": "1"}))
    call(api({"idempotencyKeyHeader": "Idempotency-Key"}), script, "things", "create")
    keys = [r.headers.get("idempotency-key") for r in script.requests]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    again = Script(httpx.Response(200, json={"id": "2"}))
    call(api({"idempotencyKeyHeader": "Idempotency-Key"}), again, "things", "create")
    assert again.requests[0].headers["idempotency-key"] != keys[0]


def test_delete_receipts_generic_and_declared() -> None:
    receipt = {"id": "1", "deleted": True}
    assert (
        call(api(), Script(httpx.Response(200, json=receipt)), "things", "delete", {"id": "1"})
        == receipt
    )
    declared = api({"deleteReceipt": {"selector": ["deleted"], "equals": True}})
    assert (
        call(declared, Script(httpx.Response(200, json=receipt)), "things", "read", {"id": "1"})
        == receipt
    )


def test_the_bare_seed_keeps_the_packaged_conventions() -> None:
    seed = load_definition(SEED)
    script = Script(
        httpx.Response(
            529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
        ),
    )
    params = {"batch_id": "b1"}
    error = call(seed, script, "message_batches", "read", params, base_url="http://x", api_key="k")
    assert isinstance(error, OverloadedError) and str(error).endswith("overloaded_error: busy")
    assert len(script.requests) == 3  # retried, as the packaged conventions say
    assert script.requests[0].headers["x-api-key"] == "k"
    receipt = {"id": "b1", "type": "message_batch_deleted"}
    assert (
        call(
            seed,
            Script(httpx.Response(200, json=receipt)),
            "message_batches",
            "delete",
            params,
            base_url="http://x",
            api_key="k",
        )
        == receipt
    )


def test_unknown_convention_keys_are_located() -> None:
    from connector import DefinitionError

    with pytest.raises(DefinitionError) as caught:
        api({"retryStatus": [500]})
    assert "service.conventions.retryStatus" in str(caught.value)
