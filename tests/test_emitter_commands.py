"""The emitter's commands through ``connector.cli.main``: subscriptions, emit, events."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emitter_support import DEFINITION, Delivery, recording_receiver

from connector.cli import main
from connector.client import Connector
from connector.emitter.commands import parse_moment, recording_writes
from connector.emitter.signing import generate_secret
from connector.emitter.store import event_id
from connector.errors import InputError
from connector.sandbox import SandboxServer


def run(capsys: pytest.CaptureFixture[str], state: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--state", str(state), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_subscriptions_add_prints_a_generated_secret_once(
    capsys: pytest.CaptureFixture[str], state: Path
) -> None:
    code, out, err = run(
        capsys, state, "subscriptions", "add", "http://127.0.0.1:9/hooks", "--allow-private"
    )
    assert code == 0 and "not be shown again" in err
    added = json.loads(out)
    secret = str(added["secret"])
    assert secret.startswith("whsec_") and added["events"] == ["*"]
    code, out, _ = run(capsys, state, "subscriptions", "list")
    assert code == 0 and secret not in out and "whsec_" not in out
    (listed,) = lines(out)
    assert listed["id"] == added["id"] and listed["secrets"] == 1
    code, out, _ = run(capsys, state, "subscriptions", "rotate", str(added["id"]))
    rotated = json.loads(out)
    assert code == 0 and str(rotated["secret"]).startswith("whsec_") and rotated["secret"] != secret
    code, out, _ = run(capsys, state, "subscriptions", "list")
    assert "whsec_" not in out and lines(out)[0]["secrets"] == 2
    assert run(capsys, state, "subscriptions", "remove", str(added["id"]))[0] == 0
    assert run(capsys, state, "subscriptions", "list")[1] == ""
    code, _, err = run(capsys, state, "subscriptions", "remove", str(added["id"]))
    assert code == 2 and "no subscription" in err


def test_subscriptions_add_with_a_given_secret_never_echoes_it(
    capsys: pytest.CaptureFixture[str], state: Path
) -> None:
    secret = generate_secret()
    code, out, err = run(
        capsys,
        state,
        "subscriptions",
        "add",
        "http://127.0.0.1:9/",
        "--secret",
        secret,
        "--events",
        "files.*,models.created",
        "--allow-private",
    )
    assert code == 0 and secret not in out + err
    assert json.loads(out)["events"] == ["files.*", "models.created"]


@pytest.mark.parametrize(
    "argv",
    [
        ["http://127.0.0.1:9/"],  # private without --allow-private
        ["https://example.com/", "--secret", "whsec_short"],
        ["https://example.com/", "--events", "not valid!"],
        ["ftp://example.com/", "--allow-private"],
    ],
)
def test_subscriptions_add_refuses_bad_input_with_exit_2(
    capsys: pytest.CaptureFixture[str], state: Path, argv: list[str]
) -> None:
    code, out, err = run(capsys, state, "subscriptions", "add", *argv)
    assert code == 2 and out == "" and err.startswith("connector: ")
    assert "whsec_short" not in err


def test_subscriptions_disable_and_enable(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    _, out, _ = run(capsys, state, "subscriptions", "add", "http://127.0.0.1:9/", "--allow-private")
    sub = json.loads(out)["id"]
    code, out, _ = run(capsys, state, "subscriptions", "disable", sub, "--reason", "maintenance")
    assert code == 0 and json.loads(out)["disabled_reason"] == "maintenance"
    code, out, _ = run(capsys, state, "subscriptions", "enable", sub)
    assert code == 0 and json.loads(out)["state"] == "active"


@pytest.fixture
def servers() -> Iterator[tuple[SandboxServer, SandboxServer, list[Delivery], str]]:
    secret = generate_secret()
    received: list[Delivery] = []
    with (
        SandboxServer(batch_seconds=0.2) as sandbox,
        SandboxServer(app=recording_receiver({"r": secret}, received)) as receiver,
    ):
        yield sandbox, receiver, received, secret


def test_emit_once_delivers_then_events_list_and_replay(
    capsys: pytest.CaptureFixture[str],
    state: Path,
    tmp_path: Path,
    servers: tuple[SandboxServer, SandboxServer, list[Delivery], str],
) -> None:
    sandbox, receiver, received, secret = servers
    api_args = ["--base-url", sandbox.base_url, "--api-key", "k"]
    url = f"{receiver.base_url}/r"
    assert (
        run(capsys, state, "subscriptions", "add", url, "--secret", secret, "--allow-private")[0]
        == 0
    )
    code, out, _ = run(capsys, state, *api_args, "emit", "--once", "--allow-private")
    assert code == 0 and json.loads(out)["events"] == 0
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api:
        file_id = api.call("files", "upload", {"file": str(note)}, raw=True)["id"]
    code, out, _ = run(capsys, state, *api_args, "emit", "--once", "--allow-private")
    summary = json.loads(out)
    assert code == 0 and summary["events"] == 1 and summary["delivered"] == 1
    wanted = event_id("files.created", file_id, "created")
    assert [d.webhook_id for d in received] == [wanted]

    code, out, _ = run(capsys, state, "events", "list")
    (event,) = lines(out)
    assert code == 0 and event["id"] == wanted and event["type"] == "files.created"
    assert event["body"] == json.loads(received[0].body)
    assert [d["status"] for d in event["deliveries"]] == ["delivered"]  # type: ignore[index]
    assert run(capsys, state, "events", "list", "--status", "failed")[1] == ""

    code, out, _ = run(capsys, state, "events", "replay", wanted)
    assert code == 0 and json.loads(out) == {"event": wanted, "queued": 1}
    code, out, _ = run(capsys, state, *api_args, "emit", "--once", "--allow-private")
    assert code == 0 and json.loads(out)["delivered"] == 1
    assert [d.webhook_id for d in received] == [wanted, wanted]
    assert received[0].body == received[1].body

    code, out, _ = run(capsys, state, "events", "replay", "--failed", "--since", "1h")
    assert code == 0 and json.loads(out)["queued"] == 0
    assert run(capsys, state, "events", "replay", "evt_nope")[0] == 2


def test_events_replay_needs_an_event_or_failed(
    capsys: pytest.CaptureFixture[str], state: Path
) -> None:
    assert run(capsys, state, "events", "replay")[0] == 2
    assert run(capsys, state, "events", "replay", "evt_x", "--failed")[0] == 2
    assert run(capsys, state, "events", "replay", "--failed", "--since", "yesterday")[0] == 2


def test_emit_once_exits_1_when_the_api_is_unreachable(
    capsys: pytest.CaptureFixture[str], state: Path
) -> None:
    with SandboxServer() as gone:
        base = gone.base_url
    code, out, _ = run(capsys, state, "--base-url", base, "--api-key", "k", "emit", "--once")
    report = json.loads(out)
    assert code == 1 and all("error" in r for r in report["resources"].values())


def test_emit_sweep_every_must_be_a_whole_number(state: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--state", str(state), "emit", "--once", "--sweep-every", "0"])
    assert caught.value.code == 2


def test_emit_refuses_an_unknown_resource(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    code, _, err = run(
        capsys,
        state,
        "--base-url",
        "http://127.0.0.1:9",
        "--api-key",
        "k",
        "emit",
        "--once",
        "--resource",
        "messages",
    )
    assert code == 2 and "messages" in err


def test_emit_stops_cleanly_on_sigterm(
    state: Path, servers: tuple[SandboxServer, SandboxServer, list[Delivery], str]
) -> None:
    sandbox = servers[0]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "--base-url",
            sandbox.base_url,
            "--api-key",
            "k",
            "--state",
            str(state),
            "emit",
            "--interval",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "polling every" in process.stderr.readline()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert "SIGTERM" in err and "stopped" in err


def test_parse_moment_reads_times_epochs_and_durations() -> None:
    now = 1_700_000_000.0
    assert parse_moment("2h", now) == now - 7200
    assert parse_moment("7d", now) == now - 7 * 86400
    assert parse_moment("1699990000", now) == 1_699_990_000
    assert parse_moment("2023-11-14T22:13:20Z", now) == now
    with pytest.raises(InputError):
        parse_moment("nan", now)
    with pytest.raises(InputError) as caught:
        parse_moment("soon", now, option="--until")
    assert caught.value.problems[0].parameter == "--until"


def test_recording_writes_only_where_a_state_store_exists(tmp_path: Path) -> None:
    import argparse

    missing = argparse.Namespace(state=str(tmp_path / "none.db"))
    with recording_writes(missing, DEFINITION) as recorder:
        assert recorder is None
    assert not (tmp_path / "none.db").exists()
    from connector.emitter.store_sqlite import SQLiteStore

    SQLiteStore(tmp_path / "s.db").close()
    present = argparse.Namespace(state=str(tmp_path / "s.db"))
    with recording_writes(present, DEFINITION) as recorder:
        assert recorder is not None
        recorder("messages", "create", {"id": "msg_1", "content": [{"text": "hi"}]})
        recorder("messages", "count_tokens", {"input_tokens": 3})
        assert recorder.recorded == 1


@pytest.mark.parametrize(
    "argv", [["events", "list"], ["subscriptions", "list"], ["events", "replay", "--failed"]]
)
def test_reading_commands_do_not_create_a_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    """Listing or replaying where no store exists says so (exit 2) and leaves no file behind."""
    location = tmp_path / "none.db"
    assert main(["--state", str(location), *argv]) == 2
    assert "no emitter state" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_subscriptions_add_since_queues_matching_history(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A subscriber added later can catch up: --since queues the stored events it would have had."""
    from connector.emitter.guard import Guard
    from connector.emitter.store import build_event
    from connector.emitter.store_sqlite import SQLiteStore

    location = tmp_path / "history.db"
    now = time.time()
    with SQLiteStore(location, guard=Guard(allow_private=True)) as store:
        store.add_subscription("https://first.example.com/in")
        events = [
            build_event(
                kind,
                resource=kind.split(".")[0],
                record_id=f"r{i}",
                marker="m",
                data={"id": f"r{i}"},
                timestamp=at,
                path=f"/webhooks/claude-api/{kind}",
                created_at=at,
            )
            for i, (kind, at) in enumerate(
                [
                    ("files.created", now - 7200),
                    ("files.created", now - 60),
                    ("models.created", now - 60),
                ]
            )
        ]
        store.commit_poll("files", {}, [], events, baseline=True, now=now)
    code = main(
        [
            "--state",
            str(location),
            "subscriptions",
            "add",
            "https://late.example.com/in",
            "--events",
            "files.*",
            "--since",
            "1h",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    added = json.loads(out)
    assert added["queued_from_history"] == 1
    with SQLiteStore(location, guard=Guard(allow_private=True)) as store:
        queued = store.list_deliveries(subscription_id=added["id"], limit=10)
    assert [d.status for d in queued] == ["pending"]


def test_events_prune_forgets_settled_old_events_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from connector.emitter.guard import Guard
    from connector.emitter.store import Attempt, build_event
    from connector.emitter.store_sqlite import SQLiteStore

    location = tmp_path / "prune.db"
    now = time.time()
    old = now - 40 * 86400

    def event(n: int, at: float) -> object:
        return build_event(
            "files.created",
            resource="files",
            record_id=f"f{n}",
            marker="created",
            data={"id": f"f{n}"},
            timestamp=at,
            path="/webhooks/claude-api/files.created",
            created_at=at,
        )

    with SQLiteStore(location, guard=Guard(allow_private=True), clock=lambda: now) as store:
        store.add_subscription("https://hooks.example.com/in")
        store.commit_poll(
            "files", {}, [], [event(1, old), event(2, old), event(3, now)], baseline=True, now=old
        )
        (lease,) = store.lease_due(now, 1, "w", 30)  # the oldest: delivered
        store.complete(lease, Attempt(now, 200, 1.0, None, b""))
    code = main(["--state", str(location), "events", "prune"])
    assert code == 0 and json.loads(capsys.readouterr().out)["pruned"] == 1
    with SQLiteStore(location, guard=Guard(allow_private=True)) as store:
        left = {info.event.id for info in store.list_events(limit=10)}
        assert len(left) == 2  # the old pending one and the new one stay
        assert store.count_deliveries("delivered") == 0 and store.count_deliveries("pending") == 2
