"""The AsyncAPI description of the synthetic webhooks matches what the emitter sends."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from node_tools import NODE_DIR, node_bin, node_package

from connector import load_definition
from connector.asyncapi import webhooks_asyncapi
from connector.cli import main
from connector.emitter.store import build_event

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")


def test_every_webhook_is_a_channel_with_its_path_and_message() -> None:
    document = webhooks_asyncapi(DEFINITION)
    assert document["asyncapi"] == "3.1.0"
    hooks = {w.event: w for r in DEFINITION.resources for w in r.webhooks}
    assert set(document["channels"]) == set(hooks) == set(document["components"]["messages"])
    for event, hook in hooks.items():
        assert document["channels"][event]["address"] == hook.path
        data = document["components"]["messages"][event]["payload"]["properties"]["data"]
        assert list(data["properties"]) == [f.name for f in hook.payload]
        assert document["operations"][f"send.{event}"]["action"] == "send"


def _conforms(value: object, schema: dict[str, object]) -> bool:
    """Enough of JSON Schema for the shapes this document uses."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    names = {
        type(None): "null",
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        dict: "object",
        list: "array",
    }
    kind = names[type(value)]
    if kind not in kinds and not (kind == "integer" and "number" in kinds):
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        assert isinstance(properties, dict)
        required = schema.get("required", [])
        assert isinstance(required, list)
        return set(required) <= set(value) and all(
            _conforms(value[k], properties[k]) for k in value if k in properties
        )
    return True


def test_an_emitted_event_body_conforms_to_its_message_schema() -> None:
    hook = next(
        w for r in DEFINITION.resources for w in r.webhooks if w.event == "message_batches.ended"
    )
    record = {
        "id": "msgbatch_1",
        "processing_status": "ended",
        "ended_at": "2026-11-22T00:00:00Z",
        "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results",
    }
    rule = next(
        r for res in DEFINITION.resources for r in res.compiled.rules if r.event == hook.event
    )
    data = rule.data(record)  # the payload fields, typed, as compiled at load
    event = build_event(
        hook.event,
        resource="message_batches",
        record_id="msgbatch_1",
        marker="ended",
        data=data,
        timestamp=record["ended_at"],
        path=hook.path,
        created_at=0.0,
    )
    schema = webhooks_asyncapi(DEFINITION)["components"]["messages"][hook.event]["payload"]
    assert _conforms(json.loads(event.body), schema)
    assert not _conforms({"type": "files.created", "timestamp": "x", "data": {}}, schema)


def test_cli_writes_the_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "hooks.json"
    assert main(["asyncapi", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["info"]["title"].startswith("Claude API")


def _node(tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    target = tmp_path / "webhooks.asyncapi.json"
    target.write_text(json.dumps(webhooks_asyncapi(DEFINITION), indent=2), encoding="utf-8")
    return subprocess.run(
        [*command, str(target)], capture_output=True, text=True, timeout=60, cwd=NODE_DIR
    )


@pytest.mark.slow
def test_spectral_asyncapi_ruleset_reports_nothing(tmp_path: Path) -> None:
    # .spectral.yaml disables one rule, asyncapi-info-contact-properties: the definition's
    # contact has no e-mail address and connector does not invent one.
    done = _node(
        tmp_path,
        node_bin("spectral"),
        "lint",
        "--ruleset",
        ".spectral.yaml",
        "--format",
        "json",
        "--quiet",
    )
    assert json.loads(done.stdout or "[]") == []
    assert done.returncode == 0


@pytest.mark.slow
def test_the_asyncapi_parser_validates_it_as_3_1(tmp_path: Path) -> None:
    node_package("@asyncapi/parser")
    done = _node(tmp_path, "node", "validate-asyncapi.mjs")
    assert json.loads(done.stdout) == {"version": "3.1.0", "errors": [], "warnings": []}
    assert done.returncode == 0


def test_descriptions_tags_contact_and_licence_come_from_meta() -> None:
    document = webhooks_asyncapi(DEFINITION)
    meta = DEFINITION.connection.meta or {}
    info = document["info"]
    assert info["contact"] == meta["contact"] and info["license"] == meta["license"]
    assert str(meta["description"]) in info["description"]
    handles = [r.handle for r in DEFINITION.resources if r.webhooks]
    assert [t["name"] for t in info["tags"]] == handles
    for operation in document["operations"].values():
        assert operation["description"] and operation["tags"][0]["name"] in handles
