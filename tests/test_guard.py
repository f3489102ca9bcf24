"""The SSRF guard: refuse non-public targets before any connection, and dial what was checked."""

from __future__ import annotations

import ipaddress
import socketserver
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard, is_public, unwrap
from connector.emitter.sender import GuardedSender, SendFailed
from connector.emitter.store import build_event
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import UnsafeDestinationError


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Listener:
    """A TCP server on a loopback address that counts connections and answers 200."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.connections = 0
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                listener.connections += 1
                self.request.recv(65536)
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                )

        self.server = socketserver.ThreadingTCPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def fixed(answers: dict[str, Sequence[str]]) -> object:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "https://good.com@127.0.0.1/",
        "https://user:pw@example.com/",
        "https://example.com\\@127.0.0.1/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/",
        "http://example.com/",
        "https://example.com:22/",
        "https://example.com:6379/",
        "https://example.com:11211/",
        "https://example.com:25/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://127.0.0.1/",
        "https://0.0.0.0/",
        "https://169.254.169.254/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:7f00:1::]/",
        "https://[0:0:0:0:0:ffff:7f00:1]/",
        "https://[fd00:ec2::254]/",
        "https://10.0.0.1/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://100.64.0.1/",
        "https://ex%2eample.com/",
        "https://example.com./",
        "https:///path",
        "https://exa mple.com/",
    ],
)
def test_validate_url_refuses_ssrf_forms(url: str) -> None:
    with pytest.raises(UnsafeDestinationError):
        Guard().validate_url(url)


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "https://example.com:8443/x", "https://93.184.216.34/"]
)
def test_validate_url_accepts_public_https(url: str) -> None:
    assert Guard().validate_url(url) == url


def test_validate_url_allow_private_permits_loopback_http_any_port() -> None:
    guard = Guard(allow_private=True)
    assert guard.validate_url("http://127.0.0.1:9000/x")
    assert guard.validate_url("http://[::1]:9000/x")
    with pytest.raises(UnsafeDestinationError):
        guard.validate_url("http://169.254.169.254/")
    with pytest.raises(UnsafeDestinationError):
        guard.validate_url("http://0x7f.1/")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("64:ff9b::808:808", True),
        ("64:ff9b::a9fe:a9fe", False),
        ("2002:7f00:1::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("::", False),
        ("::1", False),
        ("198.18.0.1", False),
        ("192.0.0.8", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("100.64.0.1", False),
    ],
)
def test_is_public_unwraps_embedded_ipv4(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_unwrap_6to4_and_nat64() -> None:
    assert unwrap(ipaddress.ip_address("2002:7f00:1::")) == ipaddress.ip_address("127.0.0.1")
    assert unwrap(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == ipaddress.ip_address(
        "169.254.169.254"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["93.184.216.34", "10.0.0.5"],
        ["::1"],
        ["fd00:ec2::254"],
        ["64:ff9b::a9fe:a9fe"],
        [],
    ],
)
async def test_resolve_refuses_unless_every_answer_is_public(answers: list[str]) -> None:
    guard = Guard(resolver=fixed({"metadata.google.internal": answers}))  # type: ignore[arg-type]
    with pytest.raises(UnsafeDestinationError):
        await guard.check("https://metadata.google.internal/")


@pytest.mark.anyio
async def test_resolve_allows_listed_cidr() -> None:
    guard = Guard.from_cidrs(["10.1.0.0/16"], resolver=fixed({"svc": ["10.1.2.3"]}))
    assert [str(a) for a in await guard.check("https://svc/")] == ["10.1.2.3"]
    with pytest.raises(UnsafeDestinationError):
        Guard.from_cidrs(["not-a-cidr"])


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "[::1]"])
async def test_guarded_sender_never_connects_to_loopback(listener: Listener, host: str) -> None:
    guard = Guard(allow_insecure=True, ports=None)
    sender = GuardedSender(guard)
    try:
        with pytest.raises(UnsafeDestinationError):
            await sender.post("sub", f"http://{host}:{listener.port}/", b"{}", {})
    finally:
        await sender.aclose()
    assert listener.connections == 0


@pytest.mark.anyio
async def test_dns_rebinding_public_at_check_private_at_connect(listener: Listener) -> None:
    calls: list[int] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(port)
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    guard = Guard(allow_insecure=True, ports=None, resolver=rebinding)
    url = f"http://rebind.test:{listener.port}/"
    await guard.check(url)  # registration time: public
    sender = GuardedSender(guard)
    try:
        with pytest.raises((UnsafeDestinationError, SendFailed)):
            await sender.post("sub", url, b"{}", {})
    finally:
        await sender.aclose()
    assert listener.connections == 0
    assert len(calls) == 2


@pytest.mark.anyio
async def test_mixed_public_and_private_answers_are_refused_whole(listener: Listener) -> None:
    """One private address among the answers refuses the host: no dropping and dialling the rest."""
    guard = Guard(
        allow_insecure=True,
        ports=None,
        resolver=fixed({"mixed.test": ["93.184.216.34", "127.0.0.1"]}),
    )
    sender = GuardedSender(guard)
    try:
        with pytest.raises(UnsafeDestinationError):
            await sender.post("sub", f"http://mixed.test:{listener.port}/", b"{}", {})
    finally:
        await sender.aclose()
    assert listener.connections == 0


@pytest.mark.anyio
async def test_guarded_sender_dials_the_address_it_checked() -> None:
    """One lookup per connection: the checked answer is dialled, a later answer is never used."""
    approved, rebound = Listener("127.0.0.2"), Listener("127.0.0.1")
    try:
        port = approved.port
        rebound.close()
        rebound = Listener("127.0.0.1", port)
        calls: list[str] = []

        async def flipping(host: str, p: int) -> Sequence[str]:
            calls.append(host)
            return ["127.0.0.2"] if len(calls) == 1 else ["127.0.0.1"]

        guard = Guard(
            allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),),
            allow_insecure=True,
            ports=None,
            resolver=flipping,
        )
        sender = GuardedSender(guard)
        try:
            reply = await sender.post("sub", f"http://flip.test:{port}/", b"{}", {})
        finally:
            await sender.aclose()
        assert reply.status == 200
        assert (approved.connections, rebound.connections) == (1, 0)
        assert calls == ["flip.test"]
    finally:
        approved.close()
        rebound.close()


@pytest.mark.anyio
async def test_deliverer_refuses_private_targets_on_every_attempt(
    tmp_path: Path, listener: Listener
) -> None:
    """A subscription that was allowed at registration is still checked at send time."""
    now = 1_700_000_000.0
    with SQLiteStore(
        tmp_path / "s.db", guard=Guard(allow_private=True), clock=lambda: now
    ) as store:
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
            store.add_subscription(f"http://{host}:{listener.port}/hook")
        store.record_event(
            build_event(
                "files.created",
                resource="files",
                record_id="f1",
                marker="created",
                data={},
                timestamp=now,
                path="/webhooks/claude-api/files.created",
                created_at=now,
            )
        )
        strict = Guard(allow_insecure=True, ports=None)
        async with Deliverer(store, guard=strict, clock=lambda: now) as deliverer:
            outcomes = await deliverer.run_once()
        assert len(outcomes) == 3
        assert all(o.result == "retry" and "guard" in (o.error or "") for o in outcomes)
    assert listener.connections == 0


def test_remembered_verdicts_stay_per_policy_and_refusals_are_never_remembered() -> None:
    url = "http://127.0.0.1:8080/hook"
    permissive, strict = Guard(allow_private=True), Guard()
    for _ in range(3):  # the second and third calls are answered from the cache
        assert permissive.validate_url(url) == url
        with pytest.raises(UnsafeDestinationError):
            strict.validate_url(url)  # another policy: its own verdict, not the cached one
    assert Guard(allow_private=True).validate_url(url) == url  # an equal policy shares it
    with pytest.raises(UnsafeDestinationError):
        permissive.validate_url("http://127.0.0.1:8080/a b")
