"""Where the shipped Anthropic definition is: the default of every client and command.

Its own module (no imports of the package) so that the clients, the settings and the command
line can all name it without importing one another.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_definition_path"]


def bundled_definition_path() -> Path:
    """The shipped ``definitions/claude-api.json`` (from the checkout, or the installed copy)."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "definitions" / "claude-api.json"
    return checkout if checkout.is_file() else here / "data" / "claude-api.json"
