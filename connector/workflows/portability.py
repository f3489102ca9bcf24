"""Warnings for constructs connector runs but other Arazzo runners reject or read differently.

``connector workflow validate`` prints them (the document stays valid: the seed uses two of
them and must run as written). Each names its JSON location and the portable spelling:

* ``retry`` in ``onSuccess`` / ``successActions``: the specification allows only ``end`` and
  ``goto`` there (Redocly's Arazzo rules refuse it); poll with a success criterion and an
  ``onFailure`` retry instead;
* a ``jsonpath`` condition in the comparison form (``$.status == "ended"``): not an RFC 9535
  query, so other runners read it as invalid (Respect: always false); write
  ``$[?@.status == 'ended']``;
* an ``operationPath`` that is not ``{$sourceDescriptions.<name>.url}#/paths/...`` (a JSON
  pointer into the OpenAPI description, as other runners resolve it).
"""

from __future__ import annotations

from connector.errors import Problem

from .criteria import compile_criterion
from .document import Action, ArazzoDocument, Criterion, Step

__all__ = ["portability_warnings"]


def portability_warnings(document: ArazzoDocument) -> list[Problem]:
    """Every non-portable construct of a valid document, located."""
    warnings: list[Problem] = []
    for i, workflow in enumerate(document.workflows):
        where = f"workflows[{i}]"
        warnings += _actions(workflow.success_actions, f"{where}.successActions", success=True)
        warnings += _actions(workflow.failure_actions, f"{where}.failureActions", success=False)
        for j, step in enumerate(workflow.steps):
            warnings += _step(step, f"{where}.steps[{j}]")
    for name, action in document.components.success_actions.items():
        warnings += _actions([action], f"components.successActions.{name}", success=True, one=True)
    for name, action in document.components.failure_actions.items():
        warnings += _actions([action], f"components.failureActions.{name}", success=False, one=True)
    return warnings


def _step(step: Step, where: str) -> list[Problem]:
    warnings: list[Problem] = []
    path = step.operation_path
    if path is not None and "#/paths/" not in path:
        warnings.append(
            Problem(
                f"{where}.operationPath",
                "other runners resolve an operationPath as a JSON pointer into the OpenAPI "
                "description; use operationId, or '{$sourceDescriptions.<name>.url}#/paths/...'",
                found=path,
            )
        )
    warnings += _criteria(step.success_criteria, f"{where}.successCriteria")
    warnings += _actions(step.on_success, f"{where}.onSuccess", success=True)
    warnings += _actions(step.on_failure, f"{where}.onFailure", success=False)
    return warnings


def _actions(
    actions: list[Action], where: str, *, success: bool, one: bool = False
) -> list[Problem]:
    warnings: list[Problem] = []
    for k, action in enumerate(actions):
        at = where if one else f"{where}[{k}]"
        if success and action.type == "retry":
            warnings.append(
                Problem(
                    f"{at}.type",
                    "the specification allows only end and goto as success actions (other "
                    "runners refuse retry here); to poll, make the awaited state a "
                    "successCriteria entry and retry in onFailure",
                    found="retry",
                    allowed="end, goto",
                )
            )
        warnings += _criteria(action.criteria, f"{at}.criteria")
    return warnings


def _criteria(criteria: list[Criterion], where: str) -> list[Problem]:
    warnings: list[Problem] = []
    for n, criterion in enumerate(criteria):
        if criterion.kind != "jsonpath":
            continue
        if compile_criterion(criterion).dialect == "comparison":
            warnings.append(
                Problem(
                    f"{where}[{n}].condition",
                    "not an RFC 9535 query: connector reads this comparison form as an "
                    "extension, other runners as an invalid query that never holds; write a "
                    "filter over the context, e.g. $[?@.processing_status == 'ended']",
                    found=criterion.condition,
                )
            )
    return warnings
