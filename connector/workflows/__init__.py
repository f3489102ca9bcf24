"""Arazzo 1.0 workflows: load a document, bind it to a definition, run it.

>>> from connector.workflows import load_document, WorkflowRunner, ConnectorExecutor
>>> document = load_document("definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml")
>>> runner = WorkflowRunner(document, {"claudeApi": ConnectorExecutor(connector)})  # doctest: +SKIP
>>> runner.run(inputs={"apiKey": key, "requests": requests})  # doctest: +SKIP
"""

from __future__ import annotations

from .binding import NO_BODY, OperationCall, OperationExecutor, OperationRef, OperationResponse
from .criteria import CompiledCriterion, ConditionError, compile_criterion
from .document import ArazzoDocument
from .executors import ConnectorExecutor
from .expressions import ExpressionError, Scope, parse_expression, resolve_value
from .inputs import apply_inputs
from .loader import load_document
from .runner import DeadlineExceededError, RunOptions, WorkflowRunner

__all__ = [
    "NO_BODY",
    "ArazzoDocument",
    "CompiledCriterion",
    "ConditionError",
    "ConnectorExecutor",
    "DeadlineExceededError",
    "ExpressionError",
    "OperationCall",
    "OperationExecutor",
    "OperationRef",
    "OperationResponse",
    "RunOptions",
    "Scope",
    "WorkflowRunner",
    "apply_inputs",
    "compile_criterion",
    "load_document",
    "parse_expression",
    "resolve_value",
]
