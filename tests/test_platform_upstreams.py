"""What a connection may call: basic-auth credentials reach the API, and a connection's
base_url is held to public addresses unless the operator allows private upstreams. Through a
real uvicorn on 127.0.0.1 in front of a local API on another socket."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from platform_support import CANARY_KEY, ServiceServer, service_for
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.sandbox.server import SandboxServer

_ITEMS = {
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


def _checking_api(seen: list[str | None], cookies: list[str | None]) -> Starlette:
    expected = "Basic " + base64.b64encode(f"ada:{CANARY_KEY}".encode()).decode()

    async def items(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization"))
        cookies.append(request.headers.get("cookie"))
        if request.headers.get("authorization") != expected:
            return JSONResponse(
                {"error": {"type": "authentication_error", "message": "bad credentials"}},
                status_code=401,
            )
        answer = JSONResponse({"data": [{"id": "i1"}]})
        answer.set_cookie("tenant-session", "of-the-first-tenant")
        return answer

    return Starlette(routes=[Route("/api/items", items)])


def test_basic_credentials_reach_the_api_as_an_authorization_header(tmp_path: Path) -> None:
    seen: list[str | None] = []
    cookies: list[str | None] = []
    upstream = _checking_api(seen, cookies)
    with service_for(tmp_path, _ITEMS, upstream) as (server, api), server.client() as c:
        base = {"definition": "items-api", "params": {"ORIGIN": api.base_url}}
        good = c.post(
            "/v1/connections",
            json={
                **base,
                "name": "basic",
                "credentials": {"type": "basic", "username": "ada", "password": CANARY_KEY},
            },
        ).json()
        bad = c.post(
            "/v1/connections",
            json={
                **base,
                "name": "wrong",
                "credentials": {"type": "basic", "username": "ada", "password": "nope"},
            },
        ).json()
        called = c.post(f"/v1/connections/{good['id']}/resources/items/operations/list")
        refused = c.post(f"/v1/connections/{bad['id']}/resources/items/operations/list")
        read = c.get(f"/v1/connections/{good['id']}").json()
        # The shared client keeps no cookie of one tenant's API for the next request.
        assert len(server.runtime.http.cookies.jar) == 0
    assert cookies == [None, None]
    assert called.status_code == 200 and called.json() == {"data": [{"id": "i1"}]}
    assert refused.status_code == 502
    assert refused.json()["upstream"] == {
        "status": 401,
        "type": "authentication_error",
        "message": "bad credentials",
        "request_id": None,
    }
    assert seen[0] == "Basic " + base64.b64encode(f"ada:{CANARY_KEY}".encode()).decode()
    assert read["credentials"] == {"type": "basic", "username": "ada", "password": "********"}
    assert CANARY_KEY not in json.dumps([good, read]) + called.text + refused.text


def _connect(client: Any, name: str, base_url: str) -> dict[str, Any]:
    made: dict[str, Any] = client.post(
        "/v1/connections",
        json={
            "name": name,
            "definition": "claude-api",
            "base_url": base_url,
            "credentials": {"type": "api_key", "api_key": CANARY_KEY},
        },
    ).json()
    return made


def test_a_connection_cannot_reach_loopback_private_or_metadata_addresses(
    tmp_path: Path,
) -> None:
    hits: list[str] = []

    async def anything(request: Request) -> JSONResponse:
        hits.append(request.url.path)
        return JSONResponse({"data": []})

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    guarded = ServiceServer(tmp_path / "state.db", allow_private_upstreams=False).start()
    try:
        with SandboxServer(app=app) as api, guarded.client() as c:
            targets = {
                "loopback": api.base_url,  # 127.0.0.1:<port>
                "by-name": api.base_url.replace("127.0.0.1", "localhost"),  # resolves to loopback
                "metadata": "http://169.254.169.254",
                "private": "http://10.0.0.1:8080",
                "mapped": "http://[::ffff:127.0.0.1]:80",
            }
            answers = {}
            for name, url in targets.items():
                made = _connect(c, name, url)
                answers[name] = c.post(
                    f"/v1/connections/{made['id']}/resources/models/operations/read",
                    json={"model_id": "m"},
                )
    finally:
        guarded.stop()
    for name, answer in answers.items():
        assert answer.status_code == 409, (name, answer.text)
        body = answer.json()
        assert body["type"].endswith("connection-configuration") and body["setting"] == "base_url"
        assert "--allow-private-upstreams" in body["detail"]
        assert CANARY_KEY not in answer.text
    assert hits == []  # refused before any connection was made
