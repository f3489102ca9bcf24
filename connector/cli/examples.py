"""Examples shown at the end of each command's ``--help`` (keyed by the command's words)."""

from __future__ import annotations

__all__ = ["EXAMPLES"]


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


EXAMPLES: dict[str, str] = {
    "": _examples(
        "connector demo                                  # the whole flow, no key needed",
        "connector describe messages                     # what a call needs",
        "connector call models list                      # one call",
        "connector COMMAND --help                        # each command's options and examples",
    ),
    "describe": _examples(
        "connector describe                  # every resource, its operations and webhooks",
        "connector describe files --json     # one resource, as JSON",
    ),
    "validate": _examples("connector validate my-api.json"),
    "schema": _examples("connector schema > connections.schema.json"),
    "call": _examples(
        "connector call models list",
        "connector call messages create -p model=claude-haiku-4-5 -p max_tokens=100 \\\n"
        "      -p content='What is the capital of France?'",
        "connector call files upload -p file=@report.pdf     # @FILE: the file itself",
        "connector call files download -p file_id=file_01... --out report.pdf",
        "connector call messages create --stream -p model=claude-haiku-4-5 -p max_tokens=200 \\\n"
        "      -p content='Tell me a story'                 # text as it arrives",
    ),
    "pull": _examples(
        "connector pull models --output table",
        "connector pull message_batches --max-items 100 --out batches.jsonl",
        "connector pull files --max-pages 2                # a partial pull, said so",
    ),
    "results": _examples("connector results msgbatch_01... --out results.jsonl"),
    "stream": _examples("connector stream message_batches results -p batch_id=msgbatch_01..."),
    "check": _examples(
        "connector check",
        "connector --definition definitions/examples/github-issues.json "
        "--set owner=octo --set repo=hello check",
    ),
    "operation": _examples(
        "connector --definition crm.json operation tag_new_contact -p name=Ann -p tag=vip"
    ),
    "sandbox": _examples(
        "connector sandbox --port 8080 &",
        "export ANTHROPIC_BASE_URL=http://127.0.0.1:8080 ANTHROPIC_API_KEY=sk-sandbox",
    ),
    "demo": _examples("connector demo", "connector demo --no-webhooks --batch-seconds 1"),
    "asyncapi": _examples("connector asyncapi --out webhooks.asyncapi.json"),
    "openapi": _examples(
        "connector openapi > claude-api.openapi.yaml",
        "connector openapi --format json --out claude-api.openapi.json",
    ),
    "subscriptions": _examples(
        "connector subscriptions add https://example.com/hooks --events 'files.*'",
        "connector subscriptions list",
    ),
    "subscriptions add": _examples(
        "connector subscriptions add https://example.com/hooks --events message_batches.ended",
        "connector subscriptions add http://127.0.0.1:9000 --allow-private --replace",
    ),
    "subscriptions list": _examples("connector subscriptions list"),
    "subscriptions remove": _examples("connector subscriptions remove sub_01..."),
    "subscriptions rotate": _examples("connector subscriptions rotate sub_01..."),
    "subscriptions enable": _examples("connector subscriptions enable sub_01..."),
    "subscriptions disable": _examples("connector subscriptions disable sub_01..."),
    "emit": _examples(
        "connector emit --once --allow-private     # one poll and delivery round",
        "connector emit                            # poll and deliver until Ctrl-C",
        "CONNECTOR_STATE=postgresql://db/connector connector emit --metrics-port 9464",
    ),
    "events": _examples(
        "connector events list --status failed", "connector events replay --failed"
    ),
    "events list": _examples("connector events list --status failed"),
    "events replay": _examples(
        "connector events replay evt_01...", "connector events replay --failed --since 2h"
    ),
    "events prune": _examples("connector events prune --before 30d"),
    "status": _examples("connector status", "connector status --check || alert"),
    "store": _examples(
        "connector store migrate",
        "connector store copy ./connector-state.db postgresql://db.internal/connector",
    ),
    "store migrate": _examples(
        "CONNECTOR_STATE=postgresql://db.internal/connector connector store migrate"
    ),
    "store copy": _examples(
        "CONNECTOR_STATE_KEY=... connector store copy ./connector-state.db postgresql://db/connector"
    ),
    "receive": _examples(
        "connector receive --port 9000 --secret-file secret.txt",
        "CONNECTOR_WEBHOOK_SECRET=whsec_... connector receive",
    ),
    "workflow": _examples(
        "connector workflow run definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml"
    ),
    "workflow run": _examples(
        "connector workflow run definitions/workflows/batch-process-and-retrieve-results.arazzo.yaml",
        "connector workflow run flow.arazzo.yaml --input apiKey=@key.txt --max-retry-after 5",
    ),
    "workflow validate": _examples("connector workflow validate flow.arazzo.yaml"),
    "workflow generate": _examples(
        "connector workflow generate message_batches --out batches.arazzo.yaml"
    ),
    "batch": _examples("connector batch run requests.jsonl --out results.jsonl"),
    "serve": _examples(
        "connector tokens add my-platform && connector serve",
        "connector serve --host 0.0.0.0 --port 8080 --definitions ./definitions --emit",
    ),
    "tokens": _examples("connector tokens add my-platform", "connector tokens list"),
    "tokens add": _examples("connector tokens add my-platform   # printed once"),
    "tokens list": _examples("connector tokens list"),
    "tokens remove": _examples("connector tokens remove my-platform"),
    "batch run": _examples(
        "connector batch run requests.jsonl --out results.jsonl",
        "connector batch run requests.jsonl --no-wait",
    ),
}
