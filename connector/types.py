"""Names for the shapes that cross the library's boundary."""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["JSON"]

# A value decoded from, or encodable as, JSON. Kept as Any behind one name: JSON's recursive
# union is not worth the casts it forces at every selector and template boundary.
JSON: TypeAlias = Any
