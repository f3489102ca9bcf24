"""Authentication methods: api_token in a header (with a prefix) or the query, basic, and
OAuth2 client credentials (token cached until expiry, fetched again once on a 401, never
shown)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from connector import (
    AsyncConnector,
    AuthenticationError,
    Connector,
    DefinitionError,
    load_definition,
)
from connector.definitions import Definition

SECRET = "s3cr3t-client-secret"


def api(auth: dict[str, Any]) -> Definition:
    return load_definition(
        {
            "service": {
                "baseURL": "http://api.test",
                "auth": auth,
                "variables": {"clientSecret": "CLIENT_SECRET"},
            },
            "resources": [
                {
                    "handle": "things",
                    "endpoint": "/things",
                    "operations": {"list": {"method": "GET"}},
                }
            ],
        }
    )


OAUTH = {
    "method": "oauth2_client_credentials",
    "params": {
        "tokenURL": "http://auth.test/oauth/token",
        "clientID": "client-1",
        "clientSecret": "{{ env.CLIENT_SECRET }}",
        "scopes": "things:read",
    },
}


class OAuthServer:
    """A token endpoint and an API that accepts only the tokens it issued (and not revoked)."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.refuse_all = False
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            self.token_requests.append(request)
            form = parse_qs(request.content.decode())
            expected = "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return httpx.Response(401, json={"error": "invalid_client"})
            assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["things:read"]
            token = f"tok{len(self.issued)}"
            self.issued.append(token)
            return httpx.Response(
                200,
                json={"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime},
            )
        self.api_requests.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.issued or token in self.revoked or self.refuse_all:
            return httpx.Response(401, json={"message": "bad token"})
        return httpx.Response(200, json=[{"id": 1}])


def connector(server: OAuthServer, secret: str = SECRET) -> Connector:
    return Connector(
        api(OAUTH), env={"CLIENT_SECRET": secret}, transport=httpx.MockTransport(server)
    )


def test_oauth_token_is_fetched_once_and_reused() -> None:
    server = OAuthServer()
    with connector(server) as client:
        for _ in range(3):
            assert client.call("things", "list", raw=True) == [{"id": 1}]
    assert len(server.token_requests) == 1
    assert {r.headers["authorization"] for r in server.api_requests} == {"Bearer tok0"}


def test_an_expired_token_is_replaced_before_use() -> None:
    server = OAuthServer(lifetime=0)  # expires at once (within the 30 s margin)
    with connector(server) as client:
        client.call("things", "list")
        client.call("things", "list")
    assert len(server.token_requests) == 2


def test_a_revoked_token_is_refreshed_once_on_401() -> None:
    server = OAuthServer()
    with connector(server) as client:
        client.call("things", "list")
        server.revoked.add("tok0")
        assert client.call("things", "list", raw=True) == [{"id": 1}]
        assert len(server.token_requests) == 2
        server.refuse_all = True  # now every token, old or new, is refused
        with pytest.raises(AuthenticationError):
            client.call("things", "list")
    assert len(server.token_requests) == 3  # one refresh per call, not a loop


def test_secrets_come_only_from_declared_variables() -> None:
    undeclared = {**OAUTH, "params": {**OAUTH["params"], "clientSecret": "{{ env.OTHER }}"}}
    with pytest.raises(DefinitionError, match=r"'OTHER', which service\.variables does not"):
        api(undeclared)


def test_refused_client_credentials_never_show_the_secret() -> None:
    server = OAuthServer()
    with connector(server, secret="wrong-" + SECRET) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.call("things", "list")
        assert "invalid_client" in str(caught.value)
        assert SECRET not in str(caught.value) and SECRET not in repr(client)
        assert SECRET not in repr(client._core.service)


def test_async_connector_uses_the_same_token_cache() -> None:
    server = OAuthServer()

    async def main() -> None:
        async with AsyncConnector(
            api(OAUTH), env={"CLIENT_SECRET": SECRET}, transport=httpx.MockTransport(server)
        ) as client:
            for _ in range(2):
                await client.call("things", "list")

    anyio.run(main)
    assert len(server.token_requests) == 1


def test_api_token_in_a_header_with_a_prefix_and_in_the_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    header = {
        "method": "api_token",
        "params": {"header": "Authorization", "prefix": "Bearer ", "token": "t1"},
    }
    query = {"method": "api_token", "params": {"query": "api_key", "token": "t2"}}
    for auth in (header, query):
        with Connector(api(auth), transport=httpx.MockTransport(handler)) as client:
            client.call("things", "list")
    assert seen[0].headers["authorization"] == "Bearer t1"
    assert seen[1].url.params["api_key"] == "t2" and "authorization" not in seen[1].headers


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"method": "api_token", "params": {"token": "t"}}, "exactly one of 'header' and 'query'"),
        ({"method": "oauth2_client_credentials", "params": {"clientID": "c"}}, "'tokenURL'"),
        (
            {"method": "basic", "params": {"username": "u", "password": "p", "realm": "x"}},
            "no parameter 'realm'",
        ),
    ],
)
def test_auth_params_are_checked_at_load(auth: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        api(auth)
    assert message in str(caught.value) and "service.auth.params" in str(caught.value)
