"""Signing secrets are sealed at rest: the state files never hold them in the clear."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.emitter.guard import Guard
from connector.emitter.sealing import KEY_VARIABLE, SecretBox
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import StoreError

URL = "https://hooks.example.com/in"


def _state_bytes(path: Path) -> bytes:
    """Everything SQLite wrote: the database, its WAL and shared memory."""
    return b"".join(
        p.read_bytes() for p in path.parent.glob(path.name + "*") if not p.name.endswith(".key")
    )


def test_store_never_writes_a_secret_in_the_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    path = tmp_path / "state.db"
    with SQLiteStore(path, guard=Guard()) as store:
        sub = store.add_subscription(URL)
        first = sub.secrets[0]
        second = store.rotate_secret(sub.id)
        assert store.get_subscription(sub.id).secrets == (second, first)
        data = _state_bytes(path)
    for secret in (first, second):
        assert secret.encode() not in data
        assert secret.removeprefix("whsec_").encode() not in data


def test_key_file_is_private_and_reopens_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    path = tmp_path / "state.db"
    with SQLiteStore(path, guard=Guard()) as store:
        secret = store.add_subscription(URL).secrets[0]
    key_file = tmp_path / "state.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with SQLiteStore(path, guard=Guard()) as store:
        (sub,) = store.list_subscriptions()
        assert sub.secrets == (secret,)


def test_environment_key_wins_and_a_wrong_key_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    with SQLiteStore(path, guard=Guard()) as store:
        store.add_subscription(URL)
    assert not (tmp_path / "state.db.key").exists()
    monkeypatch.setenv(KEY_VARIABLE, Fernet.generate_key().decode())
    with SQLiteStore(path, guard=Guard()) as store:
        (sub,) = store.list_subscriptions()
    # Reading does not fail: the subscription shows as broken, saying why, with no secret.
    assert sub.state == "broken" and sub.secrets == ()
    assert sub.disabled_reason is not None and KEY_VARIABLE in sub.disabled_reason


def test_a_malformed_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "not-a-key")
    with pytest.raises(StoreError, match=KEY_VARIABLE):
        SecretBox.for_store("anything.db")


def test_secret_box_repr_hides_the_key() -> None:
    key = Fernet.generate_key()
    assert key.decode() not in repr(SecretBox(key))
