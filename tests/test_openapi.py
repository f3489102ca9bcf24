"""The OpenAPI 3.1 export: valid for openapi-spec-validator, clean for Redocly's recommended
rules, and the shipped copy the seed workflow's sourceDescriptions points at is up to date."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from node_tools import NODE_DIR, node_bin
from openapi_spec_validator import validate

from connector import load_definition
from connector.cli import main
from connector.openapi import definition_openapi, render_openapi

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
SEED = load_definition(ROOT / "definitions" / "seed" / "claude-api.seed.json")
SHIPPED = ROOT / "definitions" / "openapi" / "claude-messages-api.yml"
WORKFLOW = ROOT / "definitions" / "workflows" / "batch-process-and-retrieve-results.arazzo.yaml"


def test_the_shipped_description_is_up_to_date_and_where_the_seed_workflow_points() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    url = workflow["sourceDescriptions"][0]["url"]
    assert (WORKFLOW.parent / url).resolve() == SHIPPED.resolve()
    assert SHIPPED.read_text(encoding="utf-8") == render_openapi(DEFINITION), (
        "stale: run `connector openapi --out definitions/openapi/claude-messages-api.yml`"
    )


@pytest.mark.parametrize("definition", [DEFINITION, SEED], ids=["shipped", "seed"])
def test_the_description_validates_with_openapi_spec_validator(definition: object) -> None:
    document = definition_openapi(definition)  # type: ignore[arg-type]
    validate(document)  # raises OpenAPIValidationError on any problem
    # and the YAML text says the same as the dict
    assert yaml.safe_load(render_openapi(definition)) == document  # type: ignore[arg-type]


def test_every_operation_is_described_with_its_id_parameters_and_media_type() -> None:
    document = definition_openapi(DEFINITION)
    by_id = {
        item["operationId"]: (path, method, item)
        for path, methods in document["paths"].items()
        for method, item in methods.items()
    }
    ids = {op.operation_id for r in DEFINITION.resources for op in r.operations.values()}
    # the seed's 'delete' (POST .../cancel) shares its route with 'cancel', and 'stream' with
    # 'create': one is described (the one in the API's own names, else the first), the
    # other's id is kept beside it and its media type added
    assert set(by_id) == ids - {"cancelMessageBatchSeedDelete", "streamMessage"}
    assert by_id["cancelMessageBatch"][2]["x-connector-operationIds"] == [
        "cancelMessageBatchSeedDelete"
    ]
    create = by_id["createMessage"][2]
    assert create["x-connector-operationIds"] == ["streamMessage"]
    assert list(create["responses"]["200"]["content"]) == ["application/json", "text/event-stream"]
    path, method, retrieve = by_id["retrieveMessageBatch"]
    assert (path, method) == ("/messages/batches/{message_batch_id}", "get")
    names = {(p["name"], p["in"]) for p in retrieve["parameters"]}
    assert {("message_batch_id", "path"), ("anthropic-version", "header")} <= names
    results = by_id["retrieveMessageBatchResults"][2]["responses"]["200"]["content"]
    assert list(results) == ["application/x-jsonl"]
    download = by_id["downloadFile"][2]["responses"]["200"]["content"]
    assert list(download) == ["application/octet-stream"]
    body = by_id["createMessage"][2]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["max_tokens"]["type"] == "integer"
    assert body["required"] == ["model", "max_tokens", "messages"]
    upload = by_id["uploadFile"][2]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    listing = by_id["listMessageBatches"][2]["responses"]["200"]["content"]["application/json"]
    page = listing["schema"]["properties"]
    assert page["data"]["items"] == {"$ref": "#/components/schemas/message_batches"}
    assert {"has_more", "last_id"} <= set(page)
    assert {("after_id", "query"), ("limit", "query")} <= {
        (p["name"], p["in"]) for p in by_id["listMessageBatches"][2]["parameters"]
    }
    usage = document["components"]["schemas"]["messages"]["properties"]["usage"]
    assert usage["properties"]["input_tokens"]["type"] == ["integer", "null"]
    assert document["components"]["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    assert document["servers"] == [{"url": "https://api.anthropic.com/v1"}]
    assert document["info"]["license"]["name"].startswith("Proprietary")


def _redocly_lint(tmp_path: Path, definition: object, name: str) -> dict[str, object]:
    target = tmp_path / f"{name}.yml"
    target.write_text(render_openapi(definition), encoding="utf-8")  # type: ignore[arg-type]
    done = subprocess.run(
        [node_bin("redocly"), "lint", str(target), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    report: dict[str, object] = json.loads(done.stdout)
    report["returncode"] = done.returncode
    return report


def test_redocly_recommended_rules_report_nothing_on_the_shipped_description(
    tmp_path: Path,
) -> None:
    report = _redocly_lint(tmp_path, DEFINITION, "shipped")
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, report
    assert report["returncode"] == 0


def test_the_seed_description_lacks_only_the_licence_the_seed_does_not_state(
    tmp_path: Path,
) -> None:
    # No rule is disabled: the seed (a bare resource array) has no meta to take a licence
    # from, and inventing one would be wrong, so info-license is its one warning.
    report = _redocly_lint(tmp_path, SEED, "seed")
    assert report["totals"] == {"errors": 0, "warnings": 1, "ignored": 0}, report
    problems = report["problems"]
    assert isinstance(problems, list)
    assert [p["ruleId"] for p in problems] == ["info-license"]
    assert report["returncode"] == 0


def test_the_command_prints_json_or_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == definition_openapi(DEFINITION)
    seed = str(ROOT / "definitions" / "seed" / "claude-api.seed.json")
    assert main(["openapi", "--definition", seed]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert document["servers"] == [  # a bare resource array takes the configured base URL
        {"url": "/", "description": "The configured base URL (--base-url)."}
    ]
    assert document == definition_openapi(SEED)
