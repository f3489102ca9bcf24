"""Older import path of the emitter's command helpers.

The commands live in the CLI package: ``connector emit`` in :mod:`connector.cli.emit`,
``connector subscriptions`` in :mod:`connector.cli.subscriptions`, and what they share in
:mod:`connector.cli.emitter_support`, re-exported here for callers that import it from this
module.
"""

from __future__ import annotations

from connector.cli.emitter_support import (
    REPLAY_WINDOW,
    command,
    opened_store,
    out,
    parse_moment,
    recording_writes,
    rfc3339,
    say,
)

__all__ = [
    "REPLAY_WINDOW",
    "command",
    "opened_store",
    "out",
    "parse_moment",
    "recording_writes",
    "rfc3339",
    "say",
]
