"""The web console in a real headless Chromium (the distribution's, driven by Playwright):
create a connection to the sandbox, submit a batch from the rendered form, see it in the
table; page through a list; subscribe and replay from the delivery log; a feed trigger's
health (its cursor, then its problem)."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from emitter_support import Delivery, recording_receiver
from feed_fake import MAIL, Mailbox, mail_app
from platform_support import ServiceServer, running_service, sandbox, service_for

from connector.emitter.signing import generate_secret
from connector.emitter.store import build_event
from connector.sandbox.server import SandboxServer

CHROMIUM = os.environ.get("CONNECTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# CONNECTOR_SCREENSHOT=1 refreshes the picture in docs/; otherwise it goes to a temporary file.
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "service-console.png"

# Playwright's Python client is in the dev extra; off CI a checkout without it skips, with
# the install to run, while on CI a missing client fails like a missing browser.
if os.environ.get("CI"):
    import playwright.sync_api as playwright_api
else:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright's client: pip install -e '.[dev]'"
    )
pytestmark = [
    pytest.mark.slow,
    # Skipped only off CI: there `.ci/run` installs Chromium, and a missing browser must fail.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="needs the chromium package (apt-get install chromium), which .ci/run installs",
    ),
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            assert errors == []
        finally:
            browser.close()


def test_console_end_to_end_against_the_sandbox(page: Any, tmp_path: Path) -> None:
    api: SandboxServer
    service: ServiceServer
    with sandbox(batch_seconds=3600) as api, running_service(tmp_path / "s.db") as service:
        page.goto(service.base_url + "/")
        page.fill("#token", service.token)
        page.click("#login-button")
        page.fill("#nc-name", "sandbox")
        page.select_option("#nc-definition", "claude-api")
        page.fill("#nc-base", api.base_url)
        page.fill("#nc-key", "console-test-key")
        page.click("#new-connection button[type=submit]")
        page.wait_for_selector("#current:has-text('sandbox')")
        page.wait_for_selector("#check:has-text('check ok')")

        # a batch submitted from the form rendered from the operation's JSON Schema
        page.click("summary:has-text('message_batches')")
        page.click("button[data-op='message_batches.create']")
        page.fill("#in-custom_id", "from-the-console")
        page.fill("#in-model", "claude-sonnet-4-5")
        page.fill("#in-max_tokens", "64")
        page.fill("#in-content", "Hello from the console")
        page.click("#run")
        page.wait_for_selector("#records td:has-text('msgbatch_')")
        table = page.inner_text("#records")
        assert "in_progress" in table and "processing_status" in table
        assert '"id": "msgbatch_' in page.inner_text("#raw")
        shot = (
            DOCS_SCREENSHOT if os.environ.get("CONNECTOR_SCREENSHOT") else tmp_path / "console.png"
        )
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # paging through a pull: 25 more batches, read 20 at a time from the NDJSON stream
        headers = {"authorization": f"Bearer {service.token}"}
        with httpx.Client(base_url=service.base_url, headers=headers) as c:
            conn = c.get("/v1/connections/sandbox").json()
            for i in range(25):
                c.post(
                    f"/v1/connections/{conn['id']}/resources/message_batches/operations/create",
                    json={
                        "custom_id": f"b{i}",
                        "model": "claude-sonnet-4-5",
                        "max_tokens": 8,
                        "content": "x",
                    },
                )
        page.click("button[data-op='message_batches.list']")
        page.fill("#in-limit", "7")
        page.click("#run")
        page.wait_for_selector("#pager:has-text('page 1')")
        assert page.locator("#records tbody tr").count() == 20
        page.click("#next")
        page.wait_for_selector("#pager:has-text('page 2')")
        assert page.locator("#records tbody tr").count() == 6
        assert page.is_disabled("#next")
        page.click("#prev")
        page.wait_for_selector("#pager:has-text('page 1')")

        # subscriptions: the secret once, then a delivery in the log and its replay button
        page.fill("#ns-url", "http://127.0.0.1:9/in")
        page.click("#new-subscription button[type=submit]")
        page.wait_for_selector("#secret:has-text('whsec_')")
        store = service.runtime.hooks(conn["id"])
        event = build_event(
            "message_batches.ended",
            resource="message_batches",
            record_id="msgbatch_x",
            marker="ended",
            data={"id": "msgbatch_x"},
            timestamp=time.time(),
            path="/webhooks/claude-api/message_batches.ended",
            created_at=time.time(),
        )
        assert store.record_event(event)
        page.click("#connections button:has-text('sandbox')")
        page.wait_for_selector("#delivery-log td:has-text('evt_')")
        assert page.inner_text("#health-totals") == "healthy"  # the health route's totals
        page.click("#delivery-log button:has-text('replay')")
        page.wait_for_selector(f"#secret:has-text('replayed {event.id}: 1 queued')")


def test_console_shows_the_feeds_health(page: Any, tmp_path: Path) -> None:
    """The health of a connection whose webhook is a feed: its cursor, then its problem."""
    box = Mailbox()
    secret = generate_secret()
    received: list[Delivery] = []
    definition = {"handle": "mail", **copy.deepcopy(MAIL)}
    with (
        SandboxServer(app=recording_receiver({"all": secret}, received)) as hooks,
        service_for(
            tmp_path, definition, mail_app(box), allow_private=True, emit=True, emit_interval=0.05
        ) as (service, api),
        service.client() as c,
    ):
        made = c.post(
            "/v1/connections",
            json={"name": "inbox", "definition": "mail", "base_url": api.base_url},
        ).json()
        c.post(
            f"/v1/connections/{made['id']}/subscriptions",
            json={"url": f"{hooks.base_url}/all", "secret": secret},
        )
        deadline = time.monotonic() + 15
        while not c.get(f"/v1/connections/{made['id']}/health").json()["feeds"]:
            assert time.monotonic() < deadline, "no baseline"
            time.sleep(0.02)
        page.goto(service.base_url + "/")
        page.fill("#token", service.token)
        page.click("#login-button")
        page.click("#connections button:has-text('inbox')")
        page.wait_for_selector("#feeds td:has-text('messages.received')")
        assert page.inner_text("#health-totals") == "healthy"
        assert "100" in page.inner_text("#feeds tbody")  # the baseline cursor
        box.answer = "nocursor"
        box.deliver("a bad list answer follows")
        deadline = time.monotonic() + 15
        while not c.get(f"/v1/connections/{made['id']}/health").json()["totals"]["problems"]:
            assert time.monotonic() < deadline, "no problem noted"
            time.sleep(0.02)
        page.click("#connections button:has-text('inbox')")
        page.wait_for_selector("#health-totals:has-text('needs attention')")
        assert "no cursor at ['cursor']" in page.inner_text("#feeds tbody")
        assert "feed messages.received of messages" in page.inner_text("#health-totals")
