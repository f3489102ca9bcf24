"""Definition documents: reading a file, JSON text or a Python object into the data the models
validate, with every way that can fail turned into a located DefinitionError (unreadable file,
not UTF-8, not strict JSON, nested deeper than :data:`~connector.jsontext.MAX_DEPTH`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import DefinitionError, Problem
from .jsontext import MAX_DEPTH, JSONTextError, deepest_path, parse_strict
from .locations import format_location

__all__ = ["read_document"]


def read_document(
    source: str | Path | Mapping[str, Any] | list[Any], file: str | None
) -> tuple[object, str | None]:
    """The document's data and the file name to report (a ``str`` starting with ``[`` or ``{``
    is JSON text, any other ``str`` or a ``Path`` a file to read)."""
    if isinstance(source, Path) or (
        isinstance(source, str) and source.lstrip()[:1] not in ("[", "{")
    ):
        path = Path(source)
        file = file or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            where = "" if path.is_absolute() else f" ({path.resolve()})"
            raise DefinitionError(
                [Problem("", f"cannot read the file{where}: {exc.strerror}")], file=file
            ) from None
        except UnicodeDecodeError as exc:
            raise DefinitionError(
                [Problem(f"byte {exc.start}", "the file is not UTF-8 text")], file=file
            ) from None
        return _parse_json(text, file), file
    if isinstance(source, str):
        return _parse_json(source, file), file
    deep = deepest_path(source, MAX_DEPTH)
    if deep is not None:
        where = format_location(deep, bare=False)
        message = f"nested too deeply (more than {MAX_DEPTH} levels)"
        raise DefinitionError([Problem(where, message)], file=file)
    return source, file


def _parse_json(text: str, file: str | None) -> object:
    try:
        return parse_strict(text, max_depth=MAX_DEPTH)
    except JSONTextError as exc:
        if exc.path is not None:
            where = format_location(exc.path, bare=False)
        else:
            where = f"line {exc.line} column {exc.column}" if exc.line else ""
        allowed = None if exc.path is not None else "a JSON array or object"
        problem = Problem(where, exc.message, allowed=allowed)
        raise DefinitionError([problem], file=file) from None
