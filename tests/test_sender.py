"""The delivery client against hostile receivers (docs/emitter.md, Security): every attempt is bounded in
time and memory, nothing is inflated, nothing is followed."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from connector.emitter.guard import Guard
from connector.emitter.sender import GuardedSender, SendFailed, SendTimeout

Behaviour = Callable[[socket.socket], None]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RawServer:
    """A loopback TCP server that runs ``behaviour`` on each connection after reading the request."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.behaviour(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour) -> RawServer:
        server = RawServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _sender(total: float = 0.5) -> GuardedSender:
    return GuardedSender(Guard(allow_private=True), total_timeout=total, connect_timeout=0.5)


def _never_answer(conn: socket.socket) -> None:
    time.sleep(3)


def _slow_drip(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(60):
        conn.sendall(b"x")
        time.sleep(0.05)


def _continue_forever(conn: socket.socket) -> None:
    for _ in range(200):
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.02)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "behaviour", [_never_answer, _slow_drip, _continue_forever], ids=["silent", "drip", "1xx"]
)
async def test_stalling_receivers_are_cut_off_at_the_deadline(
    serve: Callable[[Behaviour], RawServer], behaviour: Behaviour
) -> None:
    server = serve(behaviour)
    sender = _sender(total=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(SendFailed):
            await sender.post("s", f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    finally:
        await sender.aclose()
    assert time.monotonic() - started < 2.0


def _endless_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")
    for _ in range(20_000):  # up to ~1.3 GB if anyone kept reading
        conn.sendall(b"y" * 65536)


@pytest.mark.anyio
async def test_endless_body_is_read_to_the_cap_only(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    server = serve(_endless_body)
    sender = _sender(total=5)
    started = time.monotonic()
    try:
        reply = await sender.post("s", f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    finally:
        await sender.aclose()
    assert reply.status == 200
    assert len(reply.body) == 20 * 1024
    assert time.monotonic() - started < 2.0


BOMB = gzip.compress(b"\0" * 50_000_000)


def _gzip_bomb(conn: socket.socket) -> None:
    head = f"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {len(BOMB)}\r\n\r\n"
    conn.sendall(head.encode() + BOMB)


@pytest.mark.anyio
async def test_compressed_answer_is_never_inflated(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(_gzip_bomb)
    sender = _sender(total=5)
    try:
        reply = await sender.post("s", f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    finally:
        await sender.aclose()
    assert reply.status == 200
    assert reply.body.startswith(b"\x1f\x8b")  # still gzip: kept raw
    assert len(reply.body) <= 20 * 1024


def _huge_headers(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200_000 + b"\r\ncontent-length: 0\r\n\r\n")


@pytest.mark.anyio
async def test_huge_headers_are_a_failure_not_a_crash(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    server = serve(_huge_headers)
    sender = _sender(total=5)
    try:
        with pytest.raises(SendFailed):
            await sender.post("s", f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    finally:
        await sender.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_answers_never_followed(
    serve: Callable[[Behaviour], RawServer], status: int
) -> None:
    target = serve(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))

    def redirect(conn: socket.socket) -> None:
        location = f"http://127.0.0.1:{target.port}/elsewhere"
        conn.sendall(
            f"HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n".encode()
        )

    server = serve(redirect)
    sender = _sender(total=5)
    try:
        reply = await sender.post("s", f"http://127.0.0.1:{server.port}/hook", b"{}", {})
    finally:
        await sender.aclose()
    assert reply.status == status
    assert target.connections == 0


@pytest.mark.anyio
async def test_refused_connection_is_a_failure(serve: Callable[[Behaviour], RawServer]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = _sender()
    try:
        with pytest.raises(SendFailed) as caught:
            await sender.post("s", f"http://127.0.0.1:{port}/hook", b"{}", {})
    finally:
        await sender.aclose()
    assert not isinstance(caught.value, SendTimeout)
