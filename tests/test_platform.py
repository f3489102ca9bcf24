"""The service (``connector serve``) through a real uvicorn on 127.0.0.1, in front of the
sandbox on another socket: forms, connections, calls, problems, limits and the description."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from platform_support import (
    CANARY_KEY,
    ServiceServer,
    new_connection,
    running_service,
    sandbox,
    service_for,
)

from connector import Connector, load_definition
from connector.cli import main
from connector.config import bundled_definition_path
from connector.forms import operation_schema
from connector.sandbox.server import SandboxServer

MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def upstream() -> Iterator[SandboxServer]:
    with sandbox(batch_seconds=3600) as server:
        yield server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceServer]:
    with running_service(tmp_path_factory.mktemp("svc") / "state.db", max_body=64 * 1024) as server:
        yield server


@pytest.fixture(scope="module")
def client(service: ServiceServer) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


@pytest.fixture(scope="module")
def conn(client: httpx.Client, upstream: SandboxServer) -> dict[str, Any]:
    return new_connection(client, upstream.base_url, name="main")


def op_path(conn: dict[str, Any], resource: str, operation: str) -> str:
    return f"/v1/connections/{conn['id']}/resources/{resource}/operations/{operation}"


# forms -----------------------------------------------------------------------------------

FORM_DEFINITION = {
    "handle": "forms-test",
    "service": {"baseURL": "http://127.0.0.1:9/api"},
    "resources": [
        {
            "handle": "events",
            "endpoint": "/events",
            "operations": {
                "search": {
                    "method": "GET",
                    "queryParams": {
                        "value": {"since": "{{ since }}", "kind": "{{ kind }}", "n": "{{ n }}"},
                        "placeholders": [
                            {
                                "name": "since",
                                "type": "DateTime",
                                "required": True,
                                "label": "Since",
                                "description": "Oldest event",
                            },
                            {"name": "kind", "options": ["a", "b"], "default": "a"},
                            {"name": "n", "type": "Integer"},
                        ],
                    },
                }
            },
        }
    ],
}


def test_the_form_schema_is_json_schema_2020_12_from_the_placeholders() -> None:
    operation = load_definition(FORM_DEFINITION).resource("events").operation("search")
    schema = operation_schema(operation)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["since"] == {
        "type": "string",
        "format": "date-time",
        "title": "Since",
        "description": "Oldest event",
    }
    assert schema["properties"]["kind"] == {"type": "string", "enum": ["a", "b"], "default": "a"}
    assert schema["properties"]["n"] == {"type": "integer"}
    assert schema["required"] == ["since"]
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    assert validator.is_valid({"since": "2025-01-31T12:00:00Z", "kind": "b", "n": 3})
    assert not validator.is_valid({"since": "2025-01-31T12:00:00Z", "kind": "c"})
    assert not validator.is_valid({"kind": "a"})


def test_describe_json_and_the_service_give_the_same_schema(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["--definition", str(bundled_definition_path()), "describe", "messages", "--json"])
        == 0
    )
    described = json.loads(capsys.readouterr().out)
    create = next(op for op in described[0]["operations"] if op["name"] == "create")
    served = client.get("/v1/definitions/claude-api/resources/messages/operations/create").json()
    assert served["inputSchema"] == create["inputSchema"]
    assert create["inputSchema"]["required"] == ["model", "max_tokens", "content"]
    whole = client.get("/v1/definitions/claude-api").json()
    assert [r["handle"] for r in whole["resources"]] == [
        "messages",
        "message_batches",
        "models",
        "files",
        "skills",
    ]
    assert client.get("/v1/definitions").json()["definitions"][0]["handle"] == "claude-api"


# connections -----------------------------------------------------------------------------


def test_connections_crud_never_answer_the_credentials(
    client: httpx.Client, upstream: SandboxServer, service: ServiceServer
) -> None:
    created = new_connection(client, upstream.base_url, name="crud")
    answers = [json.dumps(created)]
    assert created["credentials"] == {"type": "api_key", "api_key": "********"}
    listed = client.get("/v1/connections")
    read = client.get(f"/v1/connections/{created['id']}")
    by_name = client.get("/v1/connections/crud")
    assert read.json() == by_name.json() == created
    changed = client.patch(
        f"/v1/connections/{created['id']}",
        json={"name": "crud-2", "headers": {"x-tenant": "7", "X-Auth-Token": CANARY_KEY}},
    )
    assert changed.status_code == 200 and changed.json()["name"] == "crud-2"
    assert changed.json()["headers"] == {"x-tenant": "7", "X-Auth-Token": "********"}
    duplicate = client.post(
        "/v1/connections",
        json={"name": "crud-2", "definition": "claude-api", "credentials": {"type": "none"}},
    )
    assert duplicate.status_code == 409
    answers += [listed.text, read.text, by_name.text, changed.text, duplicate.text]
    assert all(CANARY_KEY not in text for text in answers)
    # Sealed at rest: the key is nowhere in the state file.
    state = Path(service.runtime.state)
    files = [p for p in state.parent.iterdir() if p.name.startswith(state.name) and p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)  # the recent writes are looked at too
    assert all(CANARY_KEY.encode() not in p.read_bytes() for p in files)
    with sqlite3.connect(state) as db:
        (sealed,) = db.execute(
            "SELECT credentials FROM platform_connections WHERE id = ?", (created["id"],)
        ).fetchone()
    assert sealed.startswith("sealed:v1:")
    assert client.delete(f"/v1/connections/{created['id']}").status_code == 204
    assert client.get(f"/v1/connections/{created['id']}").status_code == 404


def test_check_proves_configuration_connectivity_and_auth(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    good = client.post(f"/v1/connections/{conn['id']}/check").json()
    assert good["ok"] is True and good["authentication"] == "ok"
    with sandbox(api_key="the-only-key") as strict:
        wrong = new_connection(client, strict.base_url, name="wrong-key")
        bad = client.post(f"/v1/connections/{wrong['id']}/check").json()
    assert bad["ok"] is False and bad["authentication"] == "failed"
    assert bad["upstream"]["status"] == 401
    closed = client.post(
        "/v1/connections",
        json={
            "name": "closed-port",
            "definition": "claude-api",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"type": "api_key", "api_key": "k"},
        },
    ).json()
    unreachable = client.post(f"/v1/connections/{closed['id']}/check").json()
    assert unreachable["ok"] is False and unreachable["connectivity"] == "failed"
    assert CANARY_KEY not in json.dumps([good, bad, unreachable])


def test_check_of_a_refused_upstream_is_a_typed_result_with_no_secret(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    made = new_connection(client, f"http://127.0.0.1:{port}", name="refusing")
    with caplog.at_level(logging.DEBUG):
        answer = client.post(f"/v1/connections/{made['id']}/check")
        call = client.post(op_path(made, "models", "read"), json={"model_id": "m"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    checked = answer.json()
    assert checked["ok"] is False and checked["configuration"] == "ok"
    assert checked["connectivity"] == "failed" and "authentication" not in checked
    assert "ConnectError" in checked["detail"] and "upstream" not in checked
    assert call.status_code == 504 and call.json()["type"].endswith("upstream-unreachable")
    for text in (answer.text, call.text, caplog.text):
        assert CANARY_KEY not in text


# calls -----------------------------------------------------------------------------------


def test_a_call_gives_records_shaped_by_fields_or_raw(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    inputs = {"model": MODEL, "max_tokens": 16, "content": "hello"}
    shaped = client.post(op_path(conn, "messages", "create"), json=inputs)
    assert shaped.status_code == 200, shaped.text
    assert shaped.json()["role"] == "assistant" and isinstance(shaped.json()["content"], str)
    raw = client.post(op_path(conn, "messages", "create") + "?raw=true", json=inputs)
    assert raw.json()["content"][0]["type"] == "text"


def test_a_list_streams_every_page_as_ndjson(client: httpx.Client, upstream: SandboxServer) -> None:
    own = new_connection(client, upstream.base_url, name="pages")
    sent = set()
    for i in range(45):
        created = client.post(
            op_path(own, "message_batches", "create"),
            json={"custom_id": f"r{i}", "model": MODEL, "max_tokens": 8, "content": "x"},
        )
        sent.add(created.json()["id"])
    with client.stream(
        "POST", op_path(own, "message_batches", "list"), json={"limit": 10}
    ) as answer:
        assert answer.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert sent <= {line["id"] for line in lines}
    assert len(lines) >= 45
    capped = client.post(
        op_path(own, "message_batches", "list") + "?max_items=12", json={"limit": 5}
    )
    assert len(capped.text.splitlines()) == 12


def test_jsonl_and_binary_answers_stream_through(
    client: httpx.Client, upstream: SandboxServer, conn: dict[str, Any], tmp_path: Path
) -> None:
    batch = client.post(
        op_path(conn, "message_batches", "create"),
        json={"custom_id": "only", "model": MODEL, "max_tokens": 8, "content": "x"},
    ).json()
    httpx.post(f"{upstream.base_url}/_sandbox/clock/advance", json={"seconds": 7200})
    with client.stream(
        "POST", op_path(conn, "message_batches", "results"), json={"batch_id": batch["id"]}
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/x-ndjson"
        results = [json.loads(line) for line in answer.iter_lines() if line]
    assert [r["custom_id"] for r in results] == ["only"]
    payload = bytes(range(256)) * 40
    upload = tmp_path / "blob.bin"
    upload.write_bytes(payload)
    with Connector(bundled_definition_path(), base_url=upstream.base_url, api_key="k") as direct:
        file_id = direct.call("files", "upload", {"file": str(upload)})["id"]
    downloaded = client.post(op_path(conn, "files", "download"), json={"file_id": file_id})
    assert downloaded.status_code == 200 and downloaded.content == payload


def test_a_streamed_message_is_folded_or_passed_on_event_by_event(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    inputs = {"model": MODEL, "max_tokens": 16, "content": "hello"}
    folded = client.post(op_path(conn, "messages", "stream"), json=inputs)
    assert folded.status_code == 200 and folded.json()["stop_reason"] == "end_turn"
    with client.stream(
        "POST", op_path(conn, "messages", "stream") + "?stream=true", json=inputs
    ) as answer:
        assert answer.headers["content-type"] == "application/x-ndjson"
        events = [json.loads(line) for line in answer.iter_lines() if line]
    names = [e["event"] for e in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    text = "".join(
        e["data"]["delta"].get("text", "") for e in events if e["event"] == "content_block_delta"
    )
    assert text == folded.json()["content"][0]["text"]


def test_upstream_errors_are_problem_documents_with_the_upstream_details(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    answer = client.post(
        op_path(conn, "message_batches", "read"), json={"batch_id": "msgbatch_missing"}
    )
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    upstream = answer.json()["upstream"]
    assert upstream["status"] == 404 and upstream["type"] == "not_found_error"
    assert upstream["request_id"].startswith("req_") and "msgbatch_missing" in upstream["message"]


def test_input_errors_list_every_problem_with_its_location(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    answer = client.post(
        op_path(conn, "messages", "create"), json={"model": 7, "max_tokens": "many", "extra": 1}
    )
    assert answer.status_code == 422
    locations = {e["location"] for e in answer.json()["errors"]}
    assert locations == {"/max_tokens", "/extra", "/content"}


def test_uploads_are_not_offered_over_http(client: httpx.Client, conn: dict[str, Any]) -> None:
    answer = client.post(op_path(conn, "files", "upload"), json={"file": "/etc/passwd"})
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("unsupported-operation")


def test_oauth2_client_credentials_get_a_token_once_and_send_it(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    issued: list[str] = []

    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        if (
            request.headers.get("authorization")
            != "Basic " + __import__("base64").b64encode(b"cid:" + CANARY_KEY.encode()).decode()
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        assert form["grant_type"] == "client_credentials"
        issued.append(f"tok{len(issued)}")
        return JSONResponse(
            {"access_token": issued[-1], "expires_in": 3600, "token_type": "Bearer"}
        )

    async def items(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != "Bearer tok0":
            return JSONResponse(
                {"error": {"type": "authentication_error", "message": "no"}}, status_code=401
            )
        return JSONResponse({"data": [{"id": "i1"}, {"id": "i2"}]})

    app = Starlette(
        routes=[Route("/oauth/token", token, methods=["POST"]), Route("/api/items", items)]
    )
    definition = {
        "handle": "items-api",
        "service": {"baseURL": "{{ env.ORIGIN }}/api", "variables": {"baseURL": "ORIGIN"}},
        "resources": [
            {
                "handle": "items",
                "endpoint": "/items",
                "operations": {"list": {"method": "GET", "records": ["data"]}},
            }
        ],
    }
    with service_for(tmp_path, definition, app) as (server, api), server.client() as c:
        base = {"name": "oauth", "definition": "items-api", "params": {"ORIGIN": api.base_url}}
        creds = {
            "type": "oauth2_client_credentials",
            "token_url": f"{api.base_url}/oauth/token",
            "client_id": "cid",
        }
        made = c.post(
            "/v1/connections", json={**base, "credentials": {**creds, "client_secret": CANARY_KEY}}
        ).json()
        first = c.post(f"/v1/connections/{made['id']}/resources/items/operations/list")
        second = c.post(f"/v1/connections/{made['id']}/resources/items/operations/list")
        bad = c.post(
            "/v1/connections",
            json={**base, "name": "bad", "credentials": {**creds, "client_secret": "wrong"}},
        ).json()
        refused = c.post(f"/v1/connections/{bad['id']}/resources/items/operations/list")
    assert first.status_code == second.status_code == 200
    assert first.json() == {"data": [{"id": "i1"}, {"id": "i2"}]}  # no fields: the answer as is
    assert issued == ["tok0"]  # cached: one token for both calls
    assert made["credentials"]["client_secret"] == "********"
    assert refused.status_code == 502 and refused.json()["upstream"]["type"] == "invalid_client"
    assert CANARY_KEY not in json.dumps(made) + refused.text


def test_two_hundred_concurrent_calls_all_succeed(
    service: ServiceServer, conn: dict[str, Any]
) -> None:
    async def many() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        headers = {"authorization": f"Bearer {service.token}"}
        async with httpx.AsyncClient(
            base_url=service.base_url, headers=headers, limits=limits, timeout=60
        ) as c:
            inputs = {"model": MODEL, "max_tokens": 8, "content": "hi"}
            return await asyncio.gather(
                *(c.post(op_path(conn, "messages", "create"), json=inputs) for _ in range(200))
            )

    answers = asyncio.run(many())
    assert [a.status_code for a in answers] == [200] * 200
    assert all(CANARY_KEY not in a.text for a in answers)


# the service's own security and limits -------------------------------------------------


def test_every_route_needs_a_token_and_a_wrong_one_gets_a_bare_401(service: ServiceServer) -> None:
    paths = [
        "/v1/definitions",
        "/v1/connections",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/connections/x/events",
    ]
    for token in (None, "wrong", "cst_" + "A" * 43):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        for path in paths:
            answer = httpx.get(service.base_url + path, headers=headers)
            assert answer.status_code == 401, path
            assert answer.json() == {
                "type": "urn:connector:problem:unauthorized",
                "title": "Unauthorized",
                "status": 401,
            }
    assert httpx.get(service.base_url + "/healthz").status_code == 200
    assert (
        httpx.get(
            service.base_url + "/v1/connections",
            headers={"authorization": f"Basic {service.token}"},
        ).status_code
        == 401
    )


BAD_REQUESTS: list[tuple[str, str, Any, int]] = [
    ("POST", "/v1/connections", b"{not json", 400),
    ("POST", "/v1/connections", [], 422),
    ("POST", "/v1/connections", {"name": "x"}, 422),
    ("POST", "/v1/connections", {"name": "bad name!", "definition": "claude-api"}, 422),
    ("POST", "/v1/connections", {"name": "n1", "definition": "nope"}, 422),
    (
        "POST",
        "/v1/connections",
        {"name": "n2", "definition": "claude-api", "credentials": {"type": "magic"}},
        422,
    ),
    (
        "POST",
        "/v1/connections",
        {"name": "n3", "definition": "claude-api", "base_url": "ftp://x"},
        422,
    ),
    (
        "POST",
        "/v1/connections",
        {"name": "n4", "definition": "claude-api", "headers": {"x": 1}},
        422,
    ),
    ("POST", "/v1/connections", "x" * 70_000, 413),
    ("GET", "/v1/connections/conn_missing", None, 404),
    ("PATCH", "/v1/connections/{c}", {"name": 3}, 422),
    ("PATCH", "/v1/connections/{c}", b"\xff\xfe", 400),
    ("DELETE", "/v1/connections/conn_missing", None, 404),
    ("POST", "/v1/connections/conn_missing/check", None, 404),
    ("PUT", "/v1/connections", {}, 405),
    ("GET", "/v1/nowhere", None, 404),
    ("GET", "/v1/definitions/nope", None, 404),
    ("GET", "/v1/definitions/claude-api/resources/nope/operations/list", None, 404),
    ("GET", "/v1/definitions/claude-api/resources/models/operations/nope", None, 404),
    ("GET", "/v1/definitions/nope/asyncapi", None, 404),
    ("POST", "/v1/connections/conn_missing/resources/models/operations/list", {}, 404),
    ("POST", "/v1/connections/{c}/resources/nope/operations/list", {}, 404),
    ("POST", "/v1/connections/{c}/resources/models/operations/nope", {}, 404),
    ("POST", "/v1/connections/{c}/resources/models/operations/read", b"[1,", 400),
    ("POST", "/v1/connections/{c}/resources/models/operations/read", [1, 2], 422),
    ("POST", "/v1/connections/{c}/resources/models/operations/read", {"model_id": {"x": 1}}, 422),
    ("POST", "/v1/connections/{c}/resources/models/operations/list?raw=maybe", {}, 422),
    ("POST", "/v1/connections/{c}/resources/models/operations/list?max_items=-1", {}, 422),
    (
        "POST",
        "/v1/connections/{c}/resources/messages/operations/create",
        {"content": "x" * 70_000},
        413,
    ),
    ("POST", "/v1/connections/{c}/subscriptions", {"url": "not a url"}, 422),
    (
        "POST",
        "/v1/connections/{c}/subscriptions",
        {"url": "http://127.0.0.1:9/h", "events": "all"},
        422,
    ),
    (
        "POST",
        "/v1/connections/{c}/subscriptions",
        {"url": "http://127.0.0.1:9/h", "secret": "short"},
        422,
    ),
    (
        "POST",
        "/v1/connections/{c}/subscriptions",
        {"url": "http://127.0.0.1:9/h", "since": "yesterday-ish"},
        422,
    ),
    ("GET", "/v1/connections/{c}/subscriptions/sub_missing", None, 404),
    ("DELETE", "/v1/connections/{c}/subscriptions/sub_missing", None, 404),
    ("POST", "/v1/connections/{c}/subscriptions/sub_missing/rotate", {}, 404),
    ("POST", "/v1/connections/{c}/subscriptions/sub_missing/enable", None, 404),
    ("POST", "/v1/connections/{c}/subscriptions/sub_missing/disable", {}, 404),
    ("GET", "/v1/connections/{c}/events?status=lost", None, 422),
    ("GET", "/v1/connections/{c}/events?limit=0", None, 422),
    ("POST", "/v1/connections/{c}/events/evt_missing/replay", {}, 404),
    ("POST", "/v1/connections/{c}/events/evt_missing/replay", {"subscription": 5}, 422),
    ("POST", "/v1/connections/{c}/events/replay-failed", {"since": "soon"}, 422),
    ("GET", "/v1/connections/{c}/deliveries?limit=x", None, 422),
    ("GET", "/v1/connections/{c}/health?max_wait=-3", None, 422),
    ("POST", "/v1/connections/{c}/subscriptions", {"url": "http://127.0.0.1:9/h"}, 201),
]


def test_bad_inputs_get_the_right_4xx_never_a_500(
    client: httpx.Client, conn: dict[str, Any]
) -> None:
    seen = []
    for method, path, body, expected in BAD_REQUESTS:
        url = path.replace("{c}", conn["id"])
        if isinstance(body, bytes | str):
            answer = client.request(
                method, url, content=body, headers={"content-type": "application/json"}
            )
        elif body is None:
            answer = client.request(method, url)
        else:
            answer = client.request(method, url, json=body)
        seen.append((method, path, answer.status_code))
        assert answer.status_code == expected, (method, path, answer.text)
        if expected >= 400:
            assert answer.headers["content-type"] == "application/problem+json", (method, path)
            assert CANARY_KEY not in answer.text
    assert all(status < 500 for *_, status in seen)


# the description -------------------------------------------------------------------------


def test_openapi_is_valid_3_1_and_covers_every_route(
    client: httpx.Client, service: ServiceServer
) -> None:
    document = client.get("/openapi.json").json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    from starlette.routing import Route

    for route in service.app.routes:
        assert isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in document["paths"][route.path], (method, route.path)


def test_readyz_and_metrics(client: httpx.Client) -> None:
    assert client.get("/readyz").json()["status"] == "ready"
    client.get("/v1/definitions")
    text = client.get("/metrics").text
    assert (
        'connector_http_requests_total{method="GET",route="/v1/definitions",status="200"}' in text
    )
    assert "connector_http_request_seconds_bucket" in text


def test_definitions_are_served_by_handle(tmp_path: Path) -> None:
    import shutil

    from connector.errors import ConfigurationError
    from connector.platform import load_definitions

    root = Path(__file__).resolve().parent.parent / "definitions"
    shutil.copy(root / "claude-api.json", tmp_path)
    shutil.copy(root / "seed" / "claude-api.seed.json", tmp_path)
    assert sorted(load_definitions(tmp_path)) == ["claude-api", "claude-api.seed"]
    shutil.copy(root / "claude-api.json", tmp_path / "again.json")
    with pytest.raises(ConfigurationError, match="two definitions have the handle 'claude-api'"):
        load_definitions(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match=r"no \*\.json"):
        load_definitions(tmp_path / "empty")


_ROWS = {
    "handle": "big",
    "service": {"baseURL": "{{ env.ORIGIN }}", "variables": {"baseURL": "ORIGIN"}},
    "resources": [
        {
            "handle": "rows",
            "endpoint": "/rows",
            "operations": {
                "list": {"method": "GET", "records": ["data"], "pagination": {"type": "cursor"}}
            },
        }
    ],
}


def test_a_list_is_fetched_only_as_fast_as_the_client_reads(tmp_path: Path) -> None:
    """Backpressure: with the client not reading, the service stops asking for pages once the
    socket buffers are full, far short of the whole list."""
    import threading

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pages_total, per_page, pad = 400, 50, "x" * 2000
    asked: list[int] = []
    lock = threading.Lock()

    async def listing(request: Request) -> JSONResponse:
        start = int(request.query_params.get("after_id") or -1) + 1
        with lock:
            asked.append(start)
        data = [{"id": str(i), "pad": pad} for i in range(start, start + per_page)]
        more = start + per_page < pages_total * per_page
        return JSONResponse({"data": data, "has_more": more, "last_id": data[-1]["id"]})

    with (
        service_for(tmp_path, _ROWS, Starlette(routes=[Route("/rows", listing)])) as (server, api),
        server.client() as c,
    ):
        made = c.post(
            "/v1/connections",
            json={"name": "big", "definition": "big", "params": {"ORIGIN": api.base_url}},
        ).json()
        with c.stream(
            "POST", f"/v1/connections/{made['id']}/resources/rows/operations/list"
        ) as answer:
            lines = answer.iter_lines()
            assert json.loads(next(lines))["id"] == "0"
            # Wait until the service has stopped asking (its writes are blocked).
            seen, steady = -1, 0
            deadline = time.monotonic() + 20
            while steady < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
                steady = steady + 1 if len(asked) == seen else 0
                seen = len(asked)
            paused_at = len(asked)
            count = 1 + sum(1 for line in lines if line)
    print(f"paused after {paused_at} of {pages_total} pages")
    assert paused_at < pages_total / 2, paused_at
    assert count == pages_total * per_page and len(asked) == pages_total


def test_cors_is_off_unless_origins_are_configured(tmp_path: Path) -> None:
    preflight = {
        "origin": "https://platform.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    with running_service(tmp_path / "off.db") as closed:
        refused = httpx.options(closed.base_url + "/v1/connections", headers=preflight)
        plain = httpx.get(closed.base_url + "/healthz", headers={"origin": preflight["origin"]})
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers
    with running_service(tmp_path / "on.db", cors_origins=["https://platform.example"]) as open_:
        allowed = httpx.options(open_.base_url + "/v1/connections", headers=preflight)
        other = httpx.options(
            open_.base_url + "/v1/connections",
            headers={**preflight, "origin": "https://evil.example"},
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://platform.example"
    assert "access-control-allow-origin" not in other.headers


def test_an_error_after_the_stream_began_ends_it_with_a_problem_line(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def listing(request: Request) -> JSONResponse:
        if request.query_params.get("after_id"):
            error = {"type": "not_found_error", "message": "the cursor expired"}
            return JSONResponse(
                {"type": "error", "error": error}, status_code=404, headers={"request-id": "req_2"}
            )
        return JSONResponse({"data": [{"id": "a"}, {"id": "b"}], "has_more": True, "last_id": "b"})

    with (
        service_for(tmp_path, _ROWS, Starlette(routes=[Route("/rows", listing)])) as (server, api),
        server.client() as c,
    ):
        made = c.post(
            "/v1/connections",
            json={"name": "e", "definition": "big", "params": {"ORIGIN": api.base_url}},
        ).json()
        answer = c.post(f"/v1/connections/{made['id']}/resources/rows/operations/list")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert answer.status_code == 200 and [line.get("id") for line in lines[:2]] == ["a", "b"]
    problem = lines[2]["error"]
    assert problem["status"] == 502
    assert problem["upstream"] == {
        "status": 404,
        "type": "not_found_error",
        "message": "the cursor expired",
        "request_id": "req_2",
    }


def test_a_cut_off_or_absent_upstream_is_a_problem_not_a_500(
    client: httpx.Client,
) -> None:
    from connector.sandbox.faults import FaultPlan, FaultRule

    once = FaultPlan(rules=[FaultRule(route="/v1/models", method="GET", drop_rate=1.0, limit=1)])
    with sandbox(faults=once) as flaky:
        made = new_connection(client, flaky.base_url, name="flaky")
        path = f"/v1/connections/{made['id']}/resources/models/operations/list"
        # The sandbox starts the answer, then drops the connection: the body is cut off. A GET
        # is idempotent, so the engine retries it: once cut off, the call still succeeds.
        retried = client.post(path)
        assert retried.status_code == 200 and retried.text.count("\n") >= 1
        # Cut off on all three attempts (the engine's two retries spent): a problem, not a 500.
        thrice = FaultPlan(
            rules=[FaultRule(route="/v1/models", method="GET", drop_rate=1.0, limit=3)]
        )
        flaky.app.state.faults.replace(thrice)
        cut = client.post(path)
        assert cut.status_code == 502 and cut.json()["type"].endswith("upstream-interrupted")
        assert "models.list: GET " in cut.json()["detail"]
        again = client.post(path)
        assert again.status_code == 200 and again.text.count("\n") >= 1
        # The engine's own typed error (StreamInterruptedError), mapped by problems.py: the
        # service has no handler of its own for httpx's raw errors.
        assert "the answer was cut off after its headers" in cut.json()["detail"]
    # The sandbox is gone now: no answer at all, after the engine's retries, is a 504.
    gone = client.post(
        f"/v1/connections/{made['id']}/resources/models/operations/read", json={"model_id": "m"}
    )
    assert gone.status_code == 504
    assert gone.json()["type"].endswith("upstream-unreachable")


def test_an_upstream_cut_off_mid_stream_cuts_the_answer_off_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the service has begun answering, no status is left to give: a page of a list cut
    off (after the engine's retries) ends the NDJSON with the typed problem line; a JSONL body
    passed through that breaks off cuts the client's answer off too, so the reader knows it
    is incomplete, and the log has one warning (no 'unexpected' error, no traceback)."""
    import logging

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    class CutOff:
        """An ASGI answer that sends its status and the head of its body, then ends: its
        server drops the connection mid-body."""

        def __init__(self, media: str, head: bytes) -> None:
            self.media, self.head = media, head

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", self.media.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": self.head, "more_body": True})

    class Rows:
        """A list whose second page is cut off, every time."""

        cut = CutOff("application/json", b'{"data": [{"id": "c"')
        first = JSONResponse({"data": [{"id": "a"}, {"id": "b"}], "has_more": True, "last_id": "b"})

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            page = self.cut if b"after_id" in scope["query_string"] else self.first
            await page(scope, receive, send)

    definition = copy.deepcopy(_ROWS)
    definition["resources"][0]["operations"]["results"] = {
        "method": "GET",
        "path": "/results",
        "response": {"format": "jsonl"},
    }
    results = CutOff("application/x-jsonl", b'{"n": 1}\n' * 5000)
    app = Starlette(routes=[Route("/rows/results", results), Route("/rows", Rows())])
    with (
        caplog.at_level(logging.WARNING, "connector.platform"),
        service_for(tmp_path, definition, app) as (server, api),
        server.client() as c,
    ):
        made = c.post(
            "/v1/connections",
            json={"name": "cut", "definition": "big", "params": {"ORIGIN": api.base_url}},
        ).json()
        base = f"/v1/connections/{made['id']}/resources/rows/operations"
        listed = [json.loads(line) for line in c.post(base + "/list").text.splitlines()]
        with c.stream("POST", base + "/results") as answer:
            assert answer.status_code == 200
            got = bytearray()
            with pytest.raises(httpx.RemoteProtocolError):  # incomplete: never a clean end
                for chunk in answer.iter_raw():
                    got += chunk
    assert [line.get("id") for line in listed[:2]] == ["a", "b"]
    error = listed[2]["error"]
    assert error["status"] == 502 and error["type"].endswith("upstream-interrupted")
    assert "rows.list: GET " in error["detail"] and "cut off after its headers" in error["detail"]
    assert len(got) < 5000 * 9  # never the whole body
    (record,) = [r for r in caplog.records if r.name == "connector.platform"]
    assert record.levelname == "WARNING" and record.exc_info is None
    said = record.getMessage()
    assert said.startswith(f"POST {base}/results: rows.results: the API's answer broke off (")
    assert said.endswith("Error), so is the answer")
