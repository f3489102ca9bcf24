"""The sync :class:`~connector.client.Connector`'s default transport: httpx's own, with the
TLS trust store loaded on the first ``https://`` request instead of when the client is made.

Making httpx's default transport loads the CA bundle into a TLS context (30–40 ms, a tenth of
a command's start-up), which a process that only talks to ``http://127.0.0.1`` (the sandbox,
a local service, a test) never uses. Here ``http://`` requests go through a pool whose TLS
context trusts no certificate at all (plain HTTP never opens TLS; were it ever asked to, the
handshake would fail, never pass unverified), and ``https://`` requests through httpx's
default transport (verified, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), made once under
a lock. Proxies from the environment are mounted as httpx's ``trust_env`` mounts them.
"""

from __future__ import annotations

import ssl
import threading

import httpx
from httpx._utils import get_environment_proxies

__all__ = ["DeferredTLSTransport", "environment_mounts"]


class DeferredTLSTransport(httpx.BaseTransport):
    """httpx's ``HTTPTransport``, split by scheme so that plain HTTP needs no trust store."""

    def __init__(self) -> None:
        trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no CA
        self._plain = httpx.HTTPTransport(verify=trusts_nothing)
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        return self._secure().handle_request(request)

    def _secure(self) -> httpx.HTTPTransport:
        if self._tls is None:
            with self._lock:
                if self._tls is None:
                    self._tls = httpx.HTTPTransport()
        return self._tls

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()


def environment_mounts() -> dict[str, httpx.BaseTransport | None]:
    """The ``mounts=`` that send what ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` cover (less
    ``NO_PROXY``) through httpx's own proxy transport: what ``trust_env`` does for a client
    made without a transport of its own."""
    return {
        pattern: None if proxy is None else httpx.HTTPTransport(proxy=proxy)
        for pattern, proxy in get_environment_proxies().items()
    }
