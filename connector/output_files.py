"""Files the commands write (``--out``): all or nothing.

The content goes to a temporary file beside the target and is renamed over it only once it is
complete, so a failure half-way (the API errs, the disk fills, Ctrl-C) leaves the old file
untouched and no empty or partial file behind::

    with replacing(Path("results.jsonl")) as out:
        for line in lines:
            out.write(line)
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Literal, overload

from .errors import InputError, InputProblem

__all__ = ["replacing", "write_document"]


@overload
def replacing(
    path: str | os.PathLike[str], *, binary: Literal[False] = ..., option: str = ...
) -> AbstractContextManager[IO[str]]: ...


@overload
def replacing(
    path: str | os.PathLike[str], *, binary: Literal[True], option: str = ...
) -> AbstractContextManager[IO[bytes]]: ...


def replacing(
    path: str | os.PathLike[str], *, binary: bool = False, option: str = "--out"
) -> AbstractContextManager[IO[str]] | AbstractContextManager[IO[bytes]]:
    """A handle whose content replaces ``path`` when the block ends without an exception.

    Text is UTF-8 with ``\\n`` line ends. A directory that does not exist or cannot be written
    is an :class:`InputError` naming ``option``. The new file keeps the old one's permissions
    (a new one gets the usual ``0666`` less the umask).
    """
    return _replacing(Path(path), binary, option)


def write_document(text: str, path: str | os.PathLike[str] | None) -> None:
    """A generated document, whole: to ``path`` (all or nothing, then ``wrote PATH`` on
    stderr), or to stdout when no path is given."""
    if path:
        with replacing(path) as out:
            out.write(text)
        print(f"wrote {os.fspath(path)}", file=sys.stderr)
    else:
        sys.stdout.write(text)


@contextlib.contextmanager
def _replacing(target: Path, binary: bool, option: str) -> Iterator[IO[Any]]:
    if target.is_dir():
        raise InputError([InputProblem(option, f"{target} is a directory")])
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as exc:
        raise InputError(
            [InputProblem(option, f"cannot write in {target.parent}: {exc.strerror}")]
        ) from None
    try:
        handle: IO[Any] = (
            os.fdopen(descriptor, "wb")
            if binary
            else os.fdopen(descriptor, "w", encoding="utf-8", newline="")
        )
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
