"""Arazzo documents: the rebuilt seed, structure, and located problems for malformed documents."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.errors import WorkflowDefinitionError
from connector.workflows.loader import load_document

ROOT = Path(__file__).resolve().parent.parent
SEED_YAML = ROOT / "definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml"
SEED_TEXT = ROOT / "tests/data/workflows/seed-001.txt"
"""The seed workflow's text as it was given, kept beside the tests (the repository stands alone)."""


def _seed_tokens() -> list[str]:
    return SEED_TEXT.read_text(encoding="utf-8").split()


def test_seed_yaml_keeps_every_token_of_the_seed() -> None:
    """The rebuilt YAML has the seed's text, token for token, whitespace aside."""
    assert SEED_YAML.read_text(encoding="utf-8").split() == _seed_tokens()


def test_seed_yaml_parses_to_the_seed_structure() -> None:
    data = yaml.safe_load(SEED_YAML.read_text(encoding="utf-8"))
    workflow = data["workflows"][0]
    assert data["arazzo"] == "1.0.1"
    assert [s["stepId"] for s in workflow["steps"]] == [
        "submitBatch",
        "pollBatchStatus",
        "retrieveResults",
    ]
    assert workflow["inputs"]["properties"]["anthropicVersion"]["default"] == "2023-06-01"
    assert workflow["steps"][1]["onSuccess"][0]["retryLimit"] == 2880
    assert "\n" not in data["info"]["description"]  # folded, not literal
    assert data["info"]["description"].startswith("The canonical asynchronous batch flow.")
    assert set(workflow["outputs"]) == {"batchId", "requestCounts", "resultsUrl", "results"}


def test_seed_yaml_keeps_folded_scalars() -> None:
    text = SEED_YAML.read_text(encoding="utf-8")
    assert len(re.findall(r"description: >-\n", text)) == 6


def test_load_document_reads_the_seed() -> None:
    document = load_document(SEED_YAML)
    step = document.workflows[0].steps[1]
    assert step.operation_id == "retrieveMessageBatch"
    assert step.on_success[0].retry_after == 30
    assert step.on_success[0].criteria[0].kind == "jsonpath"
    assert step.parameters[2].in_ == "path"


def test_load_document_accepts_json_text_and_extensions() -> None:
    data = yaml.safe_load(SEED_YAML.read_text(encoding="utf-8"))
    data["x-owner"] = "team"
    data["workflows"][0]["steps"][0]["x-note"] = {"any": "thing"}
    import json

    document = load_document(json.dumps(data))
    assert document.extensions == {"x-owner": "team"}
    assert document.workflows[0].steps[0].extensions == {"x-note": {"any": "thing"}}


def test_load_document_accepts_an_expression_type_object() -> None:
    data = yaml.safe_load(SEED_YAML.read_text(encoding="utf-8"))
    criterion = data["workflows"][0]["steps"][1]["onSuccess"][0]["criteria"][0]
    criterion["type"] = {"type": "jsonpath", "version": "draft-goessner-dispatch-jsonpath-00"}
    assert load_document(data).workflows[0].steps[1].on_success[0].criteria[0].kind == "jsonpath"


def _seed() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SEED_YAML.read_text(encoding="utf-8"))
    return data


def _step(data: dict[str, Any], index: int) -> dict[str, Any]:
    step: dict[str, Any] = data["workflows"][0]["steps"][index]
    return step


def _set(path: str, value: Any) -> Any:
    """A mutation that sets a dotted path (list indices as integers) in the seed."""

    def mutate(data: dict[str, Any]) -> None:
        parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = data
        for part in parts[:-1]:
            target = target[part]
        if value is _DELETE:
            del target[parts[-1]]
        else:
            target[parts[-1]] = value

    return mutate


_DELETE = object()
W = "workflows.0"
S1 = "workflows.0.steps.1"

# (mutation, the location asserted, a word of the message or of the allowed values)
MALFORMED = [
    (
        "retry-limit-negative",
        _set(f"{S1}.onSuccess.0.retryLimit", -1),
        "workflows[0].steps[1].onSuccess[0].retryLimit",
    ),
    (
        "retry-limit-string",
        _set(f"{S1}.onSuccess.0.retryLimit", "many"),
        "workflows[0].steps[1].onSuccess[0].retryLimit",
    ),
    (
        "retry-after-negative",
        _set(f"{S1}.onSuccess.0.retryAfter", -5),
        "workflows[0].steps[1].onSuccess[0].retryAfter",
    ),
    (
        "action-type-unknown",
        _set(f"{S1}.onSuccess.0.type", "repeat"),
        "workflows[0].steps[1].onSuccess[0].type",
    ),
    (
        "goto-unknown-step",
        _set(f"{S1}.onSuccess.1.stepId", "retrieveResult"),
        "workflows[0].steps[1].onSuccess[1].stepId",
    ),
    (
        "goto-without-target",
        _set(f"{S1}.onSuccess.1.stepId", _DELETE),
        "workflows[0].steps[1].onSuccess[1]",
    ),
    (
        "retry-limit-on-goto",
        _set(f"{S1}.onSuccess.1.retryLimit", 3),
        "workflows[0].steps[1].onSuccess[1].retryLimit",
    ),
    ("unknown-step-key", _set(f"{S1}.sucessCriteria", []), "workflows[0].steps[1].sucessCriteria"),
    ("unknown-top-key", _set("workflow", []), "workflow"),
    ("missing-step-id", _set(f"{S1}.stepId", _DELETE), "workflows[0].steps[1].stepId"),
    ("duplicate-step-id", _set(f"{S1}.stepId", "submitBatch"), "workflows[0].steps[1].stepId"),
    (
        "two-targets",
        _set(f"{S1}.workflowId", "batch-process-and-retrieve-results"),
        "workflows[0].steps[1]",
    ),
    ("no-target", _set(f"{S1}.operationId", _DELETE), "workflows[0].steps[1]"),
    (
        "parameter-in-unknown",
        _set(f"{S1}.parameters.0.in", "body"),
        "workflows[0].steps[1].parameters[0].in",
    ),
    (
        "parameter-in-missing",
        _set(f"{S1}.parameters.0.in", _DELETE),
        "workflows[0].steps[1].parameters[0].in",
    ),
    (
        "bad-condition",
        _set(f"{S1}.successCriteria.0.condition", "$statusCode == == 200"),
        "workflows[0].steps[1].successCriteria[0].condition",
    ),
    (
        "bad-regex",
        _set(
            f"{S1}.successCriteria.0",
            {"context": "$statusCode", "condition": "(2", "type": "regex"},
        ),
        "workflows[0].steps[1].successCriteria[0].condition",
    ),
    (
        "regex-without-context",
        _set(f"{S1}.successCriteria.0", {"condition": "^2", "type": "regex"}),
        "workflows[0].steps[1].successCriteria[0].context",
    ),
    (
        "xpath-refused",
        _set(f"{S1}.onSuccess.0.criteria.0.type", "xpath"),
        "workflows[0].steps[1].onSuccess[0].criteria[0].type",
    ),
    (
        "jsonpath-version-unknown",
        _set(f"{S1}.onSuccess.0.criteria.0.type", {"type": "jsonpath", "version": "v9"}),
        "workflows[0].steps[1].onSuccess[0].criteria[0].type",
    ),
    (
        "bad-jsonpath",
        _set(f"{S1}.onSuccess.0.criteria.0.condition", "$.[[ != 1"),
        "workflows[0].steps[1].onSuccess[0].criteria[0].condition",
    ),
    (
        "bad-context",
        _set(f"{S1}.onSuccess.0.criteria.0.context", "$response.bdy"),
        "workflows[0].steps[1].onSuccess[0].criteria[0].context",
    ),
    (
        "output-not-expression",
        _set(f"{S1}.outputs.processingStatus", "processing_status"),
        "workflows[0].steps[1].outputs.processingStatus",
    ),
    (
        "output-unknown-step",
        _set(f"{W}.outputs.batchId", "$steps.submit.outputs.batchId"),
        "workflows[0].outputs.batchId",
    ),
    (
        "parameter-bad-expression",
        _set(f"{S1}.parameters.2.value", "$steps.submitBatch.batchId"),
        "workflows[0].steps[1].parameters[2].value",
    ),
    (
        "embedded-bad-expression",
        _set(f"{S1}.parameters.1.value", "v{$inputs}"),
        "workflows[0].steps[1].parameters[1].value",
    ),
    ("no-steps", _set(f"{W}.steps", []), "workflows[0].steps"),
    ("no-workflows", _set("workflows", []), "workflows"),
    ("arazzo-version", _set("arazzo", "2.0.0"), "arazzo"),
    ("info-title-missing", _set("info.title", _DELETE), "info.title"),
    (
        "source-type-unknown",
        _set("sourceDescriptions.0.type", "graphql"),
        "sourceDescriptions[0].type",
    ),
    ("depends-on-unknown", _set(f"{W}.dependsOn", ["nope"]), "workflows[0].dependsOn[0]"),
    (
        "inputs-type-unknown",
        _set(f"{W}.inputs.properties.apiKey.type", "text"),
        "workflows[0].inputs.properties.apiKey.type",
    ),
    (
        "nested-workflow-unknown",
        _set(f"{S1}", {"stepId": "n", "workflowId": "ghost"}),
        "workflows[0].steps[1].workflowId",
    ),
    ("step-id-pattern", _set(f"{S1}.stepId", "poll status"), "workflows[0].steps[1].stepId"),
    (
        "replacement-target",
        _set("workflows.0.steps.0.requestBody.replacements", [{"target": "requests", "value": 1}]),
        "workflows[0].steps[0].requestBody.replacements[0].target",
    ),
    ("end-with-step", _set(f"{S1}.onSuccess.1.type", "end"), "workflows[0].steps[1].onSuccess[1]"),
    (
        "component-reference-unknown",
        _set(f"{S1}.parameters.0", {"reference": "$components.parameters.key"}),
        "workflows[0].steps[1].parameters[0].reference",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "location"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_load_document_refuses_malformed_with_location(mutate: Any, location: str) -> None:
    data = copy.deepcopy(_seed())
    mutate(data)
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document(data)
    locations = [p.location for p in caught.value.problems]
    assert location in locations, caught.value


def test_load_document_names_the_nearest_key() -> None:
    data = _seed()
    _step(data, 1)["onSucess"] = _step(data, 1).pop("onSuccess")
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document(data)
    (problem,) = caught.value.problems
    assert problem.location == "workflows[0].steps[1].onSucess"
    assert "'onSuccess'" in problem.message
    assert problem.found == "onSucess"


def test_load_document_lists_every_problem() -> None:
    data = _seed()
    _step(data, 1)["onSuccess"][0]["retryLimit"] = -1
    _step(data, 0)["operationIdd"] = "x"
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document(data)
    assert {p.location for p in caught.value.problems} >= {
        "workflows[0].steps[1].onSuccess[0].retryLimit",
        "workflows[0].steps[0].operationIdd",
    }


def test_load_document_reports_yaml_syntax_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.arazzo.yaml"
    bad.write_text("arazzo: 1.0.1\ninfo: [unclosed\n", encoding="utf-8")
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document(bad)
    assert caught.value.file == str(bad)
    assert "line" in caught.value.problems[0].message


def test_load_document_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document(tmp_path / "missing.yaml")
    assert caught.value.problems[0].found == str(tmp_path / "missing.yaml")


def test_load_document_refuses_a_list_document() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_document("- a\n- b\n")
    assert caught.value.problems[0].location == ""
