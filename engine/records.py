"""What the engine hands its front ends: typed, immutable records that serialise to JSON as they are.

The CLI prints them, the API returns them, the desktop shows them; none of the three reads the catalog or
the recommender for itself. `to_json` turns any record (or list of them) into plain JSON values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from engine.export.read import ImportedTimeline, TimelineClip
from engine.library.scanner import QUICK_FROM_FILES, QUICK_FROM_SECONDS, ScanProgress, ScanReport
from engine.media.beats import Beats, Fit
from engine.recommend.feel import Feel
from engine.recommend.prompt import ParsedPrompt
from engine.recommend.result import Recommendation, Result

__all__ = [
    "Beats",
    "EngineInfo",
    "ExportClip",
    "ExportResult",
    "ExportedCue",
    "Feel",
    "Fit",
    "ImportedTimeline",
    "IndexStatus",
    "LibraryStatus",
    "ParsedPrompt",
    "QUICK_FROM_FILES",
    "QUICK_FROM_SECONDS",
    "Recommendation",
    "Result",
    "RootStatus",
    "ScanErrorRecord",
    "ScanProgress",
    "ScanReport",
    "ScoredTimeline",
    "TimelineClip",
    "Track",
    "to_json",
]


def to_json(value: Any) -> Any:
    """Plain JSON values (dicts, lists, numbers, strings) for any record, list or dict of records."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return msgspec.to_builtins(value, builtin_types=None, str_keys=True)


@dataclass(frozen=True)
class EngineInfo:
    version: str
    bundle_id: str
    bundle_path: str
    execution: str  # "CPUExecutionProvider (2 threads)", as ONNX Runtime reports it
    device: str  # "cpu" | "cuda"
    data_dir: str
    licences: list[str]


@dataclass(frozen=True)
class Track:
    """A library track as the scan measured it."""

    id: int
    path: str  # as the filesystem wants it: undecodable bytes survive (os.fsdecode)
    display: str  # for people: undecodable bytes shown as U+FFFD
    title: str | None
    artist: str | None
    album: str | None
    duration: float
    bpm: float | None
    key: str | None
    loudness_lufs: float | None  # integrated loudness (EBU R128); None until the next scan measures it
    vocal_score: float | None
    tags: dict[str, dict[str, float]]  # {"genres": {name: p}, "moods": ..., "instruments": ...} (said_groups)
    online: bool  # its drive is plugged in and the file was there at the last scan
    segments: int = 0
    energy: float | None = None  # measured, -1 calm .. +1 intense (engine/affect.py)
    mood: float | None = None  # measured, -1 dark .. +1 bright; the weak axis
    quick: bool = False  # analysed from one window by a quick pass: provisional until the next scan completes it
    bpm_set: bool = False  # `bpm` is a tempo a person set (Engine.set_tempo), not the scan's
    bpm_measured: float | None = None  # the scan's tempo, whatever was set

    @property
    def name(self) -> str:
        """ "Artist – Title", or the file name when the tags say nothing."""
        return " – ".join(x for x in (self.artist, self.title) if x) or Path(self.display).name

    @property
    def label(self) -> str:
        """The title, or the file name when the tags have none."""
        return self.title or Path(self.display).name

    def to_json(self) -> dict:
        return msgspec.to_builtins(self) | {"name": self.name}


@dataclass(frozen=True)
class RootStatus:
    path: str
    online: bool
    last_scan: float | None
    tracks: int
    offline_tracks: int = 0  # kept, but on a drive or in a folder that is not there now


@dataclass(frozen=True)
class IndexStatus:
    segments: int
    bundle_id: str
    built_at: float
    current: bool  # built by this bundle from everything the catalog holds


@dataclass(frozen=True)
class LibraryStatus:
    bundle_id: str
    roots: list[RootStatus]
    tracks: int
    audio_hours: float
    segments: int
    errors: int
    stale_tracks: int  # embedded by another bundle: the next scan re-embeds them
    index: IndexStatus | None
    scanning: bool = False  # a scan is running (in this process or another)
    quick_tracks: int = 0  # searchable from a quick pass's one window; the scan's full analysis completes them
    # Measured by the first drum detector and not yet by the network (Recommendation.unheard_drums, from the
    # catalog rather than the index); None where the scan does not listen for drums.
    unheard_drums: int | None = 0

    @property
    def complete_tracks(self) -> int:
        """Tracks of this bundle with their full analysis."""
        return self.tracks - self.stale_tracks - self.quick_tracks


@dataclass(frozen=True)
class ScanErrorRecord:
    path: str
    reason: str
    at: float


@dataclass(frozen=True)
class ExportClip:
    """One clip of an edit to export and the music under it, as a front end asks for it."""

    video: str | os.PathLike[str]
    clip_in: float = 0.0
    clip_out: float | None = None  # default: the end of the file
    track: int | str | None = None  # a library track by id or path; None: silence under this clip
    music_start: float | None = None  # where the music starts (default: its best segment, or 0)
    fit: bool = True  # move the start onto a downbeat where the music lasts the clip (a fitted start stays)
    record_in: float | None = None  # where it sits on the timeline, seconds from its start; None: after the last


@dataclass(frozen=True)
class ScoredTimeline:
    """An editor's cut with the top recommendation under each picture clip, ready for `Engine.export`."""

    timeline: ImportedTimeline
    clips: list[TimelineClip]  # the picture clips scored (those of the track asked for), in record order
    edit: list[ExportClip]  # one per clip, at its place: its music, or silence where nothing fits
    notes: list[str] = field(default_factory=list)  # the reading's notes, then each clip left without music

    def to_json(self) -> dict:
        edit = [
            {"video": str(e.video), "in": e.clip_in, "out": e.clip_out, "track_id": e.track}
            | {"music_start": e.music_start, "record_in": e.record_in}
            for e in self.edit
        ]
        return {"timeline": self.timeline.to_json(), "clips": edit, "notes": list(self.notes)}


@dataclass(frozen=True)
class ExportedCue:
    video: str
    clip_in: float
    clip_out: float
    track_id: int | None
    music: str | None
    music_start: float | None
    music_end: float | None  # before the clip's out point when the track runs out under it
    record_in: float | None = None  # where it was placed, as asked (None: after the clip before it)

    def to_json(self) -> dict:
        out = msgspec.to_builtins(self)
        out["in"], out["out"] = out.pop("clip_in"), out.pop("clip_out")
        return out


@dataclass(frozen=True)
class ExportResult:
    format: str  # "otio" | "fcp7" | "fcpx" | "edl"
    frame_rate: float
    cues: list[ExportedCue]
    path: str | None = None  # the file written, when one was asked for
    content: str | None = None  # the timeline text, when no file was asked for
    notes: list[str] = field(default_factory=list)  # what the editor should know (music shorter than a clip...)

    def to_json(self) -> dict:
        return {
            "format": self.format,
            "frame_rate": self.frame_rate,
            "clips": [c.to_json() for c in self.cues],
            "path": self.path,
            "content": self.content,
            "notes": list(self.notes),
        }
