"""Fixtures shared by several test modules."""

from __future__ import annotations

from postgres_support import postgres

__all__ = ["postgres"]
