"""Timelines from editors, read: the picture clips of a cut, the file each plays and where it sits.

An editor cuts in Premiere, Resolve or Final Cut and hands the cut over as FCP 7 XML, FCPXML, a CMX 3600
EDL or OTIO; the export then writes it back with music under each clip at the same positions. The formats
are read by OpenTimelineIO's adapters (the ones the export writes with); this module takes from their
timeline what a clip plays (its file, its in and out in seconds of that file) and where (seconds from the
timeline's start, on its frames), and says in a note what it leaves out and why: a title, a generator, a
nested sequence, a clip whose file is not there. One missing file never costs the rest of the cut.

Two formats need help the adapters do not give:
- FCPXML: the fcpx_xml adapter counts every time in whole frames of a whole-number rate (29 for 29.97)
  and drops the fractions, so a clip a minute into a 29.97 cut lands two seconds late, and it reads
  neither FCPXML 1.9's `<media-rep>` nor generators. `_ExactFcpx` keeps its reading of the document and
  counts every time exactly, on the sequence's frames.
- EDL: it states no rate and no start. The rate is the one given, else that of its first clip's file; the
  start is the hour its first event is in (editors start sequences at 00:00:00:00 or 01:00:00:00), so a
  gap before the first clip is kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

import msgspec
import opentimelineio as otio
from otio_fcpx_xml_adapter.fcpx_xml import FcpxXml

from engine.errors import DecodeError, TimelineReadError
from engine.export.edit import (
    DEFAULT_RATE,
    FORMAT_NAMES,
    META,
    own_timecode,
    start_frame,
    stream_rate,
    timecode_text,
)
from engine.export.rates import FrameRate, exact_rate
from engine.media.streams import media_streams

SUFFIXES = {".otio": "otio", ".xml": "fcp7", ".fcpxml": "fcpx", ".fcpxmld": "fcpx", ".edl": "edl"}
_ADAPTERS = {"otio": "otio_json", "fcp7": "fcp_xml", "edl": "cmx_3600"}


@dataclass(frozen=True)
class TimelineClip:
    """One picture clip of an editor's timeline: the file it plays, from where to where, and where it sits."""

    video: str  # the media file, resolved (a relative one against the timeline's folder)
    name: str  # as the timeline names the clip
    clip_in: float  # seconds into the file
    clip_out: float
    record_in: float  # seconds from the timeline's start, on its frames
    record_out: float
    track: int = 1  # the video track it is on: 1 is V1
    record_timecode: str = ""  # where it sits as the editor's timeline shows it: "01:00:04;12"

    def to_json(self) -> dict:
        out = msgspec.to_builtins(self)
        out["in"], out["out"] = out.pop("clip_in"), out.pop("clip_out")
        return out


@dataclass(frozen=True)
class ImportedTimeline:
    """An editor's timeline as read: its picture clips in record order, its rate and start timecode."""

    path: str
    format: str  # "otio" | "fcp7" | "fcpx" | "edl"
    name: str
    frame_rate: float
    drop_frame: bool
    start_timecode: str  # "01:00:00;00": where its record positions count from
    clips: list[TimelineClip]
    notes: list[str] = field(default_factory=list)  # each clip left out and why, and what was assumed

    def to_json(self) -> dict:
        return msgspec.to_builtins(self) | {"clips": [c.to_json() for c in self.clips]}


@dataclass
class _Read:
    """A timeline as an adapter gave it, with what the format says beside it."""

    timeline: otio.schema.Timeline
    rate: FrameRate
    origin: int  # the absolute frame a track's position 0 is (its timecode count)
    start: int  # the absolute frame the timeline starts at
    notes: list[str]


def overlapping(clips: list[TimelineClip]) -> tuple[TimelineClip, TimelineClip] | None:
    """The first clip (in record order) that starts before an earlier one ends, with that one: music goes
    under one picture track, so such a cut needs one of its tracks chosen."""
    longest = None  # the earlier clip that ends last
    for clip in clips:
        if longest is not None and clip.record_in < longest.record_out - 1e-6:
            return longest, clip
        longest = clip if longest is None or clip.record_out > longest.record_out else longest
    return None


def read_timeline(path: str | os.PathLike[str], rate: float | None = None) -> ImportedTimeline:
    """The picture clips of the timeline at `path` (OTIO, FCP 7 XML, FCPXML or EDL), in record order.
    `rate`: an EDL's frame rate (an EDL does not state one; default: its first clip's file's)."""
    path = Path(path)
    fmt = _format_of(path)
    read = _read(path, fmt, rate)
    folder = path.parent
    placed: list[TimelineClip] = []
    notes = list(read.notes)
    for number, track in enumerate(read.timeline.video_tracks(), 1):
        offset = -_frames(track.source_range.start_time, read.rate) if track.source_range else 0
        for item in track:
            if isinstance(item, otio.schema.Gap | otio.schema.Transition):
                continue
            at = read.origin + offset + _frames(item.range_in_parent().start_time, read.rate)
            clip = _clip(item, folder, (at, read.start), number, read.rate, notes)
            if clip is not None:
                placed.append(clip)
    clips = sorted(placed, key=lambda c: (c.record_in, c.track))
    if not clips and len(notes) == len(read.notes):  # nothing was left out: there was nothing to read
        raise TimelineReadError(f"{path.name} holds no picture clips: the timeline (or its video tracks) is empty")
    if not clips:
        raise TimelineReadError(f"{path.name} has no picture clip whose file is here: {'; '.join(notes)}")
    return ImportedTimeline(
        path=str(path),
        format=fmt,
        name=read.timeline.name or path.stem,
        frame_rate=float(read.rate.fps),
        drop_frame=read.rate.drop_frame,
        start_timecode=timecode_text(read.start, read.rate),
        clips=clips,
        notes=notes,
    )


def _format_of(path: Path) -> str:
    if not path.exists():
        raise TimelineReadError(f"there is no timeline file {path}")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise TimelineReadError(f"{path.name} is not a timeline Needledrop reads: it reads {known} files")
    if path.is_dir() != (path.suffix.lower() == ".fcpxmld"):
        raise TimelineReadError(f"{path} is a folder, not a timeline file")
    if fmt == "fcp7" and b"<fcpxml" in path.read_bytes()[:4096]:  # Final Cut's XML saved as .xml
        return "fcpx"
    return fmt


def _read(path: Path, fmt: str, rate: float | None) -> _Read:
    try:
        if fmt == "fcpx":
            return _read_fcpx(path / "Info.fcpxml" if path.is_dir() else path)
        if fmt == "edl":
            return _read_edl(path, rate)
        if fmt == "fcp7":
            return _read_fcp7(path)
        timeline = otio.adapters.read_from_file(str(path), _ADAPTERS[fmt])
    except TimelineReadError:
        raise
    except Exception as exc:  # adapters raise their own types, and XML or JSON errors
        raise TimelineReadError(f"{path.name} could not be read as {FORMAT_NAMES[fmt]}: {exc}") from exc
    if not isinstance(timeline, otio.schema.Timeline):
        raise TimelineReadError(f"{path.name} holds no timeline (an OTIO file of another kind)")
    return _placed(timeline, fmt, [])


def _placed(timeline: otio.schema.Timeline, fmt: str, notes: list[str]) -> _Read:
    """A timeline whose tracks count from its global start (OTIO, FCP 7 XML)."""
    frame_rate = _rate_of(timeline, fmt)
    start = timeline.global_start_time
    origin = _frames(start, frame_rate) if start is not None else 0
    return _Read(timeline, frame_rate, origin, origin, notes)


def _read_fcp7(path: Path) -> _Read:
    """FCP 7 XML without its generators (slugs, titles, colour mattes), which the adapter refuses outright:
    each clip item states its own start and end, so the others keep their places."""
    root = ET.fromstring(path.read_bytes())
    notes = []
    for number, track in enumerate(root.iterfind(".//sequence/media/video/track"), 1):
        for generator in track.findall("generatoritem"):
            name = generator.findtext("name") or "a generator"
            notes.append(f"{name} on V{number} is a generator or title, left out: it has no media file to score")
            track.remove(generator)
    timeline = otio.adapters.read_from_string(ET.tostring(root, encoding="unicode"), "fcp_xml")
    return _placed(timeline, "fcp7", notes)


def _rate_of(timeline: otio.schema.Timeline, fmt: str) -> FrameRate:
    """The timeline's rate: as our export states it, else as the sequence counts its timecode."""
    ours = timeline.metadata.get(META)
    if ours and "fps" in ours:
        return FrameRate(Fraction(ours["fps"]), bool(ours["drop_frame"]))
    counted = timeline.global_start_time or next(
        (c.source_range.duration for c in timeline.find_clips() if c.source_range), None
    )
    if counted is None:
        return DEFAULT_RATE
    display = timeline.metadata.get("fcp_xml", {}).get("timecode", {}).get("displayformat")
    return exact_rate(counted.rate, drop_frame=fmt == "fcp7" and display == "DF")


# Some editors write a drop-frame timecode with every separator a semicolon (00;59;58;12); OpenTimelineIO's
# reader takes only the last one as such.
_ALL_SEMICOLONS = re.compile(r"(?<![\d;:])(\d\d);(\d\d);(\d\d);(\d\d)(?![\d;:])")


def _read_edl(path: Path, rate: float | None) -> _Read:
    text = path.read_bytes().decode("utf-8", errors="replace")
    # Comments ("* FROM CLIP NAME: 01;02;03;04.mov") name files: only the events' timecodes are rewritten.
    text = "".join(
        line if line.lstrip().startswith("*") else _ALL_SEMICOLONS.sub(r"\1:\2:\3;\4", line)
        for line in text.splitlines(keepends=True)
    )
    drop = "FCM: DROP FRAME" in text.upper()
    if rate is None:
        # Which files an EDL's clips play does not depend on the rate: read it once to find one, at a rate
        # whose timecode holds any frame number (and drops frames where the EDL's timecodes do). At that
        # rate an event's source and record durations differ wherever they cross seconds differently.
        probe = 60000 / 1001 if drop else 60.0
        first = otio.adapters.read_from_string(text, "cmx_3600", rate=probe, ignore_timecode_mismatch=True)
        own = _first_file_rate(first, path.parent)
        frame_rate = own[0] if own else FrameRate(Fraction(30000, 1001) if drop else DEFAULT_RATE.fps, drop)
        # A guess either way, which a cut of footage at mixed rates can get wrong: said, with the way out.
        whose = f"the rate of its first clip's file, {own[1]}" if own else "none of its files states one"
        read_at = FrameRate(frame_rate.fps, drop).label()
        notes = [f"{path.name} states no frame rate: read at {read_at}, {whose}; give the rate if it is another"]
    else:
        frame_rate, notes = exact_rate(rate, drop_frame=drop), []
    timeline = otio.adapters.read_from_string(text, "cmx_3600", rate=float(frame_rate.fps))
    frame_rate = FrameRate(frame_rate.fps, drop)
    # The reader keeps each track's first record timecode as its (negative) start; the timeline starts in
    # the hour of the earliest.
    firsts = [-_frames(t.source_range.start_time, frame_rate) for t in timeline.video_tracks() if t.source_range]
    first = min(firsts, default=0)
    start = start_frame(f"{timecode_text(first, frame_rate)[:2]}:00:00:00", frame_rate)
    if first - start >= 60 * frame_rate.fps:  # a leader before the hour (00:59:50:00) reads as an hour's gap
        notes.append(
            f"{path.name} states no start timecode: read from {timecode_text(start, frame_rate)}, the hour its "
            f"first event ({timecode_text(first, frame_rate)}) is in"
        )
    return _Read(timeline, frame_rate, 0, start, notes)


def _first_file_rate(timeline: otio.schema.Timeline, folder: Path) -> tuple[FrameRate, str] | None:
    """The rate of the first clip's file that states one, and that file's name."""
    for clip in timeline.find_clips():
        video = _media_path(clip, folder)
        if video is not None and os.path.isfile(video):
            with contextlib.suppress(DecodeError):  # said when the clip is read
                picture = media_streams(video).picture
                if picture is not None:
                    return stream_rate(picture), Path(video).name
    return None


def _read_fcpx(path: Path) -> _Read:
    if missing := [name for name in ADAPTER_HOOKS if not callable(getattr(FcpxXml, name, None))]:
        # Another release of the adapter: without these, its own 29-for-29.97 count would read silently.
        raise TimelineReadError(
            f"this otio-fcpx-xml-adapter has no {', '.join(missing)}, which Needledrop's exact FCPXML reading "
            "replaces or calls: install the version pyproject.toml names"
        )
    reader = _ExactFcpx(path.read_bytes())
    found = reader.to_otio()
    timelines = (
        [t for t in found if isinstance(t, otio.schema.Timeline)]
        if not isinstance(found, otio.schema.Timeline)
        else [found]
    )
    if not timelines:
        raise TimelineReadError(f"{path.name} holds no project (only clips or events)")
    notes = []
    if len(timelines) > 1:
        notes.append(f"{path.name} holds {len(timelines)} projects: this is {timelines[0].name or 'the first'}")
    if reader.titles:
        notes.append(f"{reader.titles} title(s) left out: a title has no media file to score")
    start = _frames(timelines[0].global_start_time, reader.rate)
    return _Read(timelines[0], reader.rate, 0, start, notes)


# The adapter's private methods _ExactFcpx replaces or calls (otio-fcpx-xml-adapter 1.0): checked before each read.
ADAPTER_HOOKS = (
    "_format_frame_rate",
    "_format_id_for_clip",
    "_number_of_frames",
    "_time_range",
    "_timing_clip",
    "_reference_from_id",
    "_audio_only",
    "_from_project",
    "_asset_by_id",
    "_format_by_id",
)


class _ExactFcpx(FcpxXml):
    """The fcpx_xml adapter's reading, with every time exact on the first sequence's frames, FCPXML 1.9's
    media files, generators (a `<video>` of an effect) as generators rather than a crash, and sound-only
    clips (the music under a clip) on sound tracks.

    The adapter counts each time in the frames of the element's own format and adds counts of different
    formats together; one count for the whole document (the sequence's) keeps its sums true."""

    def __init__(self, text: bytes) -> None:
        super().__init__(text)
        sequence = self.fcpx_xml.find(".//sequence")
        if sequence is None:
            raise TimelineReadError("the FCPXML holds no project with a sequence (only resources or events)")
        frame = self._format_by_id(sequence.get("format"))
        self.frame = _fcpx_seconds(frame.get("frameDuration") if frame is not None else None) or Fraction(1, 25)
        self.rate = exact_rate(1 / self.frame, drop_frame=sequence.get("tcFormat") == "DF")
        self.titles = 0

    def _time(self, value: str | None) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(round(_fcpx_seconds(value) / self.frame), float(self.rate.fps))

    def _format_frame_rate(self, format_id):  # noqa: ARG002 - one count for every format
        return float(self.rate.fps)

    def _format_id_for_clip(self, clip, default_format):  # noqa: ARG002 - an effect has no format
        return default_format

    def _number_of_frames(self, time_value, format_id):  # noqa: ARG002
        return round(_fcpx_seconds(time_value) / self.frame)

    def _time_range(self, element, format_id):  # noqa: ARG002
        return otio.opentime.TimeRange(self._time(element.get("start")), self._time(element.get("duration")))

    def _timing_clip(self, clip):
        # A generator sits in the spine by itself: it is its own timing element.
        found = clip
        while found is not None and found.tag not in ("clip", "asset-clip", "ref-clip"):
            found = self.child_parent_map.get(found)
        return clip if found is None else found

    def _reference_from_id(self, asset_id, default_format):  # noqa: ARG002
        asset = self._asset_by_id(asset_id)
        if asset is None:  # an effect: a generator
            effect = self.fcpx_xml.find(f"./resources/effect[@id='{asset_id}']")
            return otio.schema.GeneratorReference(name=effect.get("name", "") if effect is not None else "")
        media = asset.find("media-rep[@kind='original-media']")
        media = media if media is not None else asset.find("media-rep")
        src = asset.get("src") or (media.get("src") if media is not None else None)
        if not src:
            return otio.schema.MissingReference()
        return otio.schema.ExternalReference(
            target_url=src,
            available_range=otio.opentime.TimeRange(self._time(asset.get("start")), self._time(asset.get("duration"))),
        )

    def _audio_only(self, element):
        # The adapter tests the asset element for truth, which one without children (FCPXML 1.8's) is not.
        if element.tag == "asset-clip":
            asset = self._asset_by_id(element.get("ref"))
            return asset is not None and asset.get("hasVideo", "0") == "0"
        return super()._audio_only(element)

    def _from_project(self, project_element):
        timeline = super()._from_project(project_element)
        sequence = project_element.find("./sequence")
        # Spine offsets count from the sequence's start timecode, as Final Cut writes them.
        timeline.global_start_time = self._time(sequence.get("tcStart") if sequence is not None else None)
        self.titles += sum(1 for _ in project_element.iter("title"))
        return timeline


def _fcpx_seconds(value: str | None) -> Fraction:
    """FCPXML's time ("1001/30000s", "5s", "0s") as exact seconds."""
    if not value:
        return Fraction(0)
    return Fraction(value.strip().removesuffix("s"))


def _frames(time: otio.opentime.RationalTime, rate: FrameRate) -> int:
    return round(time.rescaled_to(float(rate.fps)).value)


def _clip(
    item: otio.core.Composable, folder: Path, at: tuple[int, int], track: int, rate: FrameRate, notes: list[str]
) -> TimelineClip | None:
    """The clip as Needledrop uses it, or None with a note saying why it is left out. `at`: the absolute
    frame it starts on, and the timeline's start."""
    at, start = at
    where = f"at {timecode_text(at, rate)} on V{track}"
    name = getattr(item, "name", "") or "a clip"
    if not isinstance(item, otio.schema.Clip):
        notes.append(f"{name} {where} is a nested sequence, left out: flatten it in the editor to score its clips")
        return None
    if not item.enabled:
        notes.append(f"{name} {where} is disabled, left out")
        return None
    if isinstance(item.media_reference, otio.schema.GeneratorReference):
        notes.append(f"{name} {where} is a generator or title, left out: it has no media file to score")
        return None
    video = _media_path(item, folder)
    if video is None:
        notes.append(f"{name} {where} names no media file, left out")
        return None
    if not os.path.isfile(video):
        notes.append(f"{name} {where}: its file {video} is not there (offline or moved), left out")
        return None
    clip_in = item.source_range.start_time.to_seconds() - _file_start(item, video)
    if clip_in < -0.5 / float(rate.fps):
        notes.append(
            f"{name} {where} starts before its file does (source timecode "
            f"{timecode_text(_frames(item.source_range.start_time, rate), rate)}): left out; is it the right file?"
        )
        return None
    clip_in = max(clip_in, 0.0)
    record_in = Fraction(at - start) / rate.fps
    return TimelineClip(
        video=video,
        name=name,
        clip_in=round(clip_in, 6),
        clip_out=round(clip_in + item.source_range.duration.to_seconds(), 6),
        record_in=float(record_in),
        record_out=float(record_in + _frames(item.source_range.duration, rate) / rate.fps),
        track=track,
        record_timecode=timecode_text(at, rate),
    )


def _file_start(clip: otio.schema.Clip, video: str) -> float:
    """Where the file's own time starts, as source ranges count it (its timecode): as the timeline says
    it, else (an EDL) as the file says it."""
    available = getattr(clip.media_reference, "available_range", None)
    if available is not None:
        return available.start_time.to_seconds()
    with contextlib.suppress(DecodeError):  # a file without a readable timecode counts from 0
        picture = media_streams(video).picture
        if picture is not None:
            return float(own_timecode(picture, stream_rate(picture)))
    return 0.0


def _media_path(clip: otio.schema.Clip, folder: Path) -> str | None:
    """The clip's file: its reference's URL (a relative one against the timeline's folder), else, for an
    EDL that names only the clip, a file of that name beside the timeline."""
    url = getattr(clip.media_reference, "target_url", None)
    if not url:
        if clip.name and Path(clip.name).suffix and (folder / clip.name).is_file():
            return str(folder / clip.name)
        return None
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = os.fsdecode(unquote_to_bytes(parsed.path))  # bytes a file name holds that are not UTF-8, kept
    elif parsed.scheme and len(parsed.scheme) > 1:
        return None  # http: and the like: not a file here
    else:
        path = url
    if not os.path.isabs(path):
        path = str(folder / path)
    return path


__all__ = ["SUFFIXES", "ImportedTimeline", "TimelineClip", "read_timeline"]
