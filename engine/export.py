"""Timelines for editors, through OpenTimelineIO and its maintained adapters.

The edit is a list of cues: a clip (with its in and out points) and the track chosen for it. The timeline
has the clips one after another on a picture track and each chosen track on a music track, aligned with
its clip: the music's source range starts at its (fitted) in point and lasts exactly as long as the clip,
with short fades in and out, and a marker on every beat it plays (downbeats red, other beats green).

Formats: `.otio` (Kdenlive and anything OpenTimelineIO reads), FCP 7 XML (Premiere, Resolve), FCPXML (Final
Cut Pro) and CMX 3600 EDL. An EDL has no room for a second source under the picture, so it carries the
picture cut only; use one of the others for the music.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes

import opentimelineio as otio

from engine.errors import NeedledropError
from engine.media.beats import Beats

FORMATS = {  # name -> (OpenTimelineIO adapter, file suffix)
    "otio": ("otio_json", ".otio"),
    "fcp7": ("fcp_xml", ".xml"),
    "fcpx": ("fcpx_xml", ".fcpxml"),
    "edl": ("cmx_3600", ".edl"),
}
FADE_SECONDS = 0.5
MAX_MARKERS_PER_CLIP = 500


class ExportError(NeedledropError):
    """The edit cannot be written as asked (the message says why)."""


@dataclass(frozen=True)
class Cue:
    """One clip of the edit and the music chosen for it."""

    video: str
    video_duration: float  # of the whole file
    clip_in: float
    clip_out: float
    music: str | None = None
    music_duration: float = 0.0  # of the whole track
    music_start: float = 0.0  # where the music starts under the clip, seconds into the track
    title: str | None = None
    beats: Beats | None = None
    track_id: int | None = None

    @property
    def length(self) -> float:
        return self.clip_out - self.clip_in


def format_for(path: str | os.PathLike[str], name: str | None = None) -> str:
    """The format asked for by name, or by the file's suffix."""
    if name is not None:
        if name not in FORMATS:
            raise ExportError(f"unknown timeline format {name!r}: use one of {', '.join(FORMATS)}")
        return name
    suffix = Path(path).suffix.lower()
    for fmt, (_, ext) in FORMATS.items():
        if suffix == ext:
            return fmt
    raise ExportError(f"cannot tell the timeline format from {Path(path).name!r}: use {', '.join(FORMATS)}")


def _reference(path: str, duration: float, rate: float) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(
        target_url=file_url(path),
        available_range=otio.opentime.TimeRange(_time(0.0, rate), _time(duration, rate)),
    )


def file_url(path: str | os.PathLike[str]) -> str:
    """A file:// URL from the path's raw bytes, so a name that is not valid UTF-8 still names the file."""
    return "file://" + quote_from_bytes(os.fsencode(os.path.realpath(path)))


def _name(path: str) -> str:
    """A file's name for people (and for XML, which cannot hold undecodable bytes)."""
    return os.fsencode(Path(path).name).decode("utf-8", errors="replace")


def _time(seconds: float, rate: float) -> otio.opentime.RationalTime:
    """Whole frames at the timeline's rate: editors cut on frames."""
    return otio.opentime.RationalTime(round(seconds * rate), rate)


def _fade(name: str, rate: float, *, into: bool) -> otio.schema.Transition:
    fade = _time(FADE_SECONDS, rate)
    zero = _time(0.0, rate)
    return otio.schema.Transition(
        name=name,
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=zero if into else fade,
        out_offset=fade if into else zero,
    )


def _beat_markers(clip: otio.schema.Clip, cue: Cue, rate: float) -> None:
    if cue.beats is None:
        return
    downbeats = {round(t, 4) for t in cue.beats.downbeats}
    end = cue.music_start + cue.length
    for t in cue.beats.times:
        if not cue.music_start <= t < end or len(clip.markers) >= MAX_MARKERS_PER_CLIP:
            continue
        strong = round(t, 4) in downbeats
        clip.markers.append(
            otio.schema.Marker(
                name="downbeat" if strong else "beat",
                marked_range=otio.opentime.TimeRange(_time(t, rate), _time(0.0, rate)),
                color=otio.schema.MarkerColor.RED if strong else otio.schema.MarkerColor.GREEN,
            )
        )


def build_timeline(cues: list[Cue], *, name: str = "Needledrop", rate: float = 25.0) -> otio.schema.Timeline:
    """Picture and music tracks for `cues`, in order, at `rate` frames per second."""
    if not cues:
        raise ExportError("nothing to export: the edit has no clips")
    timeline = otio.schema.Timeline(name=name, global_start_time=_time(0.0, rate))
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    music = otio.schema.Track(name="Music (Needledrop)", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.extend([picture, music])
    for cue in cues:
        if cue.length <= 0:
            raise ExportError(f"{_name(cue.video)}: the out point must follow the in point")
        # Cut points on frames: the length is the difference of the rounded in and out points.
        length = _time(cue.clip_out, rate) - _time(cue.clip_in, rate)
        picture.append(
            otio.schema.Clip(
                name=_name(cue.video),
                media_reference=_reference(cue.video, cue.video_duration, rate),
                source_range=otio.opentime.TimeRange(_time(cue.clip_in, rate), length),
            )
        )
        if cue.music is None:
            music.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(_time(0.0, rate), length)))
            continue
        # Music shorter than what remains of the clip ends early (the export notes say so); silence follows.
        available = _time(cue.music_duration, rate) - _time(cue.music_start, rate)
        heard = min(length, available)
        clip = otio.schema.Clip(
            name=cue.title or _name(cue.music),
            media_reference=_reference(cue.music, cue.music_duration, rate),
            source_range=otio.opentime.TimeRange(_time(cue.music_start, rate), heard),
            metadata={"needledrop": {"for_clip": _name(cue.video), "fade_seconds": FADE_SECONDS}},
        )
        _beat_markers(clip, cue, rate)
        # Fades from and to silence: transitions against zero-length gaps, so nothing moves in time.
        empty = otio.opentime.TimeRange(_time(0.0, rate), _time(0.0, rate))
        music.extend(
            [
                otio.schema.Gap(source_range=empty),
                _fade("fade in", rate, into=True),
                clip,
                _fade("fade out", rate, into=False),
                otio.schema.Gap(source_range=empty),
            ]
        )
        if heard < length:
            music.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(_time(0.0, rate), length - heard)))
    return timeline


def write_timeline(timeline: otio.schema.Timeline, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write `timeline` to `path` in `fmt` (by default, the one its suffix names), replacing it atomically.

    The text is made first and written to a temporary file beside `path`, which is renamed over it: a
    failure at any point leaves the old file (if any) as it was and no temporary file behind.
    """
    path = Path(path)
    fmt = format_for(path, fmt)
    if path.is_dir():
        raise ExportError(f"{path} is a folder: name the file to write, e.g. {path / ('timeline' + FORMATS[fmt][1])}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path.name}: the folder {path.parent} does not exist")
    text = timeline_text(timeline, fmt)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {_why(exc)}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable here (read-only, or no permission)"
    return exc.strerror or str(exc)


def timeline_text(timeline: otio.schema.Timeline, fmt: str) -> str:
    adapter, _ = FORMATS[format_for("", fmt)]
    try:
        return otio.adapters.write_to_string(timeline, adapter)
    except Exception as exc:  # adapters raise their own types; the editor needs to know what failed
        raise ExportError(f"OpenTimelineIO's {adapter} adapter could not write this edit: {exc}") from exc
