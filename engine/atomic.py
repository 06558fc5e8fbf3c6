"""Files replaced whole or not at all: written beside their final name, synced, then renamed over it.

A failure at any point (a full disk, an exception) leaves the old file (if any) as it was and removes the
temporary file; a crash or a killed process leaves the old file too, and at most a hidden `.name.*.tmp`
beside it. A reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.media.container import reason


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temporary path in `path`'s folder for the block to write; when the block ends without an
    error it is synced and renamed over `path`, else removed. The new file keeps the mode of the one it
    replaces, else 0644 less the umask: mkstemp's 0600 would hide exported music from other accounts."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with contextlib.suppress(OSError):  # FAT and some network shares refuse modes
            os.chmod(tmp, _mode(path))
        os.close(fd)
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDWR)  # Windows syncs only what it may write
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_UMASK


def _umask() -> int:
    """The process's umask, read once at import (reading it means setting it; no thread writes yet)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def disk_error(exc: BaseException) -> str:
    """Why a write failed, in words a user can act on."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable here (read-only, or no permission)"
    return reason(exc)
