"""Triggers: declared ones from the definition, conventions where absent, conditions, times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from emitter_support import DEFINITION

from connector.definitions import load_definition
from connector.emitter.triggers import (
    Rule,
    deleted_data,
    is_pollable,
    reached_transitions,
    record_id,
    resource_rules,
)
from connector.selectors import compile_selector


def rules_of(handle: str) -> dict[str, Rule]:
    return {r.event: r for r in resource_rules(DEFINITION.resource(handle))}


def test_resource_rules_reads_the_declared_triggers() -> None:
    batches = resource_rules(DEFINITION.resource("message_batches"))
    ended, expired = batches
    assert (ended.kind, ended.to, ended.where) == ("transition", "ended", None)
    assert expired.kind == "transition" and expired.where is not None
    assert ended.marker == "to=ended"
    assert [r.kind for r in resource_rules(DEFINITION.resource("files"))] == ["created", "deleted"]


def test_resource_rules_applies_conventions_where_no_trigger_is_declared() -> None:
    definition = load_definition(
        [
            {
                "handle": "jobs",
                "endpoint": "/jobs",
                "fields": [
                    {"name": "id", "type": "String", "selector": ["id"]},
                    {"name": "state", "type": "String", "selector": ["state"]},
                    {"name": "size", "type": "Integer", "selector": ["size"]},
                ],
                "operations": {"list": {"method": "GET"}},
                "webhooks": [
                    {"event": "jobs.created", "path": "/c"},
                    {"event": "jobs.deleted", "path": "/d"},
                    {"event": "jobs.finished", "path": "/f"},
                ],
            }
        ]
    )
    created, deleted, finished = resource_rules(definition.resource("jobs"))
    assert (created.kind, deleted.kind, finished.kind) == ("created", "deleted", "transition")
    assert finished.to == "finished"
    assert finished.reached({"id": "j", "state": "finished"})
    assert not finished.reached({"id": "j", "state": "running", "size": 3})
    assert is_pollable(definition.resource("jobs"))


def test_expired_condition_holds_only_with_expired_requests() -> None:
    expired = resource_rules(DEFINITION.resource("message_batches"))[1]
    ended = {"processing_status": "ended", "request_counts": {"expired": 0}}
    assert expired.reached(ended) and not expired.condition_holds(ended)
    assert expired.condition_holds({"request_counts": {"expired": 2}})
    assert not expired.condition_holds({"request_counts": None})  # None > 0: no, not a crash


@pytest.mark.parametrize(
    ("op", "value", "seen", "holds"),
    [
        ("==", "a", "a", True),
        ("!=", "a", "a", False),
        (">=", 2, 2, True),
        ("<", 2, 1, True),
        ("<=", 2, 3, False),
        (">", 0, "text", False),
    ],
)
def test_where_operators(op: str, value: object, seen: object, holds: bool) -> None:
    definition = load_definition(
        [
            {
                "handle": "things",
                "endpoint": "/t",
                "operations": {"list": {"method": "GET"}},
                "webhooks": [
                    {
                        "event": "things.done",
                        "path": "/p",
                        "trigger": {
                            "type": "transition",
                            "selector": ["s"],
                            "to": "done",
                            "where": {"selector": ["v"], "op": op, "value": value},
                        },
                    }
                ],
            }
        ]
    )
    (rule,) = resource_rules(definition.resource("things"))
    assert rule.condition_holds({"v": seen}) is holds


def test_event_times_come_from_the_api_where_it_has_them() -> None:
    batches = rules_of("message_batches")
    record = {"ended_at": "2025-11-01T12:00:02.5Z", "created_at": "2025-11-01T12:00:00Z"}
    ended = batches["message_batches.ended"]
    assert ended.timestamp(record, 99.0) == datetime(2025, 11, 1, 12, 0, 2, 500000, tzinfo=UTC)
    files = rules_of("files")
    assert files["files.created"].timestamp(record, 99.0) == datetime(2025, 11, 1, 12, tzinfo=UTC)
    assert files["files.deleted"].timestamp(record, 99.0) == 99.0
    assert files["files.created"].timestamp({"created_at": "garbage"}, 7.0) == 7.0


def test_payload_data_is_typed_and_deleted_data_is_json() -> None:
    files = resource_rules(DEFINITION.resource("files"))
    record = {"id": "file_1", "created_at": "2025-11-01T12:00:00Z", "purpose": "x"}
    data = files[0].data(record)
    assert data["created_at"] == datetime(2025, 11, 1, 12, tzinfo=UTC)
    assert data["file_name"] is None  # a missing path gives null, never an error
    assert deleted_data(files, record) == {"files.deleted": {"id": "file_1"}}


def test_reached_transitions_and_record_ids() -> None:
    batches = resource_rules(DEFINITION.resource("message_batches"))
    assert reached_transitions(batches, {"processing_status": "ended"}) == {
        "message_batches.ended",
        "message_batches.expired",
    }
    assert reached_transitions(batches, {"processing_status": "in_progress"}) == set()
    ids = compile_selector(["id"])
    assert record_id(ids, {"id": 12}) == "12"
    assert record_id(ids, {"id": ""}) is None
    assert record_id(ids, {"id": {"nested": 1}}) is None
    assert record_id(ids, {}) is None


def test_only_resources_with_webhooks_and_a_list_are_pollable() -> None:
    pollable = [r.handle for r in DEFINITION.resources if is_pollable(r)]
    assert pollable == ["message_batches", "models", "files", "skills"]
