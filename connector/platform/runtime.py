"""What the service holds while it runs: definitions, connections, connectors, emitter stores.

One :class:`Runtime` per process. It loads the definitions once (each by its ``handle``),
opens the :class:`~connector.platform.registry.Registry` in the state store, shares one
``httpx.AsyncClient`` (one connection pool, guarded: public upstream addresses only unless
``allow_private_upstreams``) between the connectors of every connection, and
builds each connection's :class:`~connector.client.AsyncConnector` once (again after an
update, or when an OAuth2 access token nears its expiry).

Webhooks are per connection: each connection has its own emitter store
(:class:`~connector.platform.hook_stores.HookStores`: a SQLite file beside a SQLite state, a
schema of its own in a PostgreSQL state), so its subscriptions, snapshots and event log never
mix with another tenant's.
"""

from __future__ import annotations

import base64
import http.cookiejar
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import httpx

from connector.client import AsyncConnector
from connector.config import bundled_definition_path
from connector.definitions import Definition, load_definition
from connector.emitter.guard import Guard
from connector.emitter.store import Store
from connector.emitter.writes import WriteRecorder
from connector.errors import ConfigurationError, UpstreamError
from connector.platform.hook_stores import HookStores
from connector.platform.registry import Connection, Registry
from connector.transport import AiohttpTransport
from connector.types import JSON

__all__ = ["Runtime", "load_definitions"]

_TOKEN_MARGIN = 30.0


def load_definitions(directory: str | Path | None) -> dict[str, Definition]:
    """Every ``*.json`` definition in ``directory`` by handle (file stem for a bare array);
    the bundled Claude API definition when no directory is given."""
    if directory is None:
        files = [bundled_definition_path()]
    else:
        root = Path(directory)
        if not root.is_dir():
            raise ConfigurationError(f"not a directory: {root}", setting="--definitions")
        files = sorted(root.glob("*.json"))
        if not files:
            raise ConfigurationError(f"no *.json definition in {root}", setting="--definitions")
    found: dict[str, Definition] = {}
    for file in files:
        definition = load_definition(file)
        handle = definition.connection.handle or file.name.removesuffix(".json")
        if handle in found:
            raise ConfigurationError(
                f"two definitions have the handle {handle!r} (the second is {file}); "
                "give each a distinct handle",
                setting="--definitions",
            )
        found[handle] = definition
    return found


class _NoCookies(http.cookiejar.CookieJar):
    """The shared client's cookie jar keeps nothing: its connections serve every tenant, and
    the engine sends no cookies anyway (extracting them cost 3% of a call)."""

    def extract_cookies(self, response: object, request: object) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


class _NoCookieExtraction(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


@dataclass
class _Built:
    connector: AsyncConnector
    updated_at: float
    expires_at: float | None


class Runtime:
    """The service's state; see the module docstring."""

    def __init__(
        self,
        definitions: dict[str, Definition],
        state: str | Path,
        *,
        allow_private: bool = False,
        allow_private_upstreams: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.definitions = definitions
        self.state = str(state)
        self.guard = Guard(allow_private=allow_private)
        self.registry = Registry(self.state)
        self.http = httpx.AsyncClient(
            transport=transport
            or AiohttpTransport(
                limit=256,
                # The upstreams' addresses: public only, unless the operator allows private
                # ones (a tenant must not reach the service's loopback or metadata address).
                guard=None if allow_private_upstreams else Guard(allow_insecure=True, ports=None),
                guard_hint="the service calls public addresses only; an operator can allow "
                "private and loopback upstreams with `connector serve --allow-private-upstreams`",
            ),
            timeout=httpx.Timeout(timeout, connect=5.0),
            follow_redirects=False,
            cookies=_NoCookies(),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        if isinstance(getattr(self.http, "_cookies", None), httpx.Cookies):
            # httpx offers no switch for it: skip even wrapping every answer for the jar.
            self.http._cookies = _NoCookieExtraction(self.http.cookies.jar)
        self._built: dict[str, _Built] = {}
        self._hooks = HookStores(self.state, self.registry, self.guard)
        self._recorders: dict[str, WriteRecorder] = {}
        self._token_lock = anyio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP pool, the emitter stores and the registry."""
        await self.http.aclose()
        self._hooks.close()
        self.registry.close()

    # connectors --------------------------------------------------------------------------

    def definition(self, handle: str) -> Definition | None:
        """The loaded definition with this handle."""
        return self.definitions.get(handle)

    async def connector(self, connection: Connection) -> AsyncConnector:
        """The connection's connector, built once per version of the connection."""
        built = self._built.get(connection.id)
        fresh = built is not None and built.updated_at == connection.updated_at
        if (
            fresh
            and built is not None
            and (built.expires_at is None or built.expires_at > time.time())
        ):
            return built.connector
        async with self._token_lock:
            built = self._built.get(connection.id)
            if (
                built is not None
                and built.updated_at == connection.updated_at
                and (built.expires_at is None or built.expires_at > time.time())
            ):
                return built.connector
            connector, expires_at = await self._build(connection)
            self._built[connection.id] = _Built(connector, connection.updated_at, expires_at)
            return connector

    def forget(self, connection_id: str) -> None:
        """Drop the connector built for a connection (after an update or a delete)."""
        self._built.pop(connection_id, None)
        self._recorders.pop(connection_id, None)

    async def _build(self, connection: Connection) -> tuple[AsyncConnector, float | None]:
        definition = self.definitions.get(connection.definition)
        if definition is None:
            raise ConfigurationError(
                f"the connection's definition {connection.definition!r} is not loaded",
                setting="--definitions",
            )
        credentials = connection.credentials
        kind = credentials.get("type", "none")
        headers = dict(connection.headers)
        api_key = None
        expires_at = None
        if kind == "api_key":
            api_key = credentials["api_key"]
        elif kind == "basic":
            pair = f"{credentials['username']}:{credentials['password']}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif kind == "oauth2_client_credentials":
            token, lifetime = await self._client_credentials(credentials)
            headers["authorization"] = f"Bearer {token}"
            if lifetime is not None:
                expires_at = time.time() + max(lifetime - _TOKEN_MARGIN, 1.0)
        connector = AsyncConnector(
            definition,
            base_url=connection.base_url,
            api_key=api_key,
            env=dict(connection.params),  # never the service's own environment
            headers=headers,
            http_client=self.http,
            on_write=partial(self._record_write, connection.id, definition),
        )
        return connector, expires_at

    def _record_write(
        self, connection_id: str, definition: Definition, handle: str, operation: str, body: JSON
    ) -> None:
        """A create made through the service becomes ``<handle>.created`` (the only source
        of ``messages.created``), where the connection has webhooks, as ``connector call``
        does where a store exists."""
        if not self.has_hooks(connection_id):
            return
        recorder = self._recorders.get(connection_id)
        if recorder is None or recorder.store is not self.hooks(connection_id):
            recorder = WriteRecorder(definition, self.hooks(connection_id))
            self._recorders[connection_id] = recorder
        recorder(handle, operation, body)

    async def _client_credentials(self, credentials: dict[str, str]) -> tuple[str, float | None]:
        """An access token from the token endpoint (RFC 6749 §4.4), client authenticated with
        HTTP basic; raises a typed error that never carries the client secret."""
        form = {"grant_type": "client_credentials"}
        if credentials.get("scope"):
            form["scope"] = credentials["scope"]
        url = credentials["token_url"]
        try:
            response = await self.http.post(
                url,
                data=form,
                auth=(credentials["client_id"], credentials["client_secret"]),
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ConfigurationError(
                f"the OAuth2 token endpoint did not answer: {type(exc).__name__}",
                setting="credentials.token_url",
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.is_error or not isinstance(payload, dict) or not payload.get("access_token"):
            error = payload.get("error") if isinstance(payload, dict) else None
            raise UpstreamError(
                "the OAuth2 token endpoint refused the client credentials",
                status=response.status_code,
                error_type=str(error) if error else "oauth2_error",
                resource="oauth2",
                operation="token",
            )
        lifetime = payload.get("expires_in")
        return str(payload["access_token"]), (
            float(lifetime) if isinstance(lifetime, int | float) else None
        )

    # webhooks ----------------------------------------------------------------------------

    def hooks_location(self, connection_id: str) -> str:
        """Where a connection's emitter store lives (for messages and tests)."""
        return self._hooks.location(connection_id)

    def hooks(self, connection_id: str) -> Store:
        """The connection's emitter store (made on first use)."""
        return self._hooks.get(connection_id)

    def has_hooks(self, connection_id: str) -> bool:
        """Whether the connection has an emitter store already (without making one)."""
        return self._hooks.exists(connection_id)

    def drop_hooks(self, connection_id: str) -> None:
        """Close and delete a connection's emitter store."""
        self.forget(connection_id)
        self._hooks.drop(connection_id)
