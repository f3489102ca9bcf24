"""The command line of the workflow runner: ``workflow run``, ``workflow validate``, ``batch run``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from pathlib import Path

from connector.errors import InputError, InputProblem
from connector.workflows.batch import BatchLimits, read_requests, run_batches
from connector.workflows.binding import OperationExecutor
from connector.workflows.document import ArazzoDocument
from connector.workflows.executors import ConnectorExecutor
from connector.workflows.expressions import JSON
from connector.workflows.loader import load_document
from connector.workflows.portability import portability_warnings
from connector.workflows.runner import DEFAULT_DEADLINE, RunOptions, WorkflowRunner

__all__ = ["add_commands", "parse_inputs"]


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``workflow run``, ``workflow validate`` and ``batch run``."""
    workflow = subparsers.add_parser("workflow", help="run or validate Arazzo workflows")
    actions = workflow.add_subparsers(dest="workflow_command", required=True)
    run = actions.add_parser("run", help="run an Arazzo document; prints its outputs as JSON")
    run.add_argument("file", type=Path, help="the Arazzo document (YAML or JSON)")
    run.add_argument("--workflow", help="the workflowId to run (default: the first)")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE|NAME=@FILE",
        help="a workflow input; VALUE is read as JSON when it parses",
    )
    run.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the definition a sourceDescription names",
    )
    run.add_argument(
        "--max-retry-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="cap on any wait between retries",
    )
    run.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help="the whole run's time limit (default 24 h)",
    )
    run.add_argument(
        "--results-out", type=Path, default=None, metavar="FILE", help="stream JSONL bodies to FILE"
    )
    run.set_defaults(func=run_workflow_command)
    validate = actions.add_parser("validate", help="load and check an Arazzo document")
    validate.add_argument("file", type=Path, help="the Arazzo document (YAML or JSON)")
    validate.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the definition a sourceDescription names",
    )
    validate.set_defaults(func=validate_workflow_command)
    generate = actions.add_parser(
        "generate", help="write an Arazzo document for a resource's flow (YAML on stdout)"
    )
    generate.add_argument("handle", help="the resource, e.g. message_batches")
    generate.add_argument(
        "--source-url",
        metavar="URL",
        help="the OpenAPI description the document names (default <connection>.openapi.yml)",
    )
    generate.add_argument(
        "--out", type=Path, metavar="FILE", help="write the document to FILE (default: stdout)"
    )
    generate.set_defaults(func=generate_workflow_command)

    batch = subparsers.add_parser("batch", help="message batches from a JSONL file")
    batch_actions = batch.add_subparsers(dest="batch_command", required=True)
    batch_run = batch_actions.add_parser(
        "run",
        help="submit, wait with a progress bar, save results",
        description=(
            "Submit the requests of a JSONL file as message batches (split at the API's "
            "limits), wait with progress, and save the results, one line per request.\n\n"
            "Each line of REQUESTS.jsonl is one request:\n"
            '  {"custom_id": "q1", "params": {"model": "claude-haiku-4-5", "max_tokens": 100,\n'
            '   "messages": [{"role": "user", "content": "Hello"}]}}\n'
            "custom_id: 1-64 letters, digits, _ or -, unique in the file; params: a Messages "
            "create body (model, max_tokens and messages required). Every line is checked "
            "before anything is sent."
        ),
    )
    batch_run.add_argument(
        "requests", type=Path, metavar="REQUESTS.jsonl", help="one request per line (see above)"
    )
    batch_run.add_argument(
        "--out",
        type=Path,
        default=Path("results.jsonl"),
        metavar="FILE",
        help="where the results go, one JSON line per request (replaced only once complete)",
    )
    batch_run.add_argument("--no-wait", action="store_true", help="submit and print the batch ids")
    batch_run.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between checks of the batches' progress",
    )
    batch_run.set_defaults(func=batch_run_command)


def parse_inputs(pairs: Sequence[str]) -> dict[str, JSON]:
    """``NAME=VALUE`` (JSON when it parses, else the string) and ``NAME=@file`` pairs."""
    values: dict[str, JSON] = {}
    problems = []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            problems.append(
                InputProblem(pair.split("=")[0] or pair, "expected NAME=VALUE or NAME=@FILE")
            )
            continue
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(InputProblem(name, f"cannot read {text[1:]}: {exc.strerror}"))
                continue
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError:
            values[name] = text
    if problems:
        raise InputError(problems)
    return values


def validate_workflow_command(args: argparse.Namespace) -> int:
    """Load the document (every problem on stderr, exit 2) and bind it to its definitions."""
    document = load_document(args.file)
    with ExitStack() as stack:
        WorkflowRunner(document, _executors(document, args, stack))
    steps = sum(len(w.steps) for w in document.workflows)
    warnings = portability_warnings(document)
    for warning in warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    portable = f", {len(warnings)} portability warning(s)" if warnings else ""
    print(
        f"{args.file}: valid ({len(document.workflows)} workflow(s), {steps} step(s){portable})",
        file=sys.stderr,
    )
    return 0


def generate_workflow_command(args: argparse.Namespace) -> int:
    """Print (or write) the generated Arazzo document as YAML."""
    import yaml

    from connector.cli.options import load_configured_definition
    from connector.workflows.generation import generate_workflow

    document = generate_workflow(
        load_configured_definition(args), args.handle, source_url=args.source_url
    )

    class _Plain(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True  # each step spells its headers out: no &id001 anchors

    text = yaml.dump(document, Dumper=_Plain, sort_keys=False, allow_unicode=True, width=100)
    from connector.output_files import write_document

    write_document(text, args.out)
    return 0


def run_workflow_command(args: argparse.Namespace) -> int:
    """Run one workflow and print its outputs as JSON on stdout."""
    from connector.cli.output import print_json, say, sleeper

    document = load_document(args.file)
    inputs = parse_inputs(args.input)
    workflow = document.workflow(args.workflow) if args.workflow else document.workflows[0]
    if workflow is not None:
        _complete_inputs(workflow.inputs, inputs, args, say)
    options = RunOptions(
        deadline=args.deadline,
        max_retry_after=args.max_retry_after,
        results_out=args.results_out,
        sleep=sleeper(lambda s: "a step asked to retry later (its retryAfter or Retry-After)"),
    )
    with ExitStack() as stack:
        runner = WorkflowRunner(document, _executors(document, args, stack), options)
        outputs = runner.run(args.workflow, inputs)
    print_json(outputs)
    return 0


def _complete_inputs(
    schema: dict[str, JSON] | None,
    inputs: dict[str, JSON],
    args: argparse.Namespace,
    say: Callable[[str], None],
) -> None:
    """An ``apiKey`` input not given comes from the configured key (``--api-key``, or the
    definition's key variable, ``ANTHROPIC_API_KEY`` for the bundled one); any other missing
    required input is refused naming the ``--input`` flag."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    properties = schema.get("properties") or {}
    if "apiKey" in properties and "apiKey" not in inputs:
        from connector.cli.options import settings_from_args

        settings = settings_from_args(args)
        definition = settings.load_definition()
        variable = (definition.service.variables if definition.service else {}).get("apiKey")
        key = settings.api_key or (os.environ.get(variable) if variable else None)
        if key:
            inputs["apiKey"] = key
            say(
                f"connector: input apiKey taken from {'--api-key' if settings.api_key else variable}"
            )
    missing = [
        name
        for name in schema.get("required") or []
        if name not in inputs
        and not (isinstance(properties.get(name), dict) and "default" in properties[name])
    ]
    if missing:
        raise InputError(
            [
                InputProblem(name, f"is required: pass --input {name}=VALUE (or {name}=@FILE)")
                for name in missing
            ]
        )


def _executors(
    document: ArazzoDocument, args: argparse.Namespace, stack: ExitStack
) -> dict[str, OperationExecutor]:
    """A source maps to ``--source NAME=FILE``, else to its URL when that file exists here and
    is one of our definitions, else to the configured (by default the bundled) definition."""
    from connector.cli.options import connector_options, load_configured_definition
    from connector.client import Connector
    from connector.definitions import load_definition

    given: dict[str, str] = {}
    for pair in args.source:
        name, sep, file = pair.partition("=")
        if not sep:
            raise InputError([InputProblem("--source", "expected NAME=FILE", pair)])
        given[name] = file
    unknown = set(given) - {s.name for s in document.source_descriptions}
    if unknown:
        known = ", ".join(s.name for s in document.source_descriptions)
        raise InputError(
            [
                InputProblem("--source", f"no sourceDescription named {n!r}; known: {known}")
                for n in sorted(unknown)
            ]
        )
    executors: dict[str, OperationExecutor] = {}
    base = args.file.parent
    for source in document.source_descriptions:
        local = base / source.url
        if source.name in given:
            definition = load_definition(Path(given[source.name]))
        elif "://" not in source.url and local.is_file() and local.suffix == ".json":
            definition = load_definition(local)
        else:
            definition = load_configured_definition(args)
        connector = stack.enter_context(Connector(definition, **connector_options(args)))
        executors[source.name] = ConnectorExecutor(connector)
    return executors


def batch_run_command(args: argparse.Namespace) -> int:
    """Validate, submit, wait with progress on stderr, save results and print a summary."""
    from connector.cli.calls import retry_wait
    from connector.cli.options import open_connector
    from connector.cli.output import BatchProgress, print_json, say

    try:
        with args.requests.open(encoding="utf-8") as handle:
            requests = read_requests(handle)
    except OSError as exc:
        raise InputError(
            [InputProblem(str(args.requests), f"cannot read: {exc.strerror}")]
        ) from None
    limits = getattr(args, "batch_limits", None) or BatchLimits()
    progress = BatchProgress()
    with open_connector(args, sleep=retry_wait) as connector, closing(progress):
        try:
            outcome = run_batches(
                connector,
                requests,
                out=args.out,
                wait=not args.no_wait,
                poll_interval=args.poll_interval,
                limits=limits,
                progress=progress,
                on_interrupt=_ask_to_cancel,
                on_submit=lambda batch_id: say(f"submitted {batch_id}"),
            )
        except KeyboardInterrupt:
            return 130
    if args.no_wait:
        print_json({"batch_ids": outcome.batch_ids, "requests": len(requests)})
        return 0
    summary = {
        "batch_ids": outcome.batch_ids,
        "requests": len(requests),
        "results": dict(sorted(outcome.result_types.items())),
        "out": str(args.out),
    }
    print_json(summary)
    return 0


def _ask_to_cancel(batch_ids: list[str]) -> bool:
    ids = ", ".join(batch_ids)
    if not sys.stdin.isatty():
        print(f"\ninterrupted; batch(es) still running: {ids}", file=sys.stderr)
        return False
    answer = input(f"\ncancel batch(es) {ids}? [y/N] ")
    cancel = answer.strip().lower() in ("y", "yes")
    if not cancel:
        print(f"left running: {ids}", file=sys.stderr)
    else:
        print(f"cancel requested: {ids}", file=sys.stderr)
    return cancel
