"""Secrets never echoed (issue 8 item 14): canary values put wherever a user can put a secret
(the API key, a header line, the base URL's userinfo, a secret placeholder, a signing secret)
must not appear in any command's stdout, stderr or log records."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli import main
from connector.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-ant-CANARYKEY0123456789"
USERINFO = "CANARYPASS9876"
HEADER = "CANARYHEADER4242"
PLACEHOLDER = "CANARYPLACEHOLDER77"
SECRET = "whsec_" + base64.b64encode(b"CANARY-signing-secret-32-bytes!!").decode()
CANARIES = (KEY, USERINFO, HEADER, PLACEHOLDER, SECRET, SECRET[6:])


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CONNECTOR_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    monkeypatch.setenv("CONNECTOR_STATE", str(tmp_path / "state.db"))
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _connect(port: int) -> socket.socket:
    """The receiver says it listens just before uvicorn binds: retry briefly."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _run(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *argv: str
) -> tuple[int, str]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        code = main(list(argv))
    captured = capsys.readouterr()
    seen = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    seen += "\n".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for canary in CANARIES:
        assert canary not in seen, f"{canary} leaked by {argv}"
    assert "Traceback" not in seen
    return code, seen


def test_a_malformed_header_line_is_not_echoed(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONNECTOR_HEADERS", f"anthropic-version: 2023-06-01\nx-api-key {HEADER}")
    code, seen = _run(capsys, caplog, "call", "models", "list")
    assert code == 2 and "line 2 of CONNECTOR_HEADERS" in seen
    monkeypatch.delenv("CONNECTOR_HEADERS")
    code, seen = _run(capsys, caplog, "call", "models", "list", "--header", HEADER)
    assert code == 2 and "--header number 1" in seen


def test_userinfo_in_the_base_url_is_redacted_in_transport_errors(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, clean_env: Path
) -> None:
    url = f"http://user:{USERINFO}@127.0.0.1:{_closed_port()}"
    code, seen = _run(capsys, caplog, "--base-url", url, "--api-key", KEY, "call", "models", "list")
    # Either the origin check refuses a URL with credentials before sending (exit 2), or the
    # transport error names the URL with them redacted (exit 1); the password never shows.
    assert (code == 2 and "not sent" in seen) or (code == 1 and "http://***@127.0.0.1" in seen)


def test_redact_url_hides_userinfo_whatever_its_shape() -> None:
    from connector.redaction import redact_url

    assert redact_url(f"http://u:{USERINFO}@127.0.0.1:1/v1/x") == "http://***@127.0.0.1:1/v1/x"
    assert redact_url(f"http://{USERINFO}@[::1]:80/") == "http://***@[::1]:80/"
    assert redact_url("http://h/x?a=b@c") == "http://h/x?a=b@c"


def test_a_secret_placeholder_outside_its_options_is_not_echoed(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, clean_env: Path
) -> None:
    definition = json.loads((ROOT / "definitions/claude-api.json").read_text())
    models = next(r for r in definition["resources"] if r["handle"] == "models")
    models["operations"]["list"]["queryParams"] = {
        "value": {"tier": "{{tier}}"},
        "placeholders": [
            {"name": "tier", "type": "String", "secret": True, "options": ["gold", "silver"]}
        ],
    }
    path = clean_env / "definition.json"
    path.write_text(json.dumps(definition))
    code, seen = _run(
        capsys,
        caplog,
        "--definition",
        str(path),
        "call",
        "models",
        "list",
        "-p",
        f"tier={PLACEHOLDER}",
    )
    assert code == 2 and "tier" in seen and "must be one of" in seen


def test_signing_secrets_and_the_api_key_from_files_never_show(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    clean_env: Path,
    server: SandboxServer,
) -> None:
    key_file = clean_env / "key"
    key_file.write_text(KEY + "\n")
    secret_file = clean_env / "secret"
    secret_file.write_text(SECRET + "\n")
    receiver = f"http://127.0.0.1:{_closed_port()}/hooks"
    api = ("--base-url", server.base_url, "--api-key-file", str(key_file))
    code, seen = _run(
        capsys, caplog, "subscriptions", "add", receiver, "--secret-file", str(secret_file),
        "--allow-private",
    )  # fmt: skip
    assert code == 0
    sub_id = json.loads(seen.splitlines()[0])["id"]
    assert _run(capsys, caplog, "subscriptions", "list")[0] == 0
    assert _run(capsys, caplog, *api, "call", "models", "list")[0] == 0
    note = clean_env / "note.txt"
    note.write_text("hello")
    assert _run(capsys, caplog, *api, "call", "files", "upload", "-p", f"file={note}")[0] == 0
    # The delivery fails (nobody listens): the failure is logged and reported, secret-free.
    _run(capsys, caplog, *api, "emit", "--once", "--allow-private")
    _run(capsys, caplog, "status")
    _run(capsys, caplog, "events", "list")
    code, _ = _run(
        capsys, caplog, "subscriptions", "rotate", sub_id, "--secret-file", str(secret_file)
    )
    assert code == 0
    # A wrong key read from a file is refused by the API without the key being echoed.
    key_file.write_text("sk-ant-CANARYKEY0123456789-wrong")
    code, seen = _run(capsys, caplog, *api, "call", "models", "list")
    assert code == 1 and ("401" in seen or "authentication" in seen)


def test_receive_takes_its_secret_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_WEBHOOK_SECRET"}
    for extra, variables in (
        (["--secret-file", str(secret_file)], env),
        ([], env | {"CONNECTOR_WEBHOOK_SECRET": SECRET}),
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "connector", "receive", "--port", str(port), *extra],
            env=variables,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            assert "listening on" in line, line
            with _connect(port) as sock:
                sock.sendall(
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nwebhook-id: a\r\n"
                    b"webhook-timestamp: 1\r\nwebhook-signature: v1,AAAA\r\n\r\n{}"
                )
                assert b" 40" in sock.recv(4096)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                out, err = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
        for canary in CANARIES:
            assert canary not in out + err + line
    missing = subprocess.run(
        [sys.executable, "-m", "connector", "receive", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2 and "--secret-file" in missing.stderr
