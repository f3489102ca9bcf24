"""A raw HTTP/1.1 server on a socket of 127.0.0.1 that answers every request with one JSON
body and records each request line: an origin (plain or TLS) or a forward proxy that never
resolves a name, for the tests of the transports."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["canned_server"]


@contextmanager
def canned_server(
    answer_body: Any, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Answers every request with ``answer_body`` as JSON; yields the port and the request
    lines seen (``GET http://api.example.test/... HTTP/1.1`` when used as a proxy)."""
    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopped = threading.Event()
    body = json.dumps(answer_body).encode()

    def answer(conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                return
            head += chunk
        seen.append(head.split(b"\r\n", 1)[0])
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + b"content-length: %d\r\n\r\n" % len(body)
            + body
        )

    def run() -> None:
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with tls.wrap_socket(conn, server_side=True) if tls else conn as wrapped:
                    answer(wrapped)
            except (ssl.SSLError, OSError):
                continue  # a client that refused the certificate, or hung up

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stopped.set()
        thread.join(5)
        listener.close()
