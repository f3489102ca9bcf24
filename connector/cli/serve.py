"""``connector serve`` and ``connector tokens``: the service and the tokens that open it.

::

    connector tokens add NAME        # prints the token once; only its hash is stored
    connector tokens list | remove NAME
    connector serve [--host 127.0.0.1] [--port 8000] [--definitions DIR] [--emit]

Both use the state file of the global ``--state`` / ``CONNECTOR_STATE``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from connector.cli.value_types import port, positive
from connector.config import default_state
from connector.errors import ConfigurationError, ConnectorError, DefinitionError, StoreError
from connector.platform.bodies import DEFAULT_MAX_BODY

__all__ = ["add_commands", "serve", "tokens"]


def _state(args: argparse.Namespace) -> str:
    return getattr(args, "state", None) or default_state()


def serve(args: argparse.Namespace) -> int:
    """Serve the HTTP API until SIGTERM or Ctrl-C (in-flight calls finish first)."""
    import uvicorn

    from connector.platform.app import create_app
    from connector.platform.runtime import Runtime, load_definitions
    from connector.sandbox.server import listen_socket

    try:
        definitions = load_definitions(args.definitions)
        runtime = Runtime(
            definitions,
            _state(args),
            allow_private=args.allow_private,
            allow_private_upstreams=args.allow_private_upstreams,
        )
    except (ConfigurationError, DefinitionError, StoreError) as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    if not runtime.registry.list_tokens():
        print(
            "connector serve: no token yet; every call will get 401 until `connector tokens add NAME`",
            file=sys.stderr,
        )
    app = create_app(
        runtime,
        emit=args.emit,
        emit_interval=args.emit_interval,
        cors_origins=args.cors_origin or (),
        max_body=args.max_body,
    )
    try:
        sock = listen_socket(args.host, args.port)
    except ConfigurationError as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    # Listening before the address is printed: whoever reads it may connect at once (the
    # connection waits in the backlog until uvicorn accepts it).
    sock.listen(2048)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    logging.basicConfig(level=logging.INFO, format="connector serve: %(levelname)s %(message)s")
    # httpx logs every upstream URL at INFO, and a definition may put a key in a query.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(
        f"connector serve: http://{host}:{port} ({', '.join(definitions)}){' with the emitter' if args.emit else ''}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        log_level="info" if args.access_log else "warning",
        access_log=args.access_log,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=args.grace,
    )
    # uvicorn re-raises the signal it stopped on, once it has drained; answered here, so a
    # SIGTERM after a clean drain is exit 0, not death by signal.
    stopped_by: list[int] = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, frame: stopped_by.append(received))
    uvicorn.Server(config).run(sockets=[sock])
    sock.close()
    print("connector serve: stopped", file=sys.stderr)
    return 0


def tokens(args: argparse.Namespace) -> int:
    """``tokens add|list|remove``."""
    from connector.platform.registry import Registry

    try:
        registry = Registry(_state(args))
    except ConnectorError as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    try:
        if args.tokens_command == "add":
            token = registry.add_token(args.name)
            print("connector: keep this token now: it will not be shown again", file=sys.stderr)
            print(token)
        elif args.tokens_command == "list":
            for info in registry.list_tokens():
                print(json.dumps({"name": info.name, "created_at": info.created_at}))
        elif not registry.remove_token(args.name):
            print(f"connector: no token named {args.name!r}", file=sys.stderr)
            return 2
        return 0
    except ConnectorError as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    finally:
        registry.close()


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` and ``tokens``."""
    p = subparsers.add_parser("serve", help="the HTTP API for platforms, with a web console")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (127.0.0.1)")
    p.add_argument("--port", type=port, default=8000, help="0: any free port")
    p.add_argument("--definitions", metavar="DIR", help="serve every *.json definition in DIR")
    p.add_argument("--emit", action="store_true", help="also run the webhook emitter")
    p.add_argument(
        "--emit-interval",
        type=positive,
        default=30.0,
        metavar="SECONDS",
        help="seconds between polls, and between looks for new subscriptions (30)",
    )
    p.add_argument(
        "--allow-private", action="store_true", help="webhooks may go to http/private hosts"
    )
    p.add_argument(
        "--allow-private-upstreams",
        action="store_true",
        help="connections may call loopback, private and link-local (metadata) addresses "
        "(by default a connection's base_url must resolve to public addresses only)",
    )
    p.add_argument(
        "--cors-origin", action="append", metavar="ORIGIN", help="allow this origin (repeat)"
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help=f"the request body cap; larger bodies get 413 ({DEFAULT_MAX_BODY})",
    )
    p.add_argument(
        "--grace",
        type=positive,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, wait this long for in-flight calls",
    )
    p.add_argument("--access-log", action="store_true", help="log each request (no bodies)")
    p.set_defaults(func=serve)

    t = subparsers.add_parser("tokens", help="bearer tokens for connector serve")
    commands = t.add_subparsers(dest="tokens_command", metavar="COMMAND")
    commands.required = True
    add = commands.add_parser("add", help="make a token; printed once")
    add.add_argument("name", help="a name to recognise and revoke it by")
    commands.add_parser("list", help="token names (never the tokens)")
    remove = commands.add_parser("remove", help="revoke a token")
    remove.add_argument("name", help="the token's name")
    t.set_defaults(func=tokens)
