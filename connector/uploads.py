"""Upload files read as they are sent: a multipart part that names a local file carries a
:class:`FileSource`, which httpx's multipart encoder reads in chunks, so uploading a 500 MB
file never holds it in memory. The file is opened on the first read (a retry's rebuilt
request opens it again) and closed at its end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["FileSource"]


class FileSource:
    """The file-like part of an upload that httpx reads (``read``/``seek``/``tell``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb"):  # unreadable files are the caller's input problem, now
            self.size = path.stat().st_size
        self._pos = 0
        self._file: IO[bytes] | None = None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            return self.size + offset  # the length, asked before sending; nothing moves
        self.close()
        self._pos = offset if whence == os.SEEK_SET else self._pos + offset
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if self._file is None:
            self._file = self.path.open("rb")
            self._file.seek(self._pos)
        chunk = self._file.read(size)
        self._pos += len(chunk)
        if not chunk or size < 0:
            self.close()
        return chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:  # a send interrupted mid-file leaves no open handle behind
        self.close()

    def __repr__(self) -> str:
        return f"<FileSource {self.path.name} {self.size} bytes>"
