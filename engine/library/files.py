"""Audio files on disk: finding them, recognising one after a move, and telling a deleted file from one that
cannot be reached now (an unplugged drive, a dangling link)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from engine.library.catalog import CATALOG_NAME
from engine.library.records import display

_CATALOG = os.fsencode(CATALOG_NAME)  # scandir names a bytes folder's entries in bytes

log = logging.getLogger(__name__)

# Extensions FFmpeg decodes as music; anything else in a music folder (covers, playlists, notes) is ignored.
AUDIO_SUFFIXES = frozenset(
    b".mp3 .flac .wav .wave .aif .aiff .aifc .ogg .oga .opus .m4a .m4b .aac .mp4 .alac .wma .ape .wv .mka .mpc "
    b".ac3 .dts .caf .au .snd .tta .spx .mp2 .amr .w64".split()
)
FINGERPRINT_SPAN = 64 * 1024  # bytes hashed at each end of a file


def walk_audio(root: bytes) -> Iterator[tuple[bytes, os.stat_result]]:
    """Audio files under `root`, following links to folders but never around a loop; hidden names skipped,
    and a folder holding a Needledrop catalog (the app's data folder, with its fitted previews, where a
    home folder is a library folder).

    Unreadable folders are skipped here (their tracks are then judged by `unreachable`); an unreadable
    *file* is reported by its analysis.
    """
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            log.warning("cannot read folder %s: %s", display(folder), exc)
            continue
        if any(entry.name == _CATALOG for entry in entries):
            continue
        for entry in entries:
            if entry.name.startswith(b"."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() in AUDIO_SUFFIXES:
                    info = entry.stat(follow_symlinks=True)
                    if stat.S_ISREG(info.st_mode):
                        yield entry.path, info
            except OSError:  # a dangling link, or a file gone between listing and stat
                continue


def walk_reaches(root: Path, path: Path) -> bool:
    """Whether `walk_audio` over `root` comes upon `path` (both resolved), or upon what is written into it
    when it is a folder: no name on the way hidden, no folder on the way holding a Needledrop catalog."""
    parts = path.relative_to(root).parts
    if any(part.startswith(".") for part in parts):
        return False
    on_the_way = [root.joinpath(*parts[:i]) for i in range(len(parts) + 1)]
    return not any((folder / CATALOG_NAME).exists() for folder in on_the_way)


# What file managers leave in a folder they have shown: an unmounted drive's mount point holding only these
# is as empty as one holding nothing.
_FILE_MANAGERS_OWN = {b".DS_Store", b".directory", b".localized", b".hidden", b"Thumbs.db", b"desktop.ini"}


def folder_has_entries(folder: bytes) -> bool:
    """A readable folder with something in it besides what a file manager leaves (Finder's .DS_Store and
    ._ files, Dolphin's .directory, Explorer's Thumbs.db). An empty one is what an unmounted drive's mount
    point looks like; a missing or unreadable one, or a dangling link, is a folder that cannot be reached
    now."""
    try:
        with os.scandir(folder) as entries:
            return any(not _file_managers_own(os.fsencode(entry.name)) for entry in entries)
    except OSError:
        return False


def _file_managers_own(name: bytes) -> bool:
    return name in _FILE_MANAGERS_OWN or name.startswith(b"._")


def unreachable(path: bytes) -> bool:
    """Whether a catalogued file that a scan did not find is away rather than deleted: kept, not removed.

    It was deleted only when its own folder is there, readable and still has entries, and the name itself is
    gone (a link left dangling by an unplugged drive is away, not deleted).
    """
    return os.path.lexists(path) or not folder_has_entries(os.path.dirname(path))


def fingerprint(path: bytes | str) -> str:
    """A cheap content fingerprint: the size and a hash of the first and last 64 KiB. Enough to recognise a
    moved or renamed file among a library's tracks without reading it whole."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest = hashlib.blake2b(f.read(FINGERPRINT_SPAN), digest_size=16)
        if size > FINGERPRINT_SPAN:
            f.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
            digest.update(f.read(FINGERPRINT_SPAN))
    return f"{size}:{digest.hexdigest()}"
