"""The demo's webhook half: a batch submitted after start-up arrives at the receiver."""

from __future__ import annotations

import io
from pathlib import Path

from emitter_support import DEFINITION, MODEL

from connector.client import Connector
from connector.emitter.demo_support import DemoWebhooks
from connector.sandbox import SandboxServer


def test_demo_webhooks_deliver_the_batch_ended_event(tmp_path: Path) -> None:
    err = io.StringIO()
    with SandboxServer(batch_seconds=0.3) as sandbox:
        hooks = DemoWebhooks(
            base_url=sandbox.base_url, api_key="k", workdir=tmp_path, err=err, interval=0.05
        )
        try:
            with Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api:
                batch = api.call(
                    "message_batches",
                    "create",
                    {"custom_id": "a", "model": MODEL, "max_tokens": 8, "content": "hi"},
                    raw=True,
                )
            hooks.step()
            line = hooks.wait_for("message_batches.ended", batch["id"], timeout=10)
            assert hooks.wait_for("files.created", "file_none", timeout=0.05) is None
        finally:
            hooks.close()
    assert line is not None and batch["id"] in line and "verified" in line
    assert "receiver on http://127.0.0.1:" in err.getvalue()
