"""The models the sandbox knows, with the fields SDK 2.x requires under strict validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .clock import format_time
from .wire import JSON

__all__ = ["ModelRecord", "capabilities", "default_models"]


@dataclass
class ModelRecord:
    """One model of ``GET /v1/models``; ``aliases`` are other names accepted for it."""

    id: str
    display_name: str
    created_at: datetime
    lifecycle: str = "active"
    line: str | None = None
    max_input_tokens: int = 200_000
    max_tokens: int = 64_000
    aliases: list[str] = field(default_factory=list)
    deprecated_at: datetime | None = None
    retires_at: datetime | None = None

    def to_json(self) -> dict[str, JSON]:
        """The ModelInfo object."""
        return {
            "capabilities": capabilities(self.line, self.created_at),
            "allowed_fallback_models": None,  # the beta ModelInfo's
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": format_time(self.created_at),
            "lifecycle": self.lifecycle,
            "deprecated_at": format_time(self.deprecated_at) if self.deprecated_at else None,
            "retires_at": format_time(self.retires_at) if self.retires_at else None,
            "line": self.line,
            "max_input_tokens": self.max_input_tokens,
            "max_tokens": self.max_tokens,
        }


def _supported(flag: bool) -> dict[str, JSON]:
    return {"supported": flag}


def capabilities(line: str | None, released: datetime) -> dict[str, JSON]:
    """The ModelCapabilities object the newest SDKs declare (every key, nested ones too): the
    Claude 4 generation supports everything listed, older models not thinking, effort or the
    newer context-management edits; only Opus takes the ``max`` effort."""
    modern = released >= _day(2025, 5, 1)
    yes = _supported(True)
    return {
        "batch": yes,
        "citations": yes,
        "code_execution": _supported(modern),
        "compaction": {"supported": False, "summarize": _supported(False)},  # beta only
        "context_management": {
            "supported": modern,
            "clear_thinking_20251015": _supported(modern),
            "clear_tool_uses_20250919": _supported(modern),
            "compact_20260112": _supported(False),
        },
        "effort": {
            "supported": modern,
            "low": _supported(modern),
            "medium": _supported(modern),
            "high": _supported(modern),
            "max": _supported(modern and line == "opus"),
            "xhigh": _supported(False),
        },
        "image_input": yes,
        "pdf_input": yes,
        "server_tools": {
            "supported": True,
            "code_execution": _supported(modern),
            "web_search": yes,
        },
        "structured_outputs": _supported(modern),
        "thinking": {
            "supported": modern,
            "types": {
                "adaptive": _supported(False),
                "between_tools": _supported(modern),
                "disabled": yes,
                "enabled": _supported(modern),
            },
        },
    }


def _day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def default_models() -> list[ModelRecord]:
    """A sensible catalogue as of late 2026: release dates as announced, lifecycles as the
    SDK 2.12.0 deprecation table gives them. Not authoritative: newer models the SDK names
    (``claude-opus-4-6`` and later) can be added with :meth:`SandboxState.add_model`."""
    return [
        ModelRecord(
            "claude-opus-4-5-20251101",
            "Claude Opus 4.5",
            _day(2025, 11, 24),
            line="opus",
            aliases=["claude-opus-4-5"],
        ),
        ModelRecord(
            "claude-haiku-4-5-20251001",
            "Claude Haiku 4.5",
            _day(2025, 10, 15),
            line="haiku",
            aliases=["claude-haiku-4-5"],
        ),
        ModelRecord(
            "claude-sonnet-4-5-20250929",
            "Claude Sonnet 4.5",
            _day(2025, 9, 29),
            lifecycle="deprecated",
            line="sonnet",
            aliases=["claude-sonnet-4-5"],
            deprecated_at=_day(2026, 8, 1),
            retires_at=_day(2026, 11, 30),
        ),
        ModelRecord(
            "claude-opus-4-1-20250805",
            "Claude Opus 4.1",
            _day(2025, 8, 5),
            line="opus",
            max_tokens=32_000,
            aliases=["claude-opus-4-1"],
        ),
        ModelRecord(
            "claude-opus-4-20250514",
            "Claude Opus 4",
            _day(2025, 5, 22),
            lifecycle="retired",
            line="opus",
            max_tokens=32_000,
            aliases=["claude-opus-4-0"],
            deprecated_at=_day(2026, 2, 1),
            retires_at=_day(2026, 6, 15),
        ),
        ModelRecord(
            "claude-sonnet-4-20250514",
            "Claude Sonnet 4",
            _day(2025, 5, 22),
            lifecycle="retired",
            line="sonnet",
            aliases=["claude-sonnet-4-0"],
            deprecated_at=_day(2026, 2, 1),
            retires_at=_day(2026, 6, 15),
        ),
        ModelRecord(
            "claude-3-7-sonnet-20250219",
            "Claude Sonnet 3.7",
            _day(2025, 2, 24),
            lifecycle="retired",
            line="sonnet",
            aliases=["claude-3-7-sonnet-latest"],
            deprecated_at=_day(2025, 10, 28),
            retires_at=_day(2026, 2, 19),
        ),
        ModelRecord(
            "claude-3-5-haiku-20241022",
            "Claude Haiku 3.5",
            _day(2024, 10, 22),
            lifecycle="retired",
            line="haiku",
            max_tokens=8_192,
            aliases=["claude-3-5-haiku-latest"],
            deprecated_at=_day(2025, 10, 28),
            retires_at=_day(2026, 2, 19),
        ),
        ModelRecord(
            "claude-3-haiku-20240307",
            "Claude Haiku 3",
            _day(2024, 3, 7),
            line="haiku",
            max_tokens=4_096,
        ),
        ModelRecord(
            "claude-3-opus-20240229",
            "Claude Opus 3",
            _day(2024, 2, 29),
            lifecycle="retired",
            line="opus",
            max_tokens=4_096,
            deprecated_at=_day(2025, 6, 30),
            retires_at=_day(2026, 1, 5),
        ),
    ]
