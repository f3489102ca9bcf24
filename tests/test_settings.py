"""Settings as a plain typed object (issue 13 item 9): built without argparse, flags over the
environment over defaults, secrets out of the repr, base URLs checked up front."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.cli.exits import exit_code
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    InputError,
    InputProblem,
    StoreError,
    TransportError,
)
from connector.sandbox import SandboxServer
from connector.settings import Settings, bundled_definition_path, check_base_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


def test_from_env_reads_the_environment_and_explicit_values_win(tmp_path: Path) -> None:
    env = {
        "CONNECTOR_DEFINITION": str(tmp_path / "d.json"),
        "CONNECTOR_HEADERS": "anthropic-beta: files-api-2025-04-14",
        "CONNECTOR_STATE": str(tmp_path / "s.db"),
        "CONNECTOR_DEBUG": "1",
    }
    settings = Settings.from_env(env)
    assert settings.definition == tmp_path / "d.json"
    assert settings.headers == {"anthropic-beta": "files-api-2025-04-14"}
    assert settings.state == str(tmp_path / "s.db") and settings.debug
    explicit = Settings.from_env(env, definition="x.json", state="other.db", base_url="http://h:1/")
    assert explicit.definition == Path("x.json") and explicit.state == "other.db"
    assert explicit.base_url == "http://h:1"
    assert Settings.from_env({}).definition_path == bundled_definition_path()


def test_the_repr_shows_no_secret() -> None:
    settings = Settings.from_env({}, api_key="sk-ant-REPRCANARY", headers=["x-token: HDRCANARY"])
    assert "REPRCANARY" not in repr(settings) and "HDRCANARY" not in repr(settings)


def test_a_connector_from_settings_calls_the_api(server: SandboxServer) -> None:
    with Settings.from_env({}, base_url=server.base_url, api_key="k").connector() as api:
        assert api.call("models", "list")


def test_base_urls_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(ConfigurationError, match="no scheme"):
        check_base_url("127.0.0.1:8080", "--base-url")
    with pytest.raises(ConfigurationError, match="http or https"):
        check_base_url("file:///etc", "--base-url")
    settings = Settings.from_env({})
    with pytest.raises(ConfigurationError, match="drop the trailing /v1"):
        settings.checked_definition({"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080/v1"})
    with pytest.raises(ConfigurationError, match="ANTHROPIC_BASE_URL"):
        settings.checked_definition({"ANTHROPIC_BASE_URL": "127.0.0.1:8080"})
    settings.checked_definition({"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080/"})  # fine


def test_one_exit_code_table() -> None:
    assert exit_code(StoreError("corrupt", location="x.db")) == 2
    assert exit_code(ConfigurationError("x")) == 2
    assert exit_code(InputError([InputProblem("p", "bad")])) == 2
    assert exit_code(AuthenticationError("no", status=401, error_type="authentication_error")) == 1
    assert exit_code(TransportError("down")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(KeyError("bug")) == 1


def test_an_unreadable_store_is_exit_2_from_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.cli import main

    garbage = tmp_path / "state.db"
    garbage.write_bytes(b"\x13not a database" * 400)
    for argv in (["status"], ["subscriptions", "list"], ["events", "list"]):
        assert main(["--state", str(garbage), *argv]) == 2, argv
        assert "cannot open the state store" in capsys.readouterr().err
