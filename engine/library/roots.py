"""Library folders ("roots"): which can be added, and which are online."""

from __future__ import annotations

import os
from pathlib import Path

from engine.library.errors import LibraryError
from engine.library.files import folder_has_entries
from engine.library.records import Root


def root_is_online(root: Root) -> bool:
    """A root counts as online when it is a readable folder with something in it.

    An empty folder is what an unmounted drive's mount point looks like; treating it as "all tracks deleted"
    would purge the library, so it counts as offline instead.
    """
    return folder_has_entries(root.path)


def root_holding(path: str | os.PathLike[str], roots: list[Root]) -> Root | None:
    """The library folder `path` is in, compared with links resolved on both sides, or None."""
    real = Path(os.path.realpath(path))
    return next((r for r in roots if real.is_relative_to(Path(os.fsdecode(r.path)).resolve())), None)


def check_new_root(path: str | os.PathLike[str], roots: list[Root]) -> None:
    """Raise LibraryError, in one sentence, unless `path` is a folder that no library folder covers."""
    if not os.path.exists(path):
        raise LibraryError(f"{path} does not exist: plug in its drive, or check the spelling")
    if not os.path.isdir(path):
        raise LibraryError(f"{path} is not a folder: add the folder that holds your music")
    new = Path(os.path.abspath(path))
    for root in roots:
        # Compared as written and with links resolved: two names for one folder would scan it twice.
        for a, b in ((new, Path(os.fsdecode(root.path))), (new.resolve(), Path(os.fsdecode(root.path)).resolve())):
            if a == b:
                raise LibraryError(f"{path} is already a library folder")
            if a.is_relative_to(b):
                raise LibraryError(f"{path} is inside the library folder {root.display}, which is scanned already")
            if b.is_relative_to(a):
                raise LibraryError(
                    f"{path} contains the library folder {root.display}: remove that one first, then add this one"
                )
