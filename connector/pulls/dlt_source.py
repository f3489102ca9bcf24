"""A definition as a dlt source: its list operations become resources, its children
transformers, and :func:`run_pipeline` loads them into any dlt destination.

Each resource's primary key is the field its ``idField`` selects (``write_disposition="merge"``
where there is one, so a re-run after a crash updates rows instead of duplicating them); the
column types come from the resource's fields; incremental resources keep their checkpoint in
dlt's resource state, which dlt commits together with the load package, so a crash mid-load
is finished by the next run and a crash before it re-extracts. Needs the ``dlt`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, ConnectorError, DestinationError
from ..types import JSON
from .fanout import DEFAULT_CONCURRENCY, fan_out, find_child
from .incremental import Checkpoint
from .pull import Pull
from .spec import Child

if TYPE_CHECKING:
    from ..client import Connector
    from ..definitions import Operation, Resource

__all__ = ["list_operations", "run_pipeline", "source"]

_PAGE = 1_000
_TYPES = {
    "String": "text",
    "Integer": "bigint",
    "Number": "double",
    "Boolean": "bool",
    "DateTime": "timestamp",
    "Object": "json",
    "Array": "json",
}


def _dlt() -> Any:
    try:
        import dlt
    except ImportError:
        raise ConfigurationError(
            "loading into a destination needs dlt: pip install 'connector[dlt]'", setting="--to"
        ) from None
    return dlt


def list_operations(resource: Resource) -> list[str]:
    """The operations of ``resource`` that list records without a required input."""
    names = []
    for name, op in resource.operations.items():
        lists = op.pagination is not None or op.records is not None or name == "list"
        required = any(p.required for p in op.placeholders())
        if op.method == "GET" and op.response_format == "json" and lists and not required:
            names.append(name)
    return names


def _key_name(selector: object) -> str | None:
    """The top-level key a one-step selector names (``["id"]``, ``"id"``, ``"$.id"``)."""
    if isinstance(selector, list) and len(selector) == 1 and isinstance(selector[0], str):
        return selector[0]
    if isinstance(selector, str):
        key = selector.removeprefix("$.")
        return key if key.isidentifier() else None
    return None


def _column_of(resource: Resource, selector: object) -> str | None:
    """The column that holds what ``selector`` picks: the field with that selector, else the key."""
    for f in resource.fields:
        if _key_name(f.selector) is not None and _key_name(f.selector) == _key_name(selector):
            return f.name
    return None if resource.fields else _key_name(selector)


def _columns(resource: Resource) -> dict[str, Any]:
    return {f.name: {"data_type": _TYPES[f.type], "nullable": True} for f in resource.fields}


def _pages(records: Iterator[JSON]) -> Iterator[list[JSON]]:
    while page := list(islice(records, _PAGE)):
        yield page


def _table_name(handle: str, operation: str) -> str:
    return handle if operation == "list" else f"{handle}_{operation}"


def source(
    api: Connector,
    handles: Sequence[str] | None = None,
    *,
    operation: str | None = None,
    children: Sequence[str] | bool = True,
    incremental: bool = True,
    params: Mapping[str, JSON] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_items: int | None = None,
    name: str | None = None,
) -> Any:
    """A ``dlt`` source of the definition's list operations (``handles`` to choose some).

    ``operation`` picks one operation of each chosen resource instead of every list one;
    ``children`` adds the resources' children as transformers (True: all; a list: those
    names); ``incremental`` applies the operations' ``incremental`` blocks; ``params`` go to
    every listing.
    """
    dlt = _dlt()
    definition = api.definition
    chosen = [definition.resource(h) for h in handles] if handles else definition.resources
    resources: list[Any] = []
    for resource in chosen:
        operations = [operation] if operation else list_operations(resource)
        wanted = _children(resource, children)
        for op_name in operations:
            op = resource.operation(op_name)
            parent = _parent_resource(
                dlt, api, resource, op_name, op, params, incremental, max_items, wanted
            )
            resources.append(parent)
            if op_name == (operation or "list"):
                for child in wanted:
                    resources.append(
                        _child_resource(dlt, api, resource, child, parent, concurrency)
                    )
    source_name = name or (definition.connection.handle or "connector").replace("-", "_")
    return dlt.source(lambda: resources, name=source_name)()


def _children(resource: Resource, children: Sequence[str] | bool) -> list[Child]:
    if children is True:
        return list(resource.children)
    if children is False:
        return []
    return [find_child(resource, name) for name in children]


def _parent_resource(
    dlt: Any,
    api: Connector,
    resource: Resource,
    op_name: str,
    op: Operation,
    params: Mapping[str, JSON] | None,
    incremental: bool,
    max_items: int | None,
    children: list[Child],
) -> Any:
    use_cursor = incremental and op.incremental is not None
    hold = next((c for c in children if c.where is not None), None)

    def records() -> Iterator[list[JSON]]:
        state = dlt.current.resource_state()
        stored = state.get("checkpoint") if use_cursor else None
        pull = Pull(
            api,
            resource.handle,
            op_name,
            params,
            max_items=max_items,
            incremental=use_cursor,
            checkpoint=Checkpoint.from_json(stored) if stored else None,
            hold_for=hold,
        )
        yield from _pages(pull.records())
        checkpoint = pull.checkpoint()
        if checkpoint is not None:
            state["checkpoint"] = checkpoint.to_json()

    key = _column_of(resource, resource.id_field)
    return dlt.resource(
        records,
        name=_table_name(resource.handle, op_name),
        primary_key=key,
        write_disposition="merge" if key else "append",
        columns=_columns(resource),
    )


def _child_resource(
    dlt: Any, api: Connector, resource: Resource, child: Child, parent: Any, concurrency: int
) -> Any:
    target = api.definition.resource(child.handle or resource.handle)
    operation = target.operation(child.operation)
    shaped = operation.response_format != "jsonl" and bool(target.fields)
    child_key = None
    if child.id_field is not None:
        child_key = _column_of(target, child.id_field) if shaped else _key_name(child.id_field)
    key = [child.parent_key, child_key] if child_key else None

    def children(parents: list[JSON]) -> Iterator[list[JSON]]:
        yield from _pages(fan_out(api, resource.handle, child, parents, concurrency=concurrency))

    columns = _columns(target) if shaped else {}
    return dlt.transformer(
        children,
        data_from=parent,
        name=f"{resource.handle}_{child.name}",
        primary_key=key,
        write_disposition="merge" if key else "append",
        columns={child.parent_key: {"data_type": "text", "nullable": False}, **columns},
    )


def destination_of(to: str) -> tuple[Any, str]:
    """``duckdb:///path.duckdb`` → dlt's duckdb at that path; ``NAME://...`` → that
    destination with the URL as credentials; a bare name → the destination configured the
    dlt way (``.dlt/secrets.toml``, environment). Returns the destination and a safe label."""
    dlt = _dlt()
    scheme, sep, rest = to.partition("://")
    label = scheme if sep else to
    factory = getattr(dlt.destinations, scheme, None) if scheme.isidentifier() else None
    if factory is None:
        raise ConfigurationError(
            f"unknown dlt destination {label!r} (e.g. duckdb:///data.duckdb, postgres, bigquery)",
            setting="--to",
        )
    if not sep:
        return factory(), label
    if scheme == "duckdb":
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ConfigurationError("duckdb:/// needs a file path", setting="--to")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return factory(credentials=path), label
    return factory(credentials=to), label


def run_pipeline(
    api: Connector,
    handle: str,
    to: str,
    *,
    operation: str = "list",
    params: Mapping[str, JSON] | None = None,
    incremental: bool = False,
    full_refresh: bool = False,
    with_: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    pipeline_name: str | None = None,
    dataset_name: str | None = None,
    max_items: int | None = None,
    pipelines_dir: str | None = None,
) -> str:
    """Load ``handle.operation`` (and the ``with_`` child) into ``to``; a one-line summary."""
    dlt = _dlt()
    from dlt.pipeline.exceptions import PipelineStepFailed

    destination, label = destination_of(to)
    data = source(
        api,
        [handle],
        operation=operation,
        children=[with_] if with_ else False,
        incremental=incremental or full_refresh,
        params=params,
        concurrency=concurrency,
        max_items=max_items,
    )
    default_dataset = (api.definition.connection.handle or "connector").replace("-", "_")
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name or f"connector_{handle}",
        destination=destination,
        dataset_name=dataset_name or default_dataset,
        pipelines_dir=pipelines_dir,
    )
    try:
        info = pipeline.run(data, refresh="drop_resources" if full_refresh else None)
    except PipelineStepFailed as exc:
        cause = exc.exception
        while not isinstance(cause, ConnectorError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, ConnectorError):
            raise cause from None
        pending = (
            "; what was extracted stays pending and the next run loads it first"
            if exc.step in ("normalize", "load")
            else ""
        )
        detail = " ".join(_redact(str(cause), to).split())
        raise DestinationError(
            f"{label}: the dlt {exc.step} step failed: {type(cause).__name__}: {detail}{pending}",
            destination=label,
            stage=exc.step,
        ) from None
    rows = _row_counts(pipeline)
    loaded = ", ".join(f"{count} {table}" for table, count in rows.items()) or "nothing new"
    return f"loaded {loaded} into {label} ({pipeline.dataset_name}); {len(info.loads_ids)} load(s)"


def _redact(text: str, to: str) -> str:
    """``text`` without the destination URL's credentials (the user-info before ``@``)."""
    scheme, sep, rest = to.partition("://")
    userinfo = rest.split("@", 1)[0] if sep and "@" in rest.split("/", 1)[0] else ""
    if userinfo:
        text = text.replace(to, f"{scheme}://***@{rest.split('@', 1)[1]}")
        for secret in {userinfo, *userinfo.split(":", 1)[1:]}:
            if secret:
                text = text.replace(secret, "***")
    return text


def _row_counts(pipeline: Any) -> dict[str, int]:
    trace = pipeline.last_trace
    step = trace.last_normalize_info if trace is not None else None
    counts = step.row_counts if step is not None else {}
    return {t: n for t, n in counts.items() if not t.startswith("_dlt")}
