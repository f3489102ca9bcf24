"""Building requests, with no I/O: path, query, headers, body and multipart from a definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector import ConfigurationError, InputError, load_definition
from connector.requests import UNSET, build_request, resolve_service

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
SEED = load_definition(ROOT / "definitions" / "seed" / "claude-api.seed.json")
KEY = "sk-ant-test-0123456789"
SERVICE = resolve_service(DEFINITION, base_url="http://api.test", api_key=KEY, env={})


def build(
    handle: str, operation: str, params: dict[str, Any] | None = None, **kw: Any
) -> httpx.Request:
    return build_request(DEFINITION, SERVICE, handle, operation, params, **kw)


@pytest.mark.parametrize(
    ("handle", "operation", "params", "method", "path"),
    [
        (
            "messages",
            "create",
            {"model": "m", "max_tokens": 1, "content": "c"},
            "POST",
            "/v1/messages",
        ),
        (
            "messages",
            "count_tokens",
            {"model": "m", "content": "c"},
            "POST",
            "/v1/messages/count_tokens",
        ),
        ("message_batches", "list", {}, "GET", "/v1/messages/batches"),
        ("message_batches", "read", {"batch_id": "b1"}, "GET", "/v1/messages/batches/b1"),
        (
            "message_batches",
            "create",
            {"custom_id": "a", "model": "m", "max_tokens": 1, "content": "c"},
            "POST",
            "/v1/messages/batches",
        ),
        ("message_batches", "delete", {"batch_id": "b1"}, "POST", "/v1/messages/batches/b1/cancel"),
        ("message_batches", "cancel", {"batch_id": "b1"}, "POST", "/v1/messages/batches/b1/cancel"),
        (
            "message_batches",
            "results",
            {"batch_id": "b1"},
            "GET",
            "/v1/messages/batches/b1/results",
        ),
        ("message_batches", "remove", {"batch_id": "b1"}, "DELETE", "/v1/messages/batches/b1"),
        ("models", "list", {}, "GET", "/v1/models"),
        ("models", "read", {"model_id": "claude-x"}, "GET", "/v1/models/claude-x"),
        ("files", "list", {}, "GET", "/v1/files"),
        ("files", "read", {"file_id": "f1"}, "GET", "/v1/files/f1"),
        ("files", "delete", {"file_id": "f1"}, "DELETE", "/v1/files/f1"),
        ("files", "download", {"file_id": "f1"}, "GET", "/v1/files/f1/content"),
        ("skills", "list", {}, "GET", "/v1/skills"),
        ("skills", "read", {"skill_id": "s1"}, "GET", "/v1/skills/s1"),
        ("skills", "delete", {"skill_id": "s1"}, "DELETE", "/v1/skills/s1"),
    ],
)
def test_build_request_method_and_path(
    handle: str, operation: str, params: dict[str, Any], method: str, path: str
) -> None:
    request = build(handle, operation, params)
    assert request.method == method
    assert request.url.raw_path.split(b"?")[0] == path.encode()
    assert request.extensions["connector"] == {"resource": handle, "operation": operation}


def test_build_request_headers_service_resource_operation_and_override() -> None:
    """Service headers, then the resource's, then the operation's; explicit headers win."""
    request = build(
        "files", "download", {"file_id": "f1"}, headers={"Anthropic-Version": "2026-10-21"}
    )
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-beta"] == "files-api-2025-04-14"
    assert request.headers["accept"] == "application/binary"
    assert request.headers["anthropic-version"] == "2026-10-21"


def test_build_request_json_body_has_typed_values_and_content_type() -> None:
    request = build(
        "messages", "create", {"model": "m", "max_tokens": "100", "content": 'a "quote"\n'}
    )
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": 'a "quote"\n'}],
    }


def test_build_request_optional_query_params_are_left_out() -> None:
    assert build("message_batches", "list").url.query == b""
    request = build("message_batches", "list", {"limit": "5"})
    assert request.url.params == httpx.QueryParams({"limit": "5"})


def test_build_request_query_override_is_added() -> None:
    request = build("message_batches", "list", {"limit": 2}, query={"after_id": "b9", "skip": None})
    assert dict(request.url.params) == {"limit": "2", "after_id": "b9"}


def test_build_request_body_override_replaces_the_template() -> None:
    """A whole body replaces bodyTemplate; its placeholders are then not required."""
    body = {"requests": [{"custom_id": f"r{i}", "params": {}} for i in range(3)]}
    request = build("message_batches", "create", body=body)
    assert json.loads(request.content) == body
    assert request.headers["content-type"] == "application/json"


def test_build_request_bytes_body_is_sent_as_is() -> None:
    request = build("message_batches", "create", body=b'{"requests": []}')
    assert request.content == b'{"requests": []}'


def test_build_request_unset_body_renders_the_template() -> None:
    with pytest.raises(InputError) as caught:
        build("message_batches", "create", body=UNSET)
    assert {p.parameter for p in caught.value.problems} == {
        "custom_id",
        "model",
        "max_tokens",
        "content",
    }


def test_build_request_header_with_line_break_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        build("models", "list", headers={"x-extra": "a\r\nx-injected: 1"})
    assert caught.value.problems[0].parameter == "header x-extra"


def test_build_request_path_alias_binds() -> None:
    request = build("message_batches", "results", {"message_batch_id": "b7"})
    assert request.url.path == "/v1/messages/batches/b7/results"


def test_build_request_unknown_resource_and_operation_are_input_errors() -> None:
    with pytest.raises(InputError):
        build("batches", "list")
    with pytest.raises(InputError):
        build("models", "create")


def test_build_request_without_api_key_names_the_sandbox() -> None:
    """A call without a key fails with a clear message that names `connector sandbox`."""
    service = resolve_service(DEFINITION, base_url="http://api.test", env={})
    with pytest.raises(ConfigurationError) as caught:
        build_request(DEFINITION, service, "models", "list")
    assert "connector sandbox" in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)


def test_build_request_without_api_key_passes_with_an_explicit_key_header() -> None:
    service = resolve_service(DEFINITION, base_url="http://api.test", env={})
    request = build_request(DEFINITION, service, "models", "list", headers={"x-api-key": "k"})
    assert request.headers["x-api-key"] == "k"


def test_resolve_service_reads_the_environment() -> None:
    env = {"ANTHROPIC_BASE_URL": "http://env.test/", "ANTHROPIC_API_KEY": "sk-env"}
    service = resolve_service(DEFINITION, env=env)
    assert service.base_url == "http://env.test/v1"
    assert service.headers["x-api-key"] == "sk-env"


def test_resolve_service_explicit_settings_win_over_the_environment() -> None:
    env = {"ANTHROPIC_BASE_URL": "http://env.test", "ANTHROPIC_API_KEY": "sk-env"}
    service = resolve_service(DEFINITION, base_url="http://arg.test", api_key="sk-arg", env=env)
    assert service.base_url == "http://arg.test/v1"
    assert service.headers["x-api-key"] == "sk-arg"


def test_resolve_service_default_base_url_is_the_real_api() -> None:
    assert resolve_service(DEFINITION, env={}).base_url == "https://api.anthropic.com/v1"


def test_resolve_service_repr_hides_the_key() -> None:
    assert KEY not in repr(SERVICE)


def test_build_request_bare_seed_needs_a_base_url() -> None:
    service = resolve_service(SEED, api_key=KEY, env={})
    with pytest.raises(ConfigurationError) as caught:
        build_request(SEED, service, "models", "list")
    assert caught.value.setting == "--base-url"


def test_build_request_bare_seed_with_base_url_sends_the_key() -> None:
    service = resolve_service(SEED, base_url="http://seed.test/v1/", api_key=KEY, env={})
    request = build_request(SEED, service, "message_batches", "read", {"batch_id": "b1"})
    assert str(request.url) == "http://seed.test/v1/messages/batches/b1"
    assert request.headers["x-api-key"] == KEY


def test_build_request_multipart_file_upload(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello\x00world")
    request = build("files", "upload", {"file": str(path)})
    request.read()
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="notes.txt"' in request.content
    assert b"Content-Type: text/plain" in request.content
    assert b"hello\x00world" in request.content


def test_build_request_multipart_skill_directory(tmp_path: Path) -> None:
    """Every file below the directory is a `files` part named <directory>/<relative path>."""
    skill = tmp_path / "my-skill"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: my-skill\ndescription: d\n---\n")
    (skill / "scripts" / "run.py").write_text("print(1)\n")
    request = build("skills", "create", {"directory": str(skill), "display_title": "Mine"})
    request.read()
    assert b'name="files"; filename="my-skill/SKILL.md"' in request.content
    assert b'name="files"; filename="my-skill/scripts/run.py"' in request.content
    assert b'name="display_title"\r\n\r\nMine' in request.content


def test_build_request_multipart_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        build("files", "upload", {"file": str(tmp_path / "absent.txt")})
    assert caught.value.problems[0].parameter == "file"


def test_build_request_keeps_query_parameter_names_as_written() -> None:
    """Query names are case-sensitive (`pageToken` is not `pagetoken`); header names are not."""
    definition = load_definition(
        [
            {
                "handle": "h",
                "endpoint": "/h",
                "operations": {
                    "list": {
                        "method": "GET",
                        "queryParams": {
                            "value": {"pageToken": "{{t}}"},
                            "placeholders": [{"name": "t"}],
                        },
                        "headers": {"X-Trace": "abc"},
                    }
                },
            }
        ]
    )
    request = build_request(
        definition, resolve_service(definition, base_url="http://x"), "h", "list", {"t": "p1"}
    )
    assert request.url.params["pageToken"] == "p1"
    assert "pagetoken" not in request.url.params
    assert request.headers["x-trace"] == "abc"


def _basic_definition() -> Any:
    return load_definition(
        {
            "service": {
                "baseURL": "http://x",
                "auth": {
                    "method": "basic",
                    "params": {"username": "{{ env.U }}", "password": "{{ env.P }}"},
                },
                "variables": {"user": "U", "password": "P"},
            },
            "resources": [
                {"handle": "h", "endpoint": "/h", "operations": {"list": {"method": "GET"}}}
            ],
        }
    )


def test_build_request_basic_auth_from_the_environment() -> None:
    definition = _basic_definition()
    service = resolve_service(definition, env={"U": "alice", "P": "s3cret"})
    request = build_request(definition, service, "h", "list")
    assert request.headers["authorization"] == "Basic YWxpY2U6czNjcmV0"
    assert "s3cret" not in repr(service) and "YWxp" not in repr(service)


def test_build_request_basic_auth_missing_user_is_a_configuration_error() -> None:
    definition = _basic_definition()
    with pytest.raises(ConfigurationError):
        build_request(definition, resolve_service(definition, env={}), "h", "list")


def test_resolve_service_extra_headers_win_and_can_carry_the_key() -> None:
    definition = load_definition(Path(__file__).parent.parent / "definitions" / "claude-api.json")
    service = resolve_service(
        definition,
        base_url="http://x",
        env={},
        headers={"Anthropic-Version": "2026-10-21", "X-Api-Key": "from-header"},
    )
    request = build_request(definition, service, "models", "list")
    assert request.headers["anthropic-version"] == "2026-10-21"
    assert request.headers["x-api-key"] == "from-header"


@pytest.mark.parametrize("name", ["", "bad name", "x:y", "x\r\nInjected"])
def test_resolve_service_refuses_malformed_extra_headers(name: str) -> None:
    definition = load_definition(Path(__file__).parent.parent / "definitions" / "claude-api.json")
    with pytest.raises(ConfigurationError):
        resolve_service(definition, base_url="http://x", env={}, headers={name: "v"})
