"""Small local fakes of three public APIs, written from their public documentation, for the
example definitions under ``definitions/examples/``; and a real uvicorn server on 127.0.0.1.

* :func:`github_app`: GitHub's REST issues (``Link`` pagination with ``per_page``, Bearer
  tokens, ``x-github-request-id``, 422 ``{"message", "errors": [...]}``).
* :func:`stripe_app`: Stripe's customers (form-encoded bodies with ``metadata[k]``,
  ``limit``/``starting_after``/``has_more``, ``Idempotency-Key`` replays, ``error.message``,
  ``{"deleted": true}`` receipts).
* :func:`helpdesk_app`: an OAuth2 client-credentials API (``/oauth/token``), tickets with
  ``offset``/``limit`` and a ``total``, agents with ``page``/``per_page``/``total_pages``.
"""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "tok-example-1"
CLIENT = ("helpdesk-client", "helpdesk-secret-xyz")


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server on 127.0.0.1 (a free port); yield its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:  # pragma: no cover - a broken environment
            raise RuntimeError("the fake API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def _stamp(n: int) -> str:
    return f"2026-01-01T00:{n // 60 % 60:02}:{n % 60:02}Z"


# GitHub -----------------------------------------------------------------------------------


@dataclass
class GitHub:
    owner: str = "octo"
    repo: str = "hello"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, title: str) -> dict[str, Any]:
        number = next(self._numbers)
        issue = {
            "id": 1000 + number,
            "number": number,
            "title": title,
            "state": "open",
            "user": {"login": "octocat"},
            "created_at": _stamp(number),
            "closed_at": None,
        }
        self.issues[number] = issue
        return issue


def github_app(state: GitHub) -> Starlette:
    def guard(request: Request) -> Response | None:
        state.requests += 1
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                401,
                headers={"x-github-request-id": "GH:401"},
            )
        p = request.path_params
        if (p["owner"], p["repo"]) != (state.owner, state.repo):
            return JSONResponse({"message": "Not Found"}, 404)
        return None

    def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(
            body, status, headers={"x-github-request-id": "GH:1", **(headers or {})}
        )

    async def repo(request: Request) -> Response:
        return guard(request) or answer({"full_name": f"{state.owner}/{state.repo}"})

    async def issues(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        if request.method == "POST":
            body = await request.json()
            if not body.get("title"):
                errors = [{"resource": "Issue", "field": "title", "code": "missing_field"}]
                return answer({"message": "Validation Failed", "errors": errors}, 422)
            return answer(state.add(body["title"]), 201)
        q = request.query_params
        per_page = min(int(q.get("per_page", 30)), 100)
        page = int(q.get("page", 1))
        wanted = q.get("state", "open")
        rows = [i for i in sorted(state.issues.values(), key=lambda i: -i["number"])]
        rows = [i for i in rows if wanted == "all" or i["state"] == wanted]
        chunk = rows[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(rows):
            url = request.url.include_query_params(page=page + 1, per_page=per_page)
            headers["link"] = (
                f'<{url}>; rel="next", <{request.url.include_query_params(page=1)}>; rel="first"'
            )
        return answer(chunk, headers=headers)

    async def issue(request: Request) -> Response:
        refused = guard(request)
        if refused:
            return refused
        found = state.issues.get(int(request.path_params["number"]))
        if found is None:
            return answer({"message": "Not Found"}, 404)
        if request.method == "PATCH":
            body = await request.json()
            found["state"] = body.get("state", found["state"])
            found["closed_at"] = _stamp(99) if found["state"] == "closed" else None
        return answer(found)

    base = "/repos/{owner}/{repo}"
    return Starlette(
        routes=[
            Route(base, repo),
            Route(base + "/issues", issues, methods=["GET", "POST"]),
            Route(base + "/issues/{number:int}", issue, methods=["GET", "PATCH"]),
        ]
    )


# Stripe -----------------------------------------------------------------------------------


@dataclass
class Stripe:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, form: dict[str, str]) -> dict[str, Any]:
        cid = f"cus_{next(self._ids):06d}"
        customer = {
            "id": cid,
            "object": "customer",
            "email": form.get("email"),
            "name": form.get("name"),
            "delinquent": False,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "created": 1_700_000_000 + len(self.order),
        }
        self.customers[cid] = customer
        self.order.insert(0, cid)  # newest first, as Stripe lists
        return customer


def stripe_app(state: Stripe) -> Starlette:
    def error(status: int, kind: str, message: str) -> Response:
        body = {"error": {"type": kind, "message": message}}
        return JSONResponse(body, status, headers={"request-id": "req_err"})

    def answer(body: Any) -> Response:
        return JSONResponse(body, headers={"request-id": "req_ok"})

    async def form(request: Request) -> dict[str, str] | None:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return None
        return dict(parse_qsl((await request.body()).decode()))

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == "Bearer sk_test_123"

    async def customers(request: Request) -> Response:
        if not authorized(request):
            return error(401, "invalid_request_error", "Invalid API Key provided")
        if request.method == "POST":
            state.posts += 1
            key = request.headers.get("idempotency-key")
            if key and key in state.replays:
                return answer(state.replays[key])
            fields = await form(request)
            if fields is None:
                return error(400, "invalid_request_error", "Invalid request: not form-encoded")
            if "@" not in fields.get("email", ""):
                return error(
                    400,
                    "invalid_request_error",
                    "Invalid email address: " + fields.get("email", ""),
                )
            created = state.add(fields)
            if key:
                state.replays[key] = created
            return answer(created)
        q = request.query_params
        limit = min(int(q.get("limit", 10)), 100)
        ids = state.order
        if "starting_after" in q:
            ids = ids[ids.index(q["starting_after"]) + 1 :]
        page = ids[:limit]
        return answer(
            {
                "object": "list",
                "url": "/v1/customers",
                "has_more": len(ids) > limit,
                "data": [state.customers[c] for c in page],
            }
        )

    async def customer(request: Request) -> Response:
        if not authorized(request):
            return error(401, "invalid_request_error", "Invalid API Key provided")
        cid = request.path_params["cid"]
        found = state.customers.get(cid)
        if found is None:
            return error(404, "invalid_request_error", f"No such customer: '{cid}'")
        if request.method == "DELETE":
            del state.customers[cid]
            state.order.remove(cid)
            return answer({"id": cid, "object": "customer", "deleted": True})
        if request.method == "POST":
            fields = await form(request) or {}
            found["metadata"].update(
                {k[9:-1]: v for k, v in fields.items() if k.startswith("metadata[")}
            )
        return answer(found)

    return Starlette(
        routes=[
            Route("/v1/customers", customers, methods=["GET", "POST"]),
            Route("/v1/customers/{cid}", customer, methods=["GET", "POST", "DELETE"]),
        ]
    )


# Helpdesk (OAuth2 client credentials) -----------------------------------------------------


@dataclass
class Helpdesk:
    tenant: str = "acme"
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, subject: str, priority: int = 2) -> dict[str, Any]:
        tid = next(self._ids)
        ticket = {
            "id": tid,
            "subject": subject,
            "status": "open",
            "priority": priority,
            "created_at": _stamp(tid),
            "solved_at": None,
        }
        self.tickets[tid] = ticket
        return ticket


def helpdesk_app(state: Helpdesk) -> Starlette:
    def problem(status: int, message: str) -> Response:
        return JSONResponse({"errors": [{"code": status, "message": message}]}, status)

    async def token(request: Request) -> Response:
        state.token_requests += 1
        expected = "Basic " + base64.b64encode(":".join(CLIENT).encode()).decode()
        form = dict(parse_qsl((await request.body()).decode()))
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        issued = f"at-{state.token_requests}"
        state.tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    def authorized(request: Request) -> Response | None:
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in state.tokens:
            return problem(401, "invalid or expired token")
        if request.path_params["tenant"] != state.tenant:
            return problem(404, "no such tenant")
        return None

    async def me(request: Request) -> Response:
        return authorized(request) or JSONResponse({"client": CLIENT[0]})

    async def tickets(request: Request) -> Response:
        refused = authorized(request)
        if refused:
            return refused
        if request.method == "POST":
            body = await request.json()
            if not body.get("subject"):
                return problem(422, "subject is required")
            return JSONResponse(state.add(body["subject"], body.get("priority", 2)), 201)
        q = request.query_params
        rows = sorted(state.tickets.values(), key=lambda t: -t["id"])
        if "status" in q:
            rows = [t for t in rows if t["status"] == q["status"]]
        offset, limit = int(q.get("offset", 0)), min(int(q.get("limit", 25)), 200)
        return JSONResponse({"tickets": rows[offset : offset + limit], "total": len(rows)})

    async def ticket(request: Request) -> Response:
        refused = authorized(request)
        if refused:
            return refused
        found = state.tickets.get(int(request.path_params["tid"]))
        if found is None:
            return problem(404, "ticket not found")
        if request.method == "DELETE":
            del state.tickets[found["id"]]
            return Response(status_code=204)
        if request.method == "PUT":
            found.update(status="solved", solved_at=_stamp(90))
        return JSONResponse(found)

    async def agents(request: Request) -> Response:
        refused = authorized(request)
        if refused:
            return refused
        page, per_page = (
            int(request.query_params.get("page", 1)),
            int(request.query_params.get("per_page", 10)),
        )
        pages = max(1, -(-len(state.agents) // per_page))
        chunk = state.agents[(page - 1) * per_page : page * per_page]
        return JSONResponse({"agents": chunk, "page": page, "total_pages": pages})

    base = "/api/{tenant}"
    return Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route(base + "/me", me),
            Route(base + "/tickets", tickets, methods=["GET", "POST"]),
            Route(base + "/tickets/{tid:int}", ticket, methods=["GET", "DELETE"]),
            Route(base + "/tickets/{tid:int}/solve", ticket, methods=["PUT"]),
            Route(base + "/agents", agents),
        ]
    )
