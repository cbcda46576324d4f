"""The media directory (HERALD_MEDIA_DIR): the kept copy of each media too large for the
database (`media.INLINE_MAX`), one file named by its Media SID, never by anything a user
sent. A file is written atomically (a temporary file in the same directory, synced, then
renamed over the name), so a reader finds a whole copy or none; files are private to
Herald's user. The disk work runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from herald.domain.sids import Prefix, is_sid


class MediaFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, sid: str) -> Path:
        if not is_sid(sid, Prefix.MEDIA):
            raise ValueError(f"not a Media SID: {sid!r}")
        return self.directory / sid

    async def write(self, sid: str, body: bytes) -> None:
        await asyncio.to_thread(self._write, self.path_of(sid), body)

    async def read(self, sid: str) -> bytes | None:
        """The copy's bytes; None when there is no such file."""
        return await asyncio.to_thread(self._read, self.path_of(sid))

    async def remove(self, sids: Iterable[str]) -> None:
        """Remove the copies (those already gone are no matter)."""
        paths = [self.path_of(sid) for sid in sids]
        if paths:
            await asyncio.to_thread(self._remove, paths)

    def _write(self, path: Path, body: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(body)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _sync_directory(self.directory)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _remove(paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX; a no-op where directories cannot be
    opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
