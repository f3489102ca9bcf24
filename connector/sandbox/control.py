"""The control endpoints under ``/_sandbox``: no API key, JSON in and out.

``GET /_sandbox/state``            counts, the time, the fault plan, every batch's status
``GET|POST|DELETE /_sandbox/faults`` read, replace or clear the fault plan
``POST /_sandbox/models``          add a model (``{"id", "display_name"?, "aliases"?}``)
``POST /_sandbox/clock/advance``   move time forward (``{"seconds": 3600}``)
``POST /_sandbox/batches/{id}/expire`` make a batch reach its ``expires_at`` now
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.errors import ConfigurationError

from .api import read_json, sandbox_of
from .clock import format_time
from .faults import FaultInjector, FaultPlan
from .wire import api_error, json_response

__all__ = ["control_routes"]

_CONTROL_LIMIT = 2**20


def _injector(request: Request) -> FaultInjector:
    injector: FaultInjector = request.app.state.faults
    return injector


async def show_state(request: Request) -> Response:
    """A summary for humans and tests."""
    state = sandbox_of(request)
    base = f"{request.url.scheme}://{request.url.netloc}/v1"
    with state.lock:
        batches = [state.batch_view(b, base) for _, b in state.batches.newest_first()]
        counts = {
            "files": len(state.files),
            "skills": len(state.skills),
            "models": len(state.models),
        }
    statuses: dict[str, int] = {}
    for view in batches:
        statuses[view["processing_status"]] = statuses.get(view["processing_status"], 0) + 1
    return json_response(
        {
            "now": format_time(state.now()),
            "batch_seconds": state.batch_seconds,
            "batches": {"total": len(batches), "by_status": statuses},
            **counts,
            "faults": _injector(request).plan.to_json(),
        }
    )


async def show_faults(request: Request) -> Response:
    """The plan in force, with how many faults each rule has injected."""
    return json_response(_injector(request).plan.to_json())


async def replace_faults(request: Request) -> Response:
    """Put a new plan in force (``{"seed", "rules": [...]}`` or one bare rule)."""
    body = await read_json(request, _CONTROL_LIMIT)
    try:
        plan = FaultPlan.from_json(body)
    except ConfigurationError as error:
        raise api_error(400, str(error)) from None
    _injector(request).replace(plan)
    return json_response(plan.to_json())


async def clear_faults(request: Request) -> Response:
    """Switch every fault off."""
    _injector(request).replace(FaultPlan())
    return json_response(FaultPlan().to_json())


async def add_model(request: Request) -> Response:
    """Add a model at runtime (for ``models.created`` events)."""
    body = await read_json(request, _CONTROL_LIMIT)
    model_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(model_id, str) or not model_id:
        raise api_error(400, "id: Field required (the new model's id)")
    created = body.get("created_at")
    try:
        created_at = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        raise api_error(400, f"created_at: not an RFC 3339 time (found {created!r})") from None
    aliases = body.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise api_error(400, "aliases: must be a list of strings")
    lifecycle = body.get("lifecycle", "active")
    if lifecycle not in ("active", "deprecated", "retired"):
        raise api_error(400, "lifecycle: one of active, deprecated, retired")
    record = sandbox_of(request).add_model(
        model_id,
        body.get("display_name"),
        created_at=created_at,
        aliases=aliases,
        lifecycle=lifecycle,
    )
    return json_response(record.to_json(), status=201)


_MAX_ADVANCE = 100 * 365.25 * 86400


async def advance_clock(request: Request) -> Response:
    """Move time forward by ``seconds``."""
    body = await read_json(request, _CONTROL_LIMIT)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= _MAX_ADVANCE
    ):
        raise api_error(
            400, f"seconds: a number of seconds from 0 to {_MAX_ADVANCE:.0f} (about 100 years)"
        )
    try:
        now = sandbox_of(request).advance(float(seconds))
    except (OverflowError, ValueError):
        raise api_error(400, "seconds: that moves the clock past the year 9999") from None
    return json_response({"now": format_time(now)})


async def expire_batch(request: Request) -> Response:
    """Make a batch reach its ``expires_at`` now: unfinished requests end ``expired``."""
    state = sandbox_of(request)
    batch_id = request.path_params["batch_id"]
    state.set_batch_expiry(batch_id, state.now())
    base = f"{request.url.scheme}://{request.url.netloc}/v1"
    return json_response(state.batch_view(state.batch(batch_id), base))


def control_routes() -> list[BaseRoute]:
    """The routes of this module, relative to ``/_sandbox``."""
    return [
        Route("/state", show_state, methods=["GET"]),
        Route("/faults", show_faults, methods=["GET"]),
        Route("/faults", replace_faults, methods=["POST", "PUT"]),
        Route("/faults", clear_faults, methods=["DELETE"]),
        Route("/models", add_model, methods=["POST"]),
        Route("/clock/advance", advance_clock, methods=["POST"]),
        Route("/batches/{batch_id}/expire", expire_batch, methods=["POST"]),
    ]
