"""connector.answers: the one rule by which the CLI and the service take an operation's answer."""

from __future__ import annotations

import pytest

from connector import load_definition
from connector.answers import Answer, answer_for
from connector.config import bundled_definition_path
from connector.definitions import Operation

DEFINITION = load_definition(bundled_definition_path())


def _op(handle: str, name: str) -> Operation:
    return DEFINITION.resource(handle).operation(name)


@pytest.mark.parametrize(
    ("handle", "name", "stream", "out", "expected"),
    [
        ("messages", "create", False, False, Answer.RECORDS),
        ("messages", "create", True, False, Answer.EVENTS),  # --stream works on any operation
        ("messages", "stream", False, False, Answer.EVENTS),  # an sse operation always streams
        ("message_batches", "results", False, False, Answer.LINES),
        ("message_batches", "results", False, True, Answer.BYTES),  # --out FILE
        ("files", "download", False, False, Answer.BYTES),
        ("message_batches", "list", False, False, Answer.RECORDS),  # one page: pull pages
    ],
)
def test_the_cli_rule(handle: str, name: str, stream: bool, out: bool, expected: Answer) -> None:
    operation = _op(handle, name)
    got = answer_for(
        operation, events=stream, events_of_sse_only=False, fold_sse=False, jsonl_as_bytes=out
    )
    assert got is expected


@pytest.mark.parametrize(
    ("handle", "name", "stream", "expected"),
    [
        ("messages", "create", False, Answer.RECORDS),
        ("messages", "create", True, Answer.RECORDS),  # ?stream=true only for sse operations
        ("messages", "stream", False, Answer.RECORDS),  # folded into the final object
        ("messages", "stream", True, Answer.EVENTS),
        ("message_batches", "results", False, Answer.BYTES),
        ("files", "download", True, Answer.BYTES),
        ("message_batches", "list", False, Answer.PAGES),
    ],
)
def test_the_service_rule(handle: str, name: str, stream: bool, expected: Answer) -> None:
    operation = _op(handle, name)
    got = answer_for(operation, events=stream, jsonl_as_bytes=True, every_page=True)
    assert got is expected
