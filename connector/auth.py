"""Authentication, with no I/O: what each ``service.auth.method`` adds to a request.

``none``
    nothing.
``api_token``
    params ``token`` and either ``header`` (with an optional ``prefix`` such as ``"Bearer "``)
    or ``query`` (the name of a query parameter).
``basic``
    params ``username`` and ``password``: an ``Authorization: Basic`` header.
``oauth2_client_credentials``
    params ``tokenURL``, ``clientID``, ``clientSecret``, optional ``scopes`` (space separated),
    ``audience`` and ``clientAuth`` (``basic``, the default, or ``body``). The token is fetched
    on first use, cached until shortly before it expires, and fetched again once when the API
    answers 401. :class:`ClientCredentials` builds the token request and reads the answer; the
    clients in ``client.py`` send it.

Parameter values are templates over ``env`` (and the connection's ``service.params``).
Secrets never appear in a repr, a message or a log line.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import AuthenticationError, ConfigurationError

if TYPE_CHECKING:
    import httpx

__all__ = ["NEEDED_PARAMS", "ClientCredentials", "basic_header"]

NEEDED_PARAMS: dict[str, tuple[set[str], set[str]]] = {
    # method: (required params, optional params)
    "none": (set(), set()),
    "api_token": ({"token"}, {"header", "prefix", "query"}),
    "basic": ({"username", "password"}, set()),
    "oauth2_client_credentials": (
        {"tokenURL", "clientID", "clientSecret"},
        {"scopes", "audience", "clientAuth"},
    ),
}
"""The parameters each method requires and accepts (checked at load)."""

_EARLY = 30.0
"""Seconds before its expiry a cached token is considered stale."""


def basic_header(user: str, password: str) -> str:
    """``Basic base64(user:password)``."""
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {pair}"


class ClientCredentials:
    """An OAuth2 client-credentials grant (RFC 6749 §4.4) and its cached token."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: str = "",
        audience: str = "",
        client_auth: str = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client_auth not in ("basic", "body"):
            raise ConfigurationError(
                f"auth.params.clientAuth must be 'basic' or 'body', not {client_auth!r}",
                setting="auth.params.clientAuth",
            )
        import httpx  # here, not at the top: loading a definition needs no HTTP client

        try:
            url = httpx.URL(token_url)
        except httpx.InvalidURL:
            url = httpx.URL("")
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                "auth.params.tokenURL must be an absolute http(s) URL",
                setting="auth.params.tokenURL",
            )
        self.token_url = str(url)
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self.audience = audience
        self.client_auth = client_auth
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self.lock = threading.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<ClientCredentials {self.token_url} client {self.client_id!r}>"

    def current(self) -> str | None:
        """The cached access token while it is fresh, else None (fetch a new one)."""
        if self._token is not None and self._clock() < self._expires:
            return self._token
        return None

    def invalidate(self) -> None:
        """Forget the token (the API refused it)."""
        self._token = None

    def token_request(self) -> httpx.Request:
        """The form-encoded POST that asks the token endpoint for a token."""
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = self.scopes
        if self.audience:
            form["audience"] = self.audience
        headers = {"accept": "application/json"}
        if self.client_auth == "basic":
            headers["authorization"] = basic_header(self.client_id, self._secret)
        else:
            form.update(client_id=self.client_id, client_secret=self._secret)
        import httpx

        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def accept(self, response: httpx.Response) -> str:
        """Read the token endpoint's answer; cache and return the access token."""
        self.fetches += 1
        try:
            body = json.loads(response.content or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_error or not isinstance(body, dict):
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                detail = f": {body['error']}"
                if isinstance(body.get("error_description"), str):
                    detail += f" ({body['error_description'][:200]})"
            raise AuthenticationError(
                f"the OAuth2 token endpoint {self.token_url} refused the client credentials "
                f"(HTTP {response.status_code}{detail}); check clientID and clientSecret",
                status=response.status_code,
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"the OAuth2 token endpoint {self.token_url} answered without an access_token",
                status=response.status_code,
            )
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float | str) and _number(lifetime)
            else 3600.0
        )
        self._token = token
        self._expires = self._clock() + max(0.0, seconds - _EARLY)
        return token


def _number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True
