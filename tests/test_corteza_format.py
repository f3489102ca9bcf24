"""The Corteza Connections format as Corteza writes it: what loads, what it means, and what is
refused plainly; plus the load-time checks (undeclared endpoint placeholders, defaults typed
at load, filter segments in selectors)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from connector import Connector, DefinitionError, load_definition
from connector.definitions import Definition
from connector.selectors import Selector


def document(**service: Any) -> dict[str, Any]:
    return {
        "handle": "crm",
        "service": {"baseURL": "http://api.test", **service},
        "resources": [
            {
                "handle": "contacts",
                "endpoint": "/contacts",
                "fields": [{"name": "id", "selector": ["id"]}],
                "operations": {
                    "create": {
                        "method": "POST",
                        "bodyTemplate": {
                            "value": '{"name": {{name}}, "tags": ["a", "b"], "meta": {"vip": true}, "gone": null}',
                            "placeholders": [{"name": "name", "required": True}],
                        },
                        "responseMap": {"contact": "data.id", "first_tag": "$.data.tags[0]"},
                    },
                    "list": {
                        "method": "GET",
                        "queryParams": {
                            "value": {"priority": "{{priority}}"},
                            "placeholders": [
                                {"name": "priority", "type": "Number", "default": "1"}
                            ],
                        },
                    },
                },
            }
        ],
    }


def send(definition: Definition, *call: Any, **options: Any) -> tuple[Any, httpx.Request]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"id": "c1", "tags": ["x", "y"]}})

    with Connector(definition, transport=httpx.MockTransport(handler), **options) as api:
        result = api.call(*call)
    return result, seen[0]


def refused(data: Any) -> str:
    with pytest.raises(DefinitionError) as caught:
        load_definition(data)
    return str(caught.value)


def test_a_corteza_export_loads_and_its_stored_metadata_is_noted() -> None:
    data = {
        **document(),
        "connectionID": "3171",
        "revision": 4,
        "status": "active",
        "createdAt": "2026-01-01T00:00:00Z",
        "labels": {"team": "sales"},
    }
    definition = load_definition(data)
    assert definition.notes == [
        "connectionID: stored-connection metadata, ignored",
        "createdAt: stored-connection metadata, ignored",
        "labels: stored-connection metadata, ignored",
        "revision: stored-connection metadata, ignored",
        "status: stored-connection metadata, ignored",
    ]


def test_templated_service_blocks_and_connection_params() -> None:
    data = document(
        baseURL={
            "value": "http://{{region}}.api.test/v{{version}}",
            "placeholders": [
                {"name": "region", "required": True},
                {"name": "version", "type": "Integer", "default": 2},
            ],
        },
        headers={"x-tenant": {"value": "{{region}}-tenant"}},
        auth={
            "method": "api_token",
            "params": {"header": "x-key", "token": {"value": "{{ env.KEY }}"}},
        },
        variables={"apiKey": "KEY"},
    )
    definition = load_definition(data)
    assert [p.name for p in definition.service.params] == ["region", "version"]  # type: ignore[union-attr]
    _, request = send(definition, "contacts", "list", env={"KEY": "k1"}, settings={"region": "eu"})
    assert str(request.url) == "http://eu.api.test/v2/contacts?priority=1"
    assert request.headers["x-tenant"] == "eu-tenant" and request.headers["x-key"] == "k1"


def test_a_connection_param_can_come_from_its_declared_variable() -> None:
    data = document(
        params=[{"name": "tenant", "required": True}],
        variables={"tenant": "CRM_TENANT"},
    )
    data["resources"][0]["endpoint"] = "/t/{{tenant}}/contacts"
    definition = load_definition(data)
    _, request = send(definition, "contacts", "list", env={"CRM_TENANT": "acme"})
    assert request.url.path == "/t/acme/contacts"


def test_form_and_multipart_bodies() -> None:
    form = load_definition(document(contentType="application/x-www-form-urlencoded"))
    result, request = send(form, "contacts", "create", {"name": "Ann"})
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(request.content.decode()) == [
        ("name", "Ann"),
        ("tags[0]", "a"),
        ("tags[1]", "b"),
        ("meta[vip]", "true"),
    ]
    assert result == {"contact": "c1", "first_tag": "x"}  # responseMap
    multipart = load_definition(document(contentType="multipart/form-data"))
    _, request = send(multipart, "contacts", "create", {"name": "Ann"})
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="meta[vip]"\r\n\r\ntrue' in request.read()


def test_defaults_are_typed_at_load_and_sent_like_given_values() -> None:
    definition = load_definition(document())
    placeholder = definition.resource("contacts").operation("list").query_params.placeholders[0]  # type: ignore[union-attr]
    assert placeholder.default == 1
    bad = document()
    bad["resources"][0]["operations"]["list"]["queryParams"]["placeholders"][0]["default"] = "x"
    assert "queryParams.placeholders[0].default: the default is not a Number" in refused(bad)


def test_an_undeclared_endpoint_placeholder_is_refused_at_load() -> None:
    data = document()
    data["resources"][0]["endpoint"] = "/t/{{tenant}}/contacts"
    message = refused(data)
    assert "resources[0].endpoint: the endpoint uses 'tenant'" in message


def test_webhook_mapping_becomes_payload_fields() -> None:
    data = document()
    data["resources"][0]["webhooks"] = [
        {"event": "contacts.created", "path": "/w", "mapping": {"who": "owner.name"}}
    ]
    webhook = load_definition(data).resources[0].webhooks[0]
    assert [(f.name, f.selector) for f in webhook.payload] == [("who", ["owner", "name"])]


def test_unsupported_parts_are_refused_plainly_where_they_are() -> None:
    data = document(auth={"method": "oauth2_authorization_code", "params": {}})
    data["operations"] = [
        {"handle": "mail", "steps": [{"type": "mime_build", "mime_build": {"to": "x"}}]}
    ]
    message = refused(data)
    assert "operations[0].steps[0].type: not supported: 'mime_build' steps" in message
    assert "service.auth.method: not supported: oauth2_authorization_code" in message
    assert "protocol" in refused(document(protocol="grpc"))


def test_unknown_keys_never_suggest_themselves_and_known_ones_say_where_they_go() -> None:
    data = document()
    data["resources"][0]["operations"]["list"]["webhooks"] = []
    data["resources"][0]["paginaton"] = {}
    message = refused(data)
    assert (
        "operations.list.webhooks: unknown key 'webhooks'; 'webhooks' is not valid here: it belongs in a resource"
        in message
    )
    assert "unknown key 'paginaton'; did you mean 'pagination'?" in message


def test_filter_segments_select_or_are_refused() -> None:
    selector = Selector(["payload", "headers[name=From]", "value"])
    message = {
        "payload": {"headers": [{"name": "To", "value": "a"}, {"name": "From", "value": "b"}]}
    }
    assert selector.select(message) == "b"
    assert selector.select({"payload": {"headers": []}}) is None
    field = document()
    field["resources"][0]["fields"] = [
        {"name": "sender", "selector": ["headers[name=From]", "value"]}
    ]
    definition = load_definition(field)
    assert (
        definition.resources[0].compiled.shape({"headers": [{"name": "From", "value": "c"}]})[
            "sender"
        ]
        == "c"
    )
    assert json.dumps(selector.spec).startswith('"$')


MULTISTEP = {
    "handle": "tag_new_contact",
    "input": [{"name": "name", "required": True}, {"name": "tag", "required": True}],
    "output": [
        {"name": "contact_id"},
        {"name": "tags", "type": "Array", "selector": ["tags"]},
    ],
    "steps": [
        {
            "type": "http",
            "http": {
                "method": "POST",
                "path": "/contacts",
                "bodyTemplate": '{"name": {{name}}}',
                "responseMap": {"contact_id": "data.id"},
            },
        },
        {
            "type": "http",
            "http": {
                "method": "POST",
                "path": "/contacts/{{contact_id}}/tags",
                "bodyTemplate": '{"tag": {{tag}}}',
            },
        },
    ],
}


def test_multi_step_operations_run_their_steps_in_order() -> None:
    data = document()
    data["operations"] = [MULTISTEP]
    definition = load_definition(data)
    assert [r.handle for r in definition.resources] == ["contacts"]  # the steps stay hidden
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/contacts":
            return httpx.Response(200, json={"data": {"id": "c9"}})
        return httpx.Response(200, json={"id": "c9", "tags": [json.loads(request.content)["tag"]]})

    with Connector(definition, transport=httpx.MockTransport(handler)) as api:
        outputs = api.run("tag_new_contact", {"name": "Ann", "tag": "vip"})
        assert outputs == {"contact_id": "c9", "tags": ["vip"]}
        from connector import InputError

        with pytest.raises(InputError, match="tag"):
            api.run("tag_new_contact", {"name": "Ann"})
        with pytest.raises(InputError, match="known: tag_new_contact"):
            api.run("nope")
    assert [r.url.path for r in seen] == ["/contacts", "/contacts/c9/tags"]
    assert json.loads(seen[0].content) == {"name": "Ann"}


def test_a_step_template_reading_an_unknown_name_is_refused_at_load() -> None:
    data = document()
    bad = json.loads(json.dumps(MULTISTEP))
    bad["steps"][1]["http"]["path"] = "/contacts/{{contact}}/tags"
    data["operations"] = [bad]
    assert "operations[0].steps[1].http.path" in refused(data)


def test_a_poll_spec_makes_the_webhook_a_feed_with_its_filter() -> None:
    from connector.emitter.triggers import compile_feeds, resource_rules

    data = document()
    poll = {
        "list": {"method": "GET", "path": "/contacts/changes?since={{cursor}}"},
        "items": ["changes", "*"],
        "cursor": ["next"],
        "filter": {"field": ["labels"], "contains": "INBOX"},
    }
    data["resources"][0]["webhooks"] = [
        {"event": "contacts.arrived", "path": "/w", "poll": poll, "payload": []}
    ]
    definition = load_definition(data)
    assert definition.notes[0].startswith("resources[0].webhooks[0].poll: runs as a feed trigger")
    assert resource_rules(definition.resources[0]) == []  # not a listing diff
    (feed,) = compile_feeds(definition.resources[0])
    assert feed.event == "contacts.arrived" and feed.max_pages == 50
    assert feed.items.select({"changes": [1, 2]}) == [1, 2]  # `changes.*` names the list
    assert feed.passes({"labels": ["INBOX", "X"]})
    assert not feed.passes({"labels": ["SPAM"]})
    assert feed.passes({"labels": "INBOX"})
    assert "list" in definition.resource(feed.handle).operations


def test_a_poll_spec_is_checked_where_it_is_written() -> None:
    data = document()
    poll = {
        "list": {"path": "/changes?since={{cursr}}"},
        "items": "$.changes[",
        "cursor": ["next"],
        "filter": {"field": "labels"},
        "maxPages": 0,
    }
    data["resources"][0]["webhooks"] = [{"event": "contacts.arrived", "path": "/w", "poll": poll}]
    assert "resources[0].webhooks[0].poll.maxPages" in refused(data)
    del poll["maxPages"]
    message = refused(data)
    assert "resources[0].webhooks[0].poll.list.path: template uses 'cursr'" in message
    assert "resources[0].webhooks[0].poll.filter: a filter compares" in message
    assert "resources[0].webhooks[0].poll.items" in message
