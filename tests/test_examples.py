"""The example definitions against local fakes of their APIs on real uvicorn servers:
``describe``, every operation called, a complete pull, and the emitter's created, transition
and deleted events delivered to a verifying receiver; the mailbox's feed (a Corteza ``poll``
spec over a Gmail-history-style fake) delivers its events the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from example_fakes import (
    CLIENT,
    TOKEN,
    GitHub,
    Helpdesk,
    Stripe,
    github_app,
    helpdesk_app,
    serve,
    stripe_app,
)
from feed_fake import Mailbox, mail_app

from connector import (
    AsyncConnector,
    BadRequestError,
    Connector,
    NotFoundError,
    UnprocessableEntityError,
    load_definition,
)
from connector.cli import main
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.poller import Poller
from connector.emitter.signing import generate_secret
from connector.emitter.store_sqlite import SQLiteStore
from connector.receiver import ReceivedEvent, create_receiver_app

EXAMPLES = Path(__file__).resolve().parent.parent / "definitions" / "examples"
GITHUB = EXAMPLES / "github-issues.json"
STRIPE = EXAMPLES / "stripe-customers.json"
HELPDESK = EXAMPLES / "helpdesk-oauth.json"
MAILBOX = EXAMPLES / "mailbox-feed.json"

pytestmark = pytest.mark.slow


@pytest.fixture
def github() -> Iterator[tuple[GitHub, dict[str, Any]]]:
    state = GitHub()
    with serve(github_app(state)) as url:
        options = {
            "base_url": url,
            "api_key": TOKEN,
            "settings": {"owner": "octo", "repo": "hello"},
        }
        yield state, options


@pytest.fixture
def stripe() -> Iterator[tuple[Stripe, dict[str, Any]]]:
    state = Stripe()
    with serve(stripe_app(state)) as url:
        yield state, {"base_url": url, "api_key": "sk_test_123"}


@pytest.fixture
def helpdesk() -> Iterator[tuple[Helpdesk, dict[str, Any]]]:
    state = Helpdesk()
    with serve(helpdesk_app(state)) as url:
        env = {"HELPDESK_CLIENT_ID": CLIENT[0], "HELPDESK_CLIENT_SECRET": CLIENT[1]}
        yield state, {"base_url": url, "env": env, "settings": {"tenant": "acme"}}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("path", [GITHUB, STRIPE, HELPDESK, MAILBOX], ids=lambda p: p.stem)
def test_describe_every_example(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, _ = cli(capsys, "--definition", str(path), "describe", "--json")
    assert code == 0
    handles = {r["handle"] for r in json.loads(out)}
    assert handles == {r.handle for r in load_definition(path).resources}


# GitHub -----------------------------------------------------------------------------------


def test_github_every_operation(github: tuple[GitHub, dict[str, Any]]) -> None:
    _state, options = github
    with Connector(GITHUB, **options) as api:
        made = api.call("issues", "create", {"title": "Crash on start", "body": "trace"})
        assert made["number"] == 1 and made["state"] == "open" and made["author"] == "octocat"
        assert api.call("issues", "read", {"issue_number": 1})["title"] == "Crash on start"
        closed = api.call("issues", "update", {"issue_number": 1, "state": "closed"})
        assert closed["state"] == "closed"
        assert [i["number"] for i in api.call("issues", "list")] == [1]
        with pytest.raises(UnprocessableEntityError) as caught:
            api.call("issues", "create", {"title": ""})
        assert "Validation Failed" in str(caught.value) and "missing_field" in str(caught.value)
        assert caught.value.request_id == "GH:1"
        with pytest.raises(NotFoundError):
            api.call("issues", "read", {"issue_number": 99})


def test_github_complete_pull_follows_link_headers(
    capsys: pytest.CaptureFixture[str], github: tuple[GitHub, dict[str, Any]]
) -> None:
    state, options = github
    for n in range(1, 251):
        state.add(f"issue {n}")
    with Connector(GITHUB, **options) as api:
        listing = api.listing("issues", page_size=1000)  # clamped to maxPageSize 100
        numbers = [i["number"] for i in listing]
    assert numbers == list(range(250, 0, -1))
    assert listing.complete and listing.pages_read == 3
    argv = ["--definition", str(GITHUB), "--base-url", options["base_url"], "--api-key", TOKEN]
    argv += ["--set", "owner=octo", "--set", "repo=hello", "pull", "issues"]
    code, out, err = cli(capsys, *argv)
    assert code == 0 and len(out.splitlines()) == 250
    assert "250 issues" in err
    code, out, err = cli(capsys, *argv, "--max-pages", "2")  # asked for: reported, exit 0
    assert code == 0 and len(out.splitlines()) == 200  # the largest page: per_page=100
    assert "stopped after 2 page(s), more remain" in err


def test_a_pull_that_hits_the_safety_cap_fails(
    capsys: pytest.CaptureFixture[str],
    github: tuple[GitHub, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, options = github
    for n in range(140):
        state.add(f"issue {n}")
    monkeypatch.setattr("connector.pulls.pull.PAGE_CAP", 1)
    argv = ["--definition", str(GITHUB), "--base-url", options["base_url"], "--api-key", TOKEN]
    argv += ["--set", "owner=octo", "--set", "repo=hello", "pull", "issues"]
    code, out, err = cli(capsys, *argv)
    assert code == 1 and len(out.splitlines()) == 100  # never a silent truncation
    assert "the safety cap: pass --max-pages" in err


def test_github_check(
    capsys: pytest.CaptureFixture[str], github: tuple[GitHub, dict[str, Any]]
) -> None:
    _, options = github
    argv = ["--definition", str(GITHUB), "--base-url", options["base_url"], "--api-key", TOKEN]
    code, out, _ = cli(capsys, *argv, "--set", "owner=octo", "--set", "repo=hello", "check")
    assert code == 0 and out.splitlines() == [
        "connectivity: ok (HTTP 200)",
        "auth: ok (accepted)",
        "probe: ok (HTTP 200, expected 200)",
    ]
    code, out, _ = cli(
        capsys, *argv[:-1], "wrong", "--set", "owner=octo", "--set", "repo=x", "check"
    )
    assert code == 1 and "auth: FAILED (HTTP 401)" in out


# Stripe -----------------------------------------------------------------------------------


def test_stripe_every_operation(stripe: tuple[Stripe, dict[str, Any]]) -> None:
    _state, options = stripe
    with Connector(STRIPE, **options) as api:
        made = api.call(
            "customers", "create", {"email": "a@example.com", "name": "Ann", "plan": "pro"}
        )
        assert made["plan"] == "pro" and made["id"].startswith("cus_")
        cid = made["id"]
        assert api.call("customers", "read", {"id": cid})["email"] == "a@example.com"
        assert api.call("customers", "update", {"id": cid, "plan": "team"})["plan"] == "team"
        assert [c["id"] for c in api.call("customers", "list")] == [cid]
        assert api.call("customers", "delete", {"id": cid}) == {
            "id": cid,
            "object": "customer",
            "deleted": True,
        }
        with pytest.raises(BadRequestError) as caught:
            api.call("customers", "create", {"email": "not-an-email"})
        assert "Invalid email address" in str(caught.value) and caught.value.request_id == "req_err"


def test_stripe_create_carries_one_idempotency_key_per_call(
    stripe: tuple[Stripe, dict[str, Any]],
) -> None:
    state, options = stripe
    with Connector(STRIPE, **options) as api:
        api.call("customers", "create", {"email": "a@example.com"})
        api.call("customers", "create", {"email": "b@example.com"})
    assert len(state.replays) == 2 and len(state.customers) == 2


def test_stripe_complete_pull_with_starting_after(stripe: tuple[Stripe, dict[str, Any]]) -> None:
    state, options = stripe
    for n in range(230):
        state.add({"email": f"c{n}@example.com"})
    with Connector(STRIPE, **options) as api:
        listing = api.listing("customers", page_size=1000)
        ids = [c["id"] for c in listing]
    assert ids == state.order and len(set(ids)) == 230
    assert listing.complete and listing.pages_read == 3


# Helpdesk (OAuth2) ------------------------------------------------------------------------


def test_helpdesk_every_operation_with_one_token(helpdesk: tuple[Helpdesk, dict[str, Any]]) -> None:
    state, options = helpdesk
    state.agents = [{"id": n, "name": f"agent {n}"} for n in range(1, 24)]
    with Connector(HELPDESK, **options) as api:
        made = api.call("tickets", "create", {"subject": "Printer on fire", "priority": 1})
        tid = made["id"]
        assert api.call("tickets", "read", {"id": tid})["subject"] == "Printer on fire"
        assert api.call("tickets", "solve", {"id": tid})["status"] == "solved"
        assert [t["id"] for t in api.call("tickets", "list")] == [tid]
        api.call("tickets", "delete", {"id": tid})
        with pytest.raises(NotFoundError) as caught:
            api.call("tickets", "read", {"id": tid})
        assert "ticket not found" in str(caught.value)
        agents = api.listing("agents", page_size=5)
        assert [a["id"] for a in agents] == list(range(1, 24)) and agents.pages_read == 5
    assert state.token_requests == 1


def test_helpdesk_complete_offset_pull_and_refresh_after_revocation(
    helpdesk: tuple[Helpdesk, dict[str, Any]],
) -> None:
    state, options = helpdesk
    for n in range(1, 452):
        state.add(f"t{n}")
    with Connector(HELPDESK, **options) as api:
        listing = api.listing("tickets", page_size=1000)  # clamped to 200
        first = [t["id"] for t in listing]
        state.tokens.clear()  # the provider revokes every token
        again = [t["id"] for t in api.iterate("tickets", page_size=200)]
    assert first == again == list(range(451, 0, -1))
    assert listing.complete and listing.pages_read == 3  # the total ends the walk
    assert state.token_requests == 2


# The emitter over every example -------------------------------------------------------------


def _emit(
    path: Path, handle: str, options: dict[str, Any], tmp: Path, change: Any
) -> list[ReceivedEvent]:
    """Baseline poll, ``change()`` the fake, poll again, deliver to a verifying receiver."""
    secret = generate_secret()
    got: list[ReceivedEvent] = []
    with serve(create_receiver_app(secret, handlers={"*": got.append})) as receiver:

        async def run() -> None:
            with SQLiteStore(tmp / "state.db", guard=Guard(allow_private=True)) as store:
                store.add_subscription(receiver, secret=secret)
                async with AsyncConnector(path, **options) as api:
                    poller = Poller(api, store, handle)
                    assert (await poller.poll()).complete
                    change()
                    result = await poller.poll()
                    assert result.ok and result.complete, result.error
                async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
                    outcomes = await deliverer.drain()
                assert {o.result for o in outcomes} == {"delivered"}

        anyio.run(run)
    return got


def test_github_events(tmp_path: Path, github: tuple[GitHub, dict[str, Any]]) -> None:
    state, options = github
    for n in range(5):
        state.add(f"old {n}")

    def change() -> None:
        state.add("brand new")
        state.issues[2]["state"] = "closed"
        del state.issues[3]  # an admin deletes it in the web UI

    got = _emit(GITHUB, "issues", options, tmp_path, change)
    assert sorted((e.type, json.dumps(e.data, sort_keys=True)) for e in got) == [
        ("issues.closed", '{"number": 2}'),
        ("issues.deleted", '{"number": 3}'),
        ("issues.opened", '{"number": 6, "title": "brand new"}'),
    ]


def test_stripe_events(tmp_path: Path, stripe: tuple[Stripe, dict[str, Any]]) -> None:
    state, options = stripe
    old = [state.add({"email": f"o{n}@example.com"})["id"] for n in range(4)]

    def change() -> None:
        state.add({"email": "new@example.com"})
        state.customers[old[0]]["delinquent"] = True
        del state.customers[old[1]]
        state.order.remove(old[1])

    got = _emit(STRIPE, "customers", options, tmp_path, change)
    kinds = {e.type: e.data for e in got}
    assert set(kinds) == {"customer.created", "customer.delinquent", "customer.deleted"}
    assert kinds["customer.created"]["email"] == "new@example.com"
    created = next(e for e in got if e.type == "customer.created")
    assert created.timestamp.startswith("2023-11-14T22:13:24")  # its `created`, 1700000004
    assert kinds["customer.delinquent"] == {"id": old[0]}
    assert kinds["customer.deleted"] == {"id": old[1], "email": "o1@example.com"}  # as last seen


def test_helpdesk_events(tmp_path: Path, helpdesk: tuple[Helpdesk, dict[str, Any]]) -> None:
    state, options = helpdesk
    for n in range(6):
        state.add(f"old {n}")

    def change() -> None:
        state.add("new one")
        state.tickets[1].update(status="solved", solved_at="2026-01-02T00:00:00Z")
        del state.tickets[2]

    got = _emit(HELPDESK, "tickets", options, tmp_path, change)
    assert sorted(e.type for e in got) == ["tickets.created", "tickets.deleted", "tickets.solved"]
    solved = next(e for e in got if e.type == "tickets.solved")
    assert solved.timestamp.startswith("2026-01-02")  # the API's own solved_at


def test_mailbox_feed_events(tmp_path: Path) -> None:
    box = Mailbox(token=TOKEN)  # every call, the feed's too, must carry the token
    box.deliver("before the baseline")
    with serve(mail_app(box)) as url:

        def change() -> None:
            box.deliver("hello")
            box.deliver("buy now", labels=("SPAM",))  # filtered out by the poll spec
            for n in range(3):
                box.deliver(f"news {n}")  # past the fake's 2-item pages: the page token

        got = _emit(MAILBOX, "messages", {"base_url": url, "api_key": TOKEN}, tmp_path, change)
    assert sorted(e.data["subject"] for e in got) == ["hello", "news 0", "news 1", "news 2"]
    assert {e.type for e in got} == {"messages.received"}
    hello = next(e for e in got if e.data["subject"] == "hello")
    assert hello.data == {"id": "m2", "subject": "hello", "from": "ann@example.com"}  # enriched
    assert hello.timestamp == box.messages["m2"]["received_at"]  # the API's own time
    assert "message m3" not in box.requests  # the spam was never read


@pytest.mark.parametrize("path", [GITHUB, STRIPE, HELPDESK, MAILBOX], ids=lambda p: p.stem)
def test_every_example_exports_valid_openapi(path: Path) -> None:
    from openapi_spec_validator import validate

    from connector.openapi import definition_openapi

    document = definition_openapi(load_definition(path))
    validate(document)
    if path == HELPDESK:  # its connection parameter stays a server variable
        (server,) = document["servers"]
        assert server["url"].endswith("/api/{tenant}") and "tenant" in server["variables"]
