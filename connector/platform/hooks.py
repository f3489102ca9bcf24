"""Webhooks per connection: subscriptions, the event log, replay, delivery health, AsyncAPI.

Each connection has its own emitter store (:meth:`Runtime.hooks`), so these are the emitter's
own functions over it: a subscription's secret is answered once, when it is generated (on
create and rotate); the health is what ``connector status`` prints; the AsyncAPI document is
:func:`connector.asyncapi.webhooks_asyncapi` of the connection's definition.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.asyncapi import webhooks_asyncapi
from connector.emitter.commands import parse_moment
from connector.emitter.status import report
from connector.emitter.store import DELIVERY_STATUSES, DeliveryInfo, Store
from connector.emitter.views import rfc3339, subscription_json
from connector.errors import StoreError, SubscriptionError
from connector.platform.bodies import read_model
from connector.platform.connections import find_connection, runtime_of
from connector.platform.problems import HTTPProblem
from connector.types import JSON

__all__ = ["hook_routes"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSubscription(_Body):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    secret: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    since: Annotated[str, Field(max_length=100)] | None = None


class Rotation(_Body):
    secret: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class Disable(_Body):
    reason: Annotated[str, Field(max_length=500)] = "disabled through the service"


class Replay(_Body):
    subscription: Annotated[str, Field(max_length=100)] | None = None


class FailedReplay(_Body):
    since: Annotated[str, Field(max_length=100)] = "30d"
    until: Annotated[str, Field(max_length=100)] | None = None
    subscription: Annotated[str, Field(max_length=100)] | None = None


def _store(request: Request) -> Store:
    connection = find_connection(request)
    return runtime_of(request).hooks(connection.id)


def _subscription_id(request: Request, store: Store, key: str = "subscription") -> str:
    subscription_id = request.path_params.get(key) or ""
    try:
        store.get_subscription(subscription_id)
    except SubscriptionError:
        raise HTTPProblem(404, "not-found", "no such subscription") from None
    return subscription_id


def _delivery_json(delivery: DeliveryInfo) -> dict[str, JSON]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "subscription_id": delivery.subscription_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": rfc3339(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "updated_at": rfc3339(delivery.updated_at),
    }


def _moment(text: str | None, field: str) -> float | None:
    return None if text is None else parse_moment(text, time.time(), option=field)


async def list_subscriptions(request: Request) -> Response:
    store = _store(request)
    return JSONResponse(
        {"subscriptions": [subscription_json(s) for s in store.list_subscriptions()]}
    )


async def add_subscription(request: Request) -> Response:
    store = _store(request)
    body = await read_model(request, NewSubscription)
    since = _moment(body.since, "/since")
    sub = store.add_subscription(body.url, body.events, body.secret)
    shown = subscription_json(sub)
    if since is not None:
        shown["queued_from_history"] = store.queue_history(sub.id, since)
    if body.secret is None:
        shown["secret"] = sub.secrets[0]  # the only time it is answered
    return JSONResponse(shown, status_code=201)


async def read_subscription(request: Request) -> Response:
    store = _store(request)
    return JSONResponse(subscription_json(store.get_subscription(_subscription_id(request, store))))


async def remove_subscription(request: Request) -> Response:
    store = _store(request)
    store.remove_subscription(_subscription_id(request, store))
    return Response(status_code=204)


async def rotate_subscription(request: Request) -> Response:
    store = _store(request)
    subscription_id = _subscription_id(request, store)
    body = await read_model(request, Rotation)
    secret = store.rotate_secret(subscription_id, body.secret)
    shown: dict[str, JSON] = {"id": subscription_id, "rotated": True}
    if body.secret is None:
        shown["secret"] = secret
    return JSONResponse(shown)


async def enable_subscription(request: Request) -> Response:
    store = _store(request)
    subscription_id = _subscription_id(request, store)
    store.enable_subscription(subscription_id)
    return JSONResponse(subscription_json(store.get_subscription(subscription_id)))


async def disable_subscription(request: Request) -> Response:
    store = _store(request)
    subscription_id = _subscription_id(request, store)
    body = await read_model(request, Disable)
    store.disable_subscription(subscription_id, body.reason)
    return JSONResponse(subscription_json(store.get_subscription(subscription_id)))


def _limit(request: Request, default: int) -> int:
    text = request.query_params.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise HTTPProblem(
            422,
            "invalid-input",
            "?limit is a whole number from 1 to 10000",
            errors=[{"location": "?limit", "message": "expected 1..10000"}],
        )
    return int(text)


def _status(request: Request) -> str | None:
    status = request.query_params.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise HTTPProblem(
            422,
            "invalid-input",
            f"?status is one of {', '.join(DELIVERY_STATUSES)}",
            errors=[{"location": "?status", "message": "unknown status"}],
        )
    return status


async def list_events(request: Request) -> Response:
    store = _store(request)
    events = store.list_events(_status(request), _limit(request, 100))
    return JSONResponse(
        {
            "events": [
                {
                    "id": info.event.id,
                    "type": info.event.type,
                    "resource": info.event.resource,
                    "record_id": info.event.record_id,
                    "created_at": rfc3339(info.event.created_at),
                    "deliveries": [_delivery_json(d) for d in info.deliveries],
                }
                for info in events
            ]
        }
    )


async def list_deliveries(request: Request) -> Response:
    store = _store(request)
    subscription = request.query_params.get("subscription")
    deliveries = store.list_deliveries(
        status=_status(request),
        event_id=request.query_params.get("event"),
        subscription_id=subscription,
        limit=_limit(request, 1000),
    )
    shown = []
    for delivery in deliveries:
        line = _delivery_json(delivery)
        line["log"] = [
            {
                "attempted_at": rfc3339(a.attempted_at),
                "status": a.status,
                "latency_ms": round(a.latency_ms, 1),
                "error": a.error,
            }
            for a in store.list_attempts(delivery.id)
        ]
        shown.append(line)
    return JSONResponse({"deliveries": shown})


async def replay_event(request: Request) -> Response:
    store = _store(request)
    body = await read_model(request, Replay)
    event = request.path_params["event"]
    if body.subscription is not None:
        try:
            store.get_subscription(body.subscription)
        except SubscriptionError:
            raise HTTPProblem(
                422,
                "invalid-input",
                "no such subscription",
                errors=[{"location": "/subscription", "message": "unknown subscription"}],
            ) from None
    try:
        queued = store.replay(event, body.subscription)
    except StoreError:  # the only one replay raises once the subscription is known: no event
        raise HTTPProblem(404, "not-found", "no such event") from None
    return JSONResponse({"event": event, "queued": queued}, status_code=202)


async def replay_failed(request: Request) -> Response:
    store = _store(request)
    body = await read_model(request, FailedReplay)
    since = _moment(body.since, "/since")
    assert since is not None
    queued = store.replay_failed(since, _moment(body.until, "/until"), body.subscription)
    return JSONResponse({"queued": queued}, status_code=202)


async def health(request: Request) -> Response:
    store = _store(request)
    now = time.time()
    max_wait_text = request.query_params.get("max_wait", "3600")
    try:
        max_wait = float(max_wait_text)
    except ValueError:
        max_wait = -1.0
    if not max_wait >= 0:
        raise HTTPProblem(
            422,
            "invalid-input",
            "?max_wait is seconds",
            errors=[{"location": "?max_wait", "message": "expected a number of seconds"}],
        )
    found = report(store, now, max_wait)
    return JSONResponse(
        {
            "subscriptions": found.subscriptions,
            "quarantined": found.quarantined,
            "feeds": found.feeds,
            "totals": found.totals,
        }
    )


async def definition_asyncapi(request: Request) -> Response:
    runtime = runtime_of(request)
    definition = runtime.definition(request.path_params["definition"])
    if definition is None:
        raise HTTPProblem(404, "not-found", "no such definition")
    return JSONResponse(webhooks_asyncapi(definition))


def hook_routes() -> list[BaseRoute]:
    """The routes of this module."""
    base = "/v1/connections/{connection}"
    return [
        Route(base + "/subscriptions", list_subscriptions, methods=["GET"]),
        Route(base + "/subscriptions", add_subscription, methods=["POST"]),
        Route(base + "/subscriptions/{subscription}", read_subscription, methods=["GET"]),
        Route(base + "/subscriptions/{subscription}", remove_subscription, methods=["DELETE"]),
        Route(base + "/subscriptions/{subscription}/rotate", rotate_subscription, methods=["POST"]),
        Route(base + "/subscriptions/{subscription}/enable", enable_subscription, methods=["POST"]),
        Route(
            base + "/subscriptions/{subscription}/disable", disable_subscription, methods=["POST"]
        ),
        Route(base + "/events", list_events, methods=["GET"]),
        Route(base + "/events/replay-failed", replay_failed, methods=["POST"]),
        Route(base + "/events/{event}/replay", replay_event, methods=["POST"]),
        Route(base + "/deliveries", list_deliveries, methods=["GET"]),
        Route(base + "/health", health, methods=["GET"]),
        Route("/v1/definitions/{definition}/asyncapi", definition_asyncapi, methods=["GET"]),
    ]
