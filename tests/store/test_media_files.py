"""The media directory: a copy per Media SID, written whole or not at all, private to
Herald's user, and never a name that is not a Media SID."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from herald.store.media_files import MediaFiles

ME = "ME" + "ab" * 16


def test_a_copy_is_written_read_and_removed(tmp_path: Path) -> None:
    files = MediaFiles(tmp_path / "media")  # made on the first write

    async def run() -> None:
        assert await files.read(ME) is None
        await files.write(ME, b"\x89PNG")
        await files.write(ME, b"\x89PNG again")  # replaced whole
        assert await files.read(ME) == b"\x89PNG again"
        path = files.path_of(ME)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == [ME]  # no temporary file left
        await files.remove([ME, "ME" + "cd" * 16])  # one that is not there is no matter
        assert await files.read(ME) is None
        await files.remove([])

    asyncio.run(run())


@pytest.mark.parametrize("name", ["../etc/passwd", "cat.png", "MM" + "ab" * 16, ME + "/x", ""])
def test_only_a_media_sid_names_a_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a Media SID"):
        MediaFiles(tmp_path).path_of(name)
