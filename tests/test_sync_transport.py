"""The sync Connector's default transport (``connector/sync_transport.py``) keeps httpx's own
behaviour while loading no trust store for plain HTTP: over real sockets on 127.0.0.1, https
is verified (an unknown certificate is refused, ``SSL_CERT_FILE`` is honoured), and proxies
from the environment are used as httpx's ``trust_env`` uses them, ``NO_PROXY`` included."""

from __future__ import annotations

import ssl
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import trustme
from canned_http import canned_server

from connector import Connector, TransportError
from connector.sync_transport import DeferredTLSTransport

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "definitions" / "claude-api.json"
KEY = "sk-ant-test-secret-sync-transport"
BATCH = {"id": "msgbatch_1", "type": "message_batch", "processing_status": "ended"}


def _server(tls: ssl.SSLContext | None = None) -> AbstractContextManager[tuple[int, list[bytes]]]:
    """Answers every request with BATCH and records each request line."""
    return canned_server(BATCH, tls)


def _api(base_url: str) -> Connector:
    return Connector(DEFINITION, base_url=base_url, api_key=KEY, max_retries=0)


def test_plain_http_loads_no_trust_store_and_https_is_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = DeferredTLSTransport()
    assert transport._tls is None  # made on the first https request only
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    with _server(server_ctx) as (port, seen):
        with _api(f"https://127.0.0.1:{port}") as api:
            with pytest.raises(TransportError, match=r"ConnectError.*CERTIFICATE_VERIFY_FAILED"):
                api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        with ca.cert_pem.tempfile() as bundle:
            monkeypatch.setenv("SSL_CERT_FILE", bundle)
            with _api(f"https://127.0.0.1:{port}") as api:
                batch = api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert batch["id"] == "msgbatch_1"
    assert seen == [b"GET /v1/messages/batches/msgbatch_1 HTTP/1.1"]  # the refused one sent nothing
    with _server() as (port, seen), _api(f"http://127.0.0.1:{port}") as api:
        api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        assert api._http._transport._tls is None  # type: ignore[attr-defined]
    assert len(seen) == 1


def test_the_plain_pool_never_completes_a_tls_handshake() -> None:
    # Were an https URL ever routed to it, its context trusts nothing: refused, never unverified.
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    transport = DeferredTLSTransport()
    with _server(server_ctx) as (port, seen):
        import httpx

        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            transport._plain.handle_request(
                httpx.Request("GET", f"https://127.0.0.1:{port}/v1/models")
            )
    transport.close()
    assert seen == []


def test_proxies_from_the_environment_are_honoured_and_no_proxy_bypasses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _server() as (proxy_port, via_proxy), _server() as (port, direct):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with _api("http://api.example.test") as api:  # the proxy answers: nothing resolves it
            api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        with _api(f"http://127.0.0.1:{port}") as api:  # NO_PROXY: straight to the server
            api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert via_proxy == [b"GET http://api.example.test/v1/messages/batches/msgbatch_1 HTTP/1.1"]
    assert direct == [b"GET /v1/messages/batches/msgbatch_1 HTTP/1.1"]
