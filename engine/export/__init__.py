"""Timelines for editors: OpenTimelineIO's timeline model, written in the form each editor reads.

`edit.build_timeline` lays the edit out at the rates a format can hold (`rates`); `timeline_text` writes
it: `.otio` through OpenTimelineIO itself (Kdenlive and anything OpenTimelineIO reads), FCP 7 XML (Premiere,
Resolve) and CMX 3600 EDL through OpenTimelineIO's adapters made faithful on top of their output
(`fcp7`, `edl`), FCPXML (Final Cut Pro) by our own writer (`fcpx`, which says why). An EDL has no room for a
second source under the picture, so it carries the picture cut only; use one of the others for the music.
"""

from __future__ import annotations

import os
from pathlib import Path

import opentimelineio as otio

from engine import atomic
from engine.export import edl, fcp7, fcpx
from engine.export.edit import (
    FADE_SECONDS,
    FORMAT_NAMES,
    Built,
    Cue,
    ExportError,
    build_timeline,
    display_name,
    file_url,
)

FORMATS = {  # name -> file suffix
    "otio": ".otio",
    "fcp7": ".xml",
    "fcpx": ".fcpxml",
    "edl": ".edl",
}
_WRITERS = {
    "otio": lambda timeline: otio.adapters.write_to_string(timeline, "otio_json"),
    "fcp7": fcp7.write,
    "fcpx": fcpx.write,
    "edl": edl.write,
}
# Besides the separators (a backslash too: clients on Windows split on it), what Windows refuses in a name.
_NOT_IN_NAMES = "/\\" + ('<>:"|?*' if os.name == "nt" else "")

__all__ = [
    "FADE_SECONDS",
    "FORMATS",
    "FORMAT_NAMES",
    "Built",
    "Cue",
    "ExportError",
    "TimelineNameError",
    "build_timeline",
    "check_timeline_name",
    "check_timeline_path",
    "display_name",
    "file_url",
    "format_for",
    "timeline_text",
    "write_timeline",
]


class TimelineNameError(ExportError):
    """A timeline name that cannot be a file's name as it is (the API answers `filename` with it)."""


def format_for(path: str | os.PathLike[str], name: str | None = None) -> str:
    """The format asked for by name, or by the file's suffix; ExportError where the two disagree (an EDL in
    a file named .otio is one an editor refuses to open)."""
    suffix = Path(path).suffix.lower()
    named = next((fmt for fmt, ext in FORMATS.items() if ext == suffix), None)
    if name is None:
        if named is None:
            raise ExportError(f"cannot tell the timeline format from {Path(path).name!r}: use {', '.join(FORMATS)}")
        return named
    if name not in FORMATS:
        raise ExportError(f"unknown timeline format {name!r}: use one of {', '.join(FORMATS)}")
    if named not in (None, name):
        raise ExportError(
            f"{Path(path).name} is named as {named} and {name} was asked for: "
            f"name it {Path(path).with_suffix(FORMATS[name]).name}, or leave the format to the suffix"
        )
    return name


def write_timeline(timeline: otio.schema.Timeline, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write `timeline` to `path` in `fmt` (by default, the one its suffix names), replacing it atomically.

    The text is made first and written to a temporary file beside `path`, which is renamed over it: a
    failure at any point leaves the old file (if any) as it was and no temporary file behind.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    check_timeline_path(path, fmt)
    text = timeline_text(timeline, fmt)
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {atomic.disk_error(exc)}") from exc
    return path


def check_timeline_path(path: Path, fmt: str) -> None:
    """ExportError unless a timeline in `fmt` can be written to `path`: a folder that exists, and no file
    there but a timeline (a slip of the tab key must not cost a video or a song)."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder: name the file to write, e.g. {path / ('timeline' + FORMATS[fmt])}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path.name}: the folder {path.parent} does not exist")
    if path.exists() and path.suffix.lower() not in FORMATS.values():
        raise ExportError(
            f"{path.name} exists and is not a timeline: a timeline replaces only {', '.join(FORMATS.values())} "
            f"files; name it e.g. {path.with_suffix(FORMATS[fmt]).name}"
        )


def check_timeline_name(name: str) -> None:
    """TimelineNameError unless `name` is a plain file name: the API gives `name` + suffix as the file to
    write, so a name with a folder in it, or one the file system refuses, could write outside the folder
    a client means."""
    if not name.strip():
        why = "it is empty"
    elif name in (".", ".."):
        why = f"{name!r} names a folder"
    elif found := [c for c in name if c in _NOT_IN_NAMES or ord(c) < 32 or ord(c) == 127]:
        why = f"it holds {found[0]!r}, which a file name cannot"
    else:
        return
    raise TimelineNameError(
        f"the timeline name {name!r} is also its file name, and {why}: give a plain name such as 'Scene 4'"
    )


def timeline_text(timeline: otio.schema.Timeline, fmt: str) -> str:
    """The timeline in `fmt`. The rates were chosen for the format, so a failure here is ours: it is
    reported in one sentence, with the adapter's words kept for the log (the exception's cause)."""
    fmt = format_for("", fmt)
    try:
        return _WRITERS[fmt](timeline)
    except Exception as exc:  # adapters raise their own types
        raise ExportError(
            f"could not write this edit as {FORMAT_NAMES[fmt]} (a Needledrop bug: please report it)"
        ) from exc
