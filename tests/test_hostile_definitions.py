"""Hostile definitions and inputs (issue 8, items 5, 8, 10, 15, 16, 17): each is refused at load
with its JSON location, or at input with a typed error, never sent and never a traceback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from connector import ConfigurationError, DefinitionError, InputError, load_definition
from connector.cli import main
from connector.requests import build_request, origin_problem, resolve_service
from connector.sandbox.app import create_app
from connector.templates import compile_template

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "definitions" / "claude-api.json"


def _document(**resource: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "handle": "h",
        "endpoint": "/things",
        "operations": {"list": {"method": "GET"}},
    }
    base.update(resource)
    return {"service": {"baseURL": "http://127.0.0.1:9/v1"}, "resources": [base]}


def _locations(source: Any) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(source)
    return [problem.location for problem in caught.value.problems]


# --- item 5: a request never leaves the base URL ----------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "@127.0.0.2:31081/v1/models",
        "{{ host }}",
        "http://127.0.0.2/x",
        ":8081/x",
        "things",
        "/v1/../admin",
    ],
)
def test_endpoint_that_could_leave_the_base_url_is_refused_at_load(endpoint: str) -> None:
    document = _document(endpoint={"value": endpoint, "placeholders": [{"name": "host"}]})
    if "{{" not in endpoint:
        document["resources"][0]["endpoint"] = endpoint
    assert "resources[0].endpoint.value" in _locations(document)


@pytest.mark.parametrize("path", ["x", "{{ host }}/y", "@127.0.0.2/x", ":8081", "?a=1"])
def test_operation_path_must_start_with_a_slash(path: str) -> None:
    operation = {"method": "GET", "path": {"value": path, "placeholders": [{"name": "host"}]}}
    if "{{" not in path:
        operation["path"] = path
    document = _document(operations={"read": operation})
    assert "resources[0].operations.read.path.value" in _locations(document)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9/v1/things", True),
        ("http://127.0.0.1:9/v1", True),
        ("http://127.0.0.1:9/v1/things/a%2Fb?x=1", True),
        ("http://127.0.0.1:9/v1@127.0.0.2:31081/v1/models", False),
        ("http://127.0.0.1:9@127.0.0.2:31081/v1/models", False),
        ("https://127.0.0.1:9/v1/things", False),
        ("http://127.0.0.1:8081/v1/things", False),
        ("http://127.0.0.2:9/v1/things", False),
        ("http://127.0.0.1:9/v10/things", False),
        ("http://127.0.0.1:9/other", False),
        ("http://127.0.0.1:9/v1/../admin", False),
        ("http://127.0.0.1:9/v1/./things", True),  # normalised by httpx: /v1/things
    ],
)
def test_origin_check(url: str, allowed: bool) -> None:
    assert (origin_problem("http://127.0.0.1:9/v1", url) is None) is allowed


def test_a_request_whose_url_would_leave_the_origin_is_never_built() -> None:
    """Defence in depth: even an endpoint that got past the loader is stopped before sending."""
    definition = load_definition(_document())
    resource = definition.resource("h")
    # Compiled objects are frozen: stand in a tampered copy of the operation's compiled plan.
    operation = resource.operation("list")
    plan = replace(
        operation.compiled.plan, endpoint=compile_template("@127.0.0.2:31081/v1/models", "path")
    )
    operation._compiled = replace(operation.compiled, plan=plan)
    service = resolve_service(definition, api_key="sk-canary", env={})
    with pytest.raises(InputError, match="leave the base URL"):
        build_request(definition, service, "h", "list")


# --- item 8: an empty path value is an input error --------------------------------------------


def test_empty_required_path_value_is_an_input_error() -> None:
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://127.0.0.1:9", api_key="k", env={})
    with pytest.raises(InputError) as caught:
        build_request(definition, service, "files", "delete", {"file_id": ""})
    assert [p.parameter for p in caught.value.problems] == ["file_id"]
    assert "empty" in str(caught.value)


def test_cli_delete_with_an_empty_id_exits_2_without_sending(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    code = main(["call", "files", "delete", "-p", "file_id="])
    err = capsys.readouterr().err
    assert code == 2 and "file_id" in err and "empty" in err


# --- item 10: service templates read only declared variables ----------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ env.AWS_SECRET_ACCESS_KEY }}",
        "{{ env['AWS_SECRET_ACCESS_KEY'] }}",
        "{{ env|list|join(',') }}",
        "{{ env['AWS_' ~ 'SECRET'] }}",
        "{{ env.get('AWS_SECRET_ACCESS_KEY') }}",
    ],
)
def test_service_template_reading_an_undeclared_variable_is_refused(template: str) -> None:
    document = _document()
    document["service"]["headers"] = {"x-leak": template}
    document["service"]["variables"] = {"apiKey": "ANTHROPIC_API_KEY"}
    assert "service.headers.x-leak" in _locations(document)


def test_declared_variables_are_read_and_listed() -> None:
    document = _document()
    document["service"].update(
        baseURL="{{ env.THINGS_URL or 'http://127.0.0.1:9' }}/v1",
        headers={"x-tenant": "{{ env.THINGS_TENANT }}"},
        variables={"baseURL": "THINGS_URL", "tenant": "THINGS_TENANT"},
    )
    definition = load_definition(document)
    assert definition.environment_variables == ["THINGS_TENANT", "THINGS_URL"]
    env = {"THINGS_TENANT": "t1", "AWS_SECRET_ACCESS_KEY": "canary"}
    service = resolve_service(definition, env=env)
    assert service.headers["x-tenant"] == "t1"
    assert "canary" not in repr(build_request(definition, service, "h", "list").headers)


def test_a_misspelt_role_is_refused_with_the_nearest_name() -> None:
    document = _document()
    document["service"]["variables"] = {"apikey": "K"}
    with pytest.raises(DefinitionError, match="did you mean 'apiKey'"):
        load_definition(document)


def test_validate_lists_the_variables_a_definition_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(SHIPPED)]) == 0
    err = capsys.readouterr().err
    assert "environment variables read: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL" in err
    assert main(["validate", str(ROOT / "definitions" / "seed" / "claude-api.seed.json")]) == 0
    assert "environment variables read: none" in capsys.readouterr().err


# --- item 15: deep, huge and non-ASCII input gives a typed error --------------------------------


def test_definition_nested_a_thousand_levels_is_refused_with_its_location(tmp_path: Path) -> None:
    deep: Any = "leaf"
    for _ in range(1000):
        deep = {"x": deep}
    document = _document(meta={"deep": deep})
    path = tmp_path / "deep.json"
    text = json.dumps(_document(meta={"deep": "DEEP"}))
    path.write_text(text.replace('"DEEP"', '{"x": ' * 1000 + '"leaf"' + "}" * 1000))
    for source in (path, document, "[" * 100_000 + "]" * 100_000):
        locations = _locations(source)
        assert len(locations) == 1
    # The parser itself cannot go that deep: the location is the text's line and column.
    (location,) = _locations(path)
    column = int(location.removeprefix("line 1 column "))
    before = path.read_text()[: column - 1]
    assert path.read_text()[column - 1] == "{"
    assert before.count("{") + before.count("[") - before.count("}") - before.count("]") == 64


def test_deep_body_given_whole_is_an_input_error() -> None:
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://127.0.0.1:9", api_key="k", env={})
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(InputError, match="nested"):
        build_request(definition, service, "message_batches", "create", body={"requests": deep})


def test_cli_body_file_with_deep_json_or_nan_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.delenv("CONNECTOR_DEFINITION", raising=False)
    for text, word in (("[" * 100_000 + "]" * 100_000, "nested"), ('{"a": NaN}', "NaN")):
        body = tmp_path / "body.json"
        body.write_text(text)
        code = main(["call", "message_batches", "create", "--body", str(body)])
        err = capsys.readouterr().err
        assert code == 2 and word in err and "Traceback" not in err


def test_ten_megabyte_path_value_is_an_input_error() -> None:
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://127.0.0.1:9", api_key="k", env={})
    with pytest.raises(InputError, match="URL"):
        build_request(definition, service, "models", "read", {"model_id": "m" * 10_000_000})


@pytest.mark.parametrize(
    "headers", [{"é-name": "v"}, {"x-a": "é"}, {"x-a": "a\r\nx-injected: 1"}, {"x a": "v"}]
)
def test_bad_header_given_at_call_time_is_an_input_error(headers: dict[str, str]) -> None:
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://127.0.0.1:9", api_key="k", env={})
    with pytest.raises(InputError, match="header"):
        build_request(definition, service, "models", "list", headers=headers)


def test_bad_header_in_the_configuration_is_a_configuration_error() -> None:
    definition = load_definition(SHIPPED)
    with pytest.raises(ConfigurationError):
        resolve_service(definition, headers={"x-a\r\nb": "v"}, env={})


# --- item 16: definitions that load but can never work ------------------------------------------


@pytest.mark.parametrize(
    ("headers", "location"),
    [
        ({"x-a\r\nx-b": "v"}, "resources[0].operations.list.headers.x-a\r\nx-b"),
        ({"x-a\x00": "v"}, "resources[0].operations.list.headers.x-a\x00"),
        ({"é": "v"}, "resources[0].operations.list.headers.é"),
        ({"x-a": "v\r\nx-injected: 1"}, "resources[0].operations.list.headers.value.x-a"),
        ({"x-a": "v\x00"}, "resources[0].operations.list.headers.value.x-a"),
        ({"x-a": "v\n"}, "resources[0].operations.list.headers.value.x-a"),
    ],
)
def test_literal_header_with_line_breaks_or_nul_is_refused(
    headers: dict[str, str], location: str
) -> None:
    document = _document(operations={"list": {"method": "GET", "headers": headers}})
    assert _locations(document) == [location]


def test_service_header_with_a_line_break_is_refused() -> None:
    document = _document()
    document["service"]["headers"] = {"x-a": "1\r\nx-injected: 1"}
    assert _locations(document) == ["service.headers.x-a"]


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/a\x00b",
        "/hooks/a\r\nb",
        "/hooks/a\nb",
        "/hooks/\u202eevil",
        "/hooks/\u2066x",
        "/hooks/a b",
        "/hooks/a\u00a0b",
        "/hooks/a\tb",
        "hooks/a",
    ],
)
def test_webhook_path_that_cannot_be_joined_to_a_url_is_refused(path: str) -> None:
    document = _document(webhooks=[{"event": "things.created", "path": path}])
    assert _locations(document) == ["resources[0].webhooks[0].path"]


def test_duplicate_keys_are_refused_with_their_location() -> None:
    text = (
        '{"resources": [{"handle": "h", "endpoint": "/a", '
        '"operations": {"list": {"method": "GET", "method": "DELETE"}}}]}'
    )
    assert _locations(text) == ["resources[0].operations.list.method"]
    bare = '[{"handle": "h", "endpoint": "/a", "endpoint": "/b"}]'
    assert _locations(bare) == ["[0].endpoint"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(literal: str) -> None:
    text = json.dumps(_document(meta={"x": "PLACEHOLDER"})).replace('"PLACEHOLDER"', literal)
    assert _locations(text) == ["resources[0].meta.x"]
    body = _document(
        operations={"create": {"method": "POST", "bodyTemplate": '{"a": ' + literal + "}"}}
    )
    assert _locations(body) == ["resources[0].operations.create.bodyTemplate.value"]


def test_nan_body_given_whole_or_as_a_value_is_an_input_error() -> None:
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://127.0.0.1:9", api_key="k", env={})
    with pytest.raises(InputError, match="body"):
        build_request(definition, service, "messages", "create", body={"x": float("nan")})
    numbered = load_definition(
        _document(
            operations={
                "list": {
                    "method": "GET",
                    "queryParams": {
                        "value": {"t": "{{ t }}"},
                        "placeholders": [{"name": "t", "type": "Number"}],
                    },
                }
            }
        )
    )
    plain = resolve_service(numbered, env={})
    with pytest.raises(InputError, match="finite"):
        build_request(numbered, plain, "h", "list", {"t": float("inf")})


def test_non_utf8_definition_file_is_a_definition_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"handle": "caf\xe9"}]')
    assert _locations(path) == ["byte 16"]


# --- item 17: no catastrophic regular expressions in selectors ----------------------------------


@pytest.mark.parametrize(
    "selector",
    [
        "$.data[?(@.name =~ '(a+)+$')].id",
        "$.name.`sub(/(a+)+$/, x)`",
        "$.name * 100000000",
    ],
)
def test_selector_with_a_regex_or_arithmetic_is_refused(selector: str) -> None:
    document = _document(fields=[{"name": "f", "selector": selector}])
    assert _locations(document) == ["resources[0].fields[0].selector"]


# --- the shipped definitions still load and work over the sandbox --------------------------------


def test_shipped_definition_and_seed_load_and_call_the_sandbox() -> None:
    seed = load_definition(ROOT / "definitions" / "seed" / "claude-api.seed.json")
    assert len(seed.resources) == 5
    definition = load_definition(SHIPPED)
    service = resolve_service(definition, base_url="http://sandbox.test", api_key="k", env={})
    request = build_request(definition, service, "models", "list")

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(api_key="k"))
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.send(request)

    response = anyio.run(send)
    assert response.status_code == 200 and response.json()["data"]
