"""The edit as an OpenTimelineIO timeline, at the rates one timeline format can hold.

The clips sit one after another on a picture track and each chosen track sits on a music track under its
clip: its source range starts at its (fitted) in point and lasts exactly as long as the clip, with short
fades in and out, and a marker on every beat it plays (downbeats red, other beats green).

Every file keeps its own rate: a picture file's media range counts its own frames (conformed only where
the format cannot hold its rate), a music file's counts samples where the format can say so, and only the
cut points are whole frames of the timeline. Facts the writers need and OpenTimelineIO has no field for
(a file's streams, drop-frame timecode) travel in the `needledrop` metadata of each media reference.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote_from_bytes

import opentimelineio as otio

from engine.errors import NeedledropError
from engine.export.rates import FrameRate, file_rate, for_format
from engine.media.beats import Beats
from engine.media.streams import MediaStreams, PictureStream

FADE_SECONDS = 0.5
MAX_MARKERS_PER_CLIP = 500
DEFAULT_RATE = FrameRate(25)  # only for an edit whose files state no rate at all
EXACT_AUDIO = {"otio", "fcpx"}  # formats whose times are rational: the music's in point is sample-exact
SMPTE_ONLY = {"fcp7", "edl"}  # formats whose adapters count every time in SMPTE timecode
PICTURE, MUSIC, CLIP_SOUND = "Picture", "Music (Needledrop)", "Clip sound"
FORMAT_NAMES = {"otio": "OTIO", "fcp7": "FCP 7 XML", "fcpx": "FCPXML", "edl": "EDL"}
META = "needledrop"


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
    video_streams: MediaStreams | None = None  # as read from the file; None: unknown (25 fps, no sound)
    music_streams: MediaStreams | None = None
    volume: tuple[tuple[float, float], ...] = ()  # music volume keyframes: (seconds into the clip, dB)
    record_in: float | None = None  # where it sits, seconds from the timeline's start; None: after the one before

    @property
    def length(self) -> float:
        return self.clip_out - self.clip_in


@dataclass(frozen=True)
class Built:
    timeline: otio.schema.Timeline
    rate: FrameRate
    notes: list[str]  # how the rates were conformed, for the export report


def file_url(path: str | os.PathLike[str]) -> str:
    """A file:// URL from the path's raw bytes, so a name that is not valid UTF-8 still names the file."""
    return "file://" + quote_from_bytes(os.fsencode(os.path.realpath(path)))


def display_name(path: str) -> str:
    """A file's name for people (and for XML, which cannot hold undecodable bytes)."""
    return printable(os.fsencode(Path(path).name).decode("utf-8", errors="replace"))


# What XML 1.0 cannot hold, and what breaks an EDL's one-line fields: control characters (line breaks too),
# lone surrogates, U+FFFE and U+FFFF. Tags from old rippers and taggers do hold them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]+")


def printable(text: str) -> str:
    """`text` as every timeline format can hold it: each run of control characters becomes one space."""
    return _UNPRINTABLE.sub(" ", text).strip()


def timeline_rate(timeline: otio.schema.Timeline) -> FrameRate:
    """The exact rate `build_timeline` chose, which OpenTimelineIO's float rates cannot hold."""
    facts = timeline.metadata[META]
    return FrameRate(Fraction(facts["fps"]), facts["drop_frame"])


def picture_rate(cue: Cue) -> FrameRate | None:
    """The clip file's own rate (a variable one conformed), or None when the file does not say."""
    picture = cue.video_streams.picture if cue.video_streams else None
    return None if picture is None else stream_rate(picture)


def stream_rate(picture: PictureStream) -> FrameRate:
    """A picture stream's own rate, as its file states it (a variable one conformed)."""
    return file_rate(picture.rate, variable=picture.variable, drop_frame=picture.drop_frame)


def own_timecode(picture: PictureStream | None, own: FrameRate) -> Fraction:
    """Where a file's own time starts, as source ranges count it: its timecode in seconds (0 without one)."""
    return timecode_seconds(picture.timecode, own) if picture is not None and picture.timecode else Fraction(0)


def build_timeline(
    cues: list[Cue],
    fmt: str = "otio",
    *,
    name: str = "Needledrop",
    start_timecode: str | None = None,
    rate: FrameRate | None = None,
) -> Built:
    """Picture, music and clip-sound tracks for `cues`, in order (each at its `record_in` where it has one,
    gaps kept), at `rate` (default: the first clip's) as `fmt` can hold it, the timeline starting at
    `start_timecode` (counted at that rate; default 00:00:00:00)."""
    rate = rate_for(cues, fmt, rate)
    start = start_frame(start_timecode, rate) if start_timecode else 0
    timeline = otio.schema.Timeline(
        name=printable(name), global_start_time=otio.opentime.RationalTime(start, float(rate.fps))
    )
    timeline.metadata[META] = {"drop_frame": rate.drop_frame, "fps": str(rate.fps)}
    picture = otio.schema.Track(name=PICTURE, kind=otio.schema.TrackKind.Video)
    music = otio.schema.Track(name=MUSIC, kind=otio.schema.TrackKind.Audio)
    sound = otio.schema.Track(name=CLIP_SOUND, kind=otio.schema.TrackKind.Audio)
    for cue in cues:
        if (before := _gap_before(cue, picture.duration(), rate, start)) is not None:
            for track in (picture, music, sound):
                track.append(before.clone())
        reference = _picture_reference(cue, fmt, rate)
        source = _picture_range(cue, reference, rate)
        picture.append(otio.schema.Clip(name=display_name(cue.video), media_reference=reference, source_range=source))
        if cue.video_streams is not None and cue.video_streams.sound is not None:
            # The clip's own sound (its dialogue) under it, as editors expect a clip to come with.
            sound.append(
                otio.schema.Clip(
                    name=display_name(cue.video),
                    media_reference=reference.clone(),
                    source_range=source,
                    metadata={META: {"sound_of": display_name(cue.video)}},  # its own item, not the picture's
                )
            )
        else:
            sound.append(_gap(source.duration))
        music.extend(_music_items(cue, rate, source.duration, exact=fmt in EXACT_AUDIO))
    timeline.tracks.extend([picture, music] + ([sound] if sound.find_clips() else []))
    return Built(timeline, rate, conform_notes(cues, fmt, rate))


def _gap_before(cue: Cue, end: otio.opentime.RationalTime, rate: FrameRate, start: int) -> otio.schema.Gap | None:
    """The gap from the end of the edit so far to where `cue` sits; None where it follows straight on.
    `start`: the timeline's first frame, so the error names the timecodes the editor sees."""
    if cue.record_in is None:
        return None
    at = _frames(rate, cue.record_in)
    end = end.rescaled_to(float(rate.fps))
    if at < end:
        raise ExportError(
            f"{display_name(cue.video)} is placed at {timecode_text(start + round(at.value), rate)}, before the "
            f"clip before it ends ({timecode_text(start + round(end.value), rate)}): clips on the picture track "
            "cannot overlap"
        )
    return _gap(at - end) if at > end else None


def conform_notes(cues: list[Cue], fmt: str, rate: FrameRate) -> list[str]:
    """One sentence for each rate the timeline does not keep as the footage has it."""
    notes = []
    first = cues[0].video_streams.picture if cues[0].video_streams else None
    own = picture_rate(cues[0])
    if first is not None and not first.variable and own.fps != rate.fps:
        notes.append(
            f"{display_name(cues[0].video)} is {own.label()}, which {FORMAT_NAMES[fmt]} timelines cannot run at: "
            f"the timeline is conformed to {rate.label()}"
        )
    seen = set()
    for cue in cues:
        streams = cue.video_streams.picture if cue.video_streams else None
        if streams is None or cue.video in seen:
            continue
        seen.add(cue.video)
        own = picture_rate(cue)
        if streams.variable:
            notes.append(
                f"{display_name(cue.video)} has a variable frame rate ({streams.average:.2f} fps on average): "
                f"conformed to {for_format(own, fmt).label()} in {FORMAT_NAMES[fmt]}"
            )
        elif fmt == "edl" and own != rate:
            notes.append(
                f"an EDL counts every clip at {rate.label()}: the source timecode of {display_name(cue.video)} "
                f"({own.label()}) is given in that count, not its own; conform it by clip name"
            )
    return notes


def _frames(rate: FrameRate, seconds: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(rate.frames(seconds), float(rate.fps))


def _whole_frames(rate: FrameRate | int, seconds: float) -> otio.opentime.RationalTime:
    """The frames (or samples) wholly inside `seconds`: a range ending there never runs past the media."""
    fps = rate.fps if isinstance(rate, FrameRate) else Fraction(rate)
    return otio.opentime.RationalTime(math.floor(Fraction(seconds) * fps + Fraction(1, 10**6)), float(fps))


def _samples(sample_rate: int, seconds: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(round(seconds * sample_rate), sample_rate)


def _gap(duration: otio.opentime.RationalTime) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(duration - duration, duration))


def file_rate_in(cue: Cue, fmt: str, rate: FrameRate) -> tuple[FrameRate, FrameRate]:
    """The clip file's own rate, and the rate its media range counts in `fmt`: its own, except where the
    adapter counts SMPTE timecode (FCP 7 XML, EDL), which fcp7.py then restores in the file's description."""
    own = picture_rate(cue) or rate
    return own, (for_format(own, fmt) if fmt in SMPTE_ONLY else own)


def _picture_reference(cue: Cue, fmt: str, rate: FrameRate) -> otio.schema.ExternalReference:
    own, counted = file_rate_in(cue, fmt, rate)
    picture = cue.video_streams.picture if cue.video_streams else None
    timecode = own_timecode(picture, own)
    facts = {
        "rate": str(counted.fps),
        "own_rate": str(own.fps),
        "own_frames": int(_whole_frames(own, cue.video_duration).value),
        "timecode_frames": round(timecode * own.fps),
        "drop_frame": own.drop_frame,
        "sound": _sound_facts(cue.video_streams),
    }
    if picture is not None:
        facts |= {"width": picture.width, "height": picture.height}
    reference = otio.schema.ExternalReference(
        target_url=file_url(cue.video),
        available_range=otio.opentime.TimeRange(
            _frames(counted, float(timecode)), _whole_frames(counted, cue.video_duration)
        ),
        metadata={META: facts},
    )
    reference.name = display_name(cue.video)
    return reference


def _picture_range(cue: Cue, reference: otio.schema.ExternalReference, rate: FrameRate) -> otio.opentime.TimeRange:
    """The clip's range in the file, cut on timeline frames and never past the file's last whole frame.
    OpenTimelineIO's convention: it counts in the file's timecode."""
    first = _frames(rate, cue.clip_in)
    last = min(_frames(rate, cue.clip_out), _whole_frames(rate, cue.video_duration))
    if last <= first:
        raise ExportError(f"{display_name(cue.video)}: the clip is shorter than one frame")
    return otio.opentime.TimeRange(
        reference.available_range.start_time.rescaled_to(float(rate.fps)) + first, last - first
    )


def timecode_seconds(timecode: str, rate: FrameRate) -> Fraction:
    """Where a file's timecode starts, in seconds: "01:00:00;00" at 29.97 drop-frame is 107892 frames."""
    if rate.drop_frame:
        frame = otio.opentime.from_timecode(timecode.replace(":", ";"), float(rate.fps)).value
    else:
        hours, minutes, seconds, frames = (int(part) for part in re.split("[:;.]", timecode))
        frame = ((hours * 60 + minutes) * 60 + seconds) * rate.timebase + frames
    return Fraction(round(frame)) / rate.fps


_SMPTE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")


def rate_for(cues: list[Cue], fmt: str, rate: FrameRate | None = None) -> FrameRate:
    """The rate the timeline runs at: `rate` (a read timeline's), else its first clip's, as `fmt` holds it."""
    if not cues:
        raise ExportError("nothing to export: the edit has no clips")
    return for_format(rate or picture_rate(cues[0]) or DEFAULT_RATE, fmt)


def start_frame(timecode: str, rate: FrameRate) -> int:
    """The frame a timeline's start timecode ("01:00:00:00", ";" for drop-frame) names, at `rate`."""
    found = _SMPTE.match(timecode.strip())
    if not found or int(found[2]) > 59 or int(found[3]) > 59 or int(found[5]) >= rate.timebase:
        raise ExportError(f"{timecode!r} is not a start timecode at {rate.label()}: give HH:MM:SS:FF, e.g. 01:00:00:00")
    try:
        return round(timecode_seconds(timecode.strip(), rate) * rate.fps)
    except ValueError as exc:  # a frame number drop-frame timecode skips ("00:01:00;00")
        raise ExportError(f"{timecode!r} is not a start timecode at {rate.label()}: {exc}") from exc


def timecode_text(frame: int, rate: FrameRate) -> str:
    """The timecode of `frame` counted at `rate`: drop-frame ("01:00:00;00") where the rate drops, else
    plain, also at rates SMPTE does not know (12 fps), which OpenTimelineIO refuses to count."""
    if rate.drop_frame:
        return otio.opentime.to_timecode(otio.opentime.RationalTime(frame, float(rate.fps)), float(rate.fps), True)
    seconds, frames = divmod(frame, rate.timebase)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}:{frames:02d}"


def _sound_facts(streams: MediaStreams | None) -> dict | None:
    if streams is None or streams.sound is None:
        return None
    return {"sample_rate": streams.sound.sample_rate, "channels": streams.sound.channels}


def _music_items(cue: Cue, rate: FrameRate, length: otio.opentime.RationalTime, *, exact: bool) -> list:
    """The music under one clip: faded in and out, silence after it if it ends first, or a gap."""
    if cue.music is None:
        return [_gap(length)]
    sound = cue.music_streams.sound if cue.music_streams else None
    count = sound.sample_rate if exact and sound is not None else rate  # samples where the format can say so
    start = _samples(count, cue.music_start) if exact and sound is not None else _frames(rate, cue.music_start)
    whole = _whole_frames(count, cue.music_duration)
    # Music shorter than what remains of the clip ends early (the export notes say so); silence follows.
    heard = min(length, _whole_frames(rate, (whole - start).to_seconds()))
    if heard.value <= 0:
        return [_gap(length)]
    # A clip too short for two whole fades gets two that meet in its middle: editors refuse overlaps.
    fade = otio.opentime.RationalTime(min(rate.frames(FADE_SECONDS), heard.value // 2), float(rate.fps))
    reference = otio.schema.ExternalReference(
        target_url=file_url(cue.music),
        available_range=otio.opentime.TimeRange(whole - whole, whole),
        metadata={META: {"sound": _sound_facts(cue.music_streams), "rate": str(whole.rate)}},
    )
    reference.name = display_name(cue.music)
    clip = otio.schema.Clip(
        name=printable(cue.title or "") or display_name(cue.music),
        media_reference=reference,
        source_range=otio.opentime.TimeRange(start, heard),
        metadata={META: {"for_clip": display_name(cue.video), "fade_frames": fade.value}},
    )
    if cue.volume:
        clip.metadata[META]["volume_db"] = [[round(t, 4), db] for t, db in cue.volume]
    _beat_markers(clip, cue, rate)
    items = [clip]
    if fade.value:
        # Fades from and to silence: transitions against zero-length gaps, so nothing moves in time.
        none = _gap(fade - fade)
        items = [none, _fade("fade in", fade, into=True), clip, _fade("fade out", fade, into=False), none.clone()]
    if heard < length:
        items.append(_gap(length - heard))
    return items


def _fade(name: str, fade: otio.opentime.RationalTime, *, into: bool) -> otio.schema.Transition:
    zero = fade - fade
    return otio.schema.Transition(
        name=name,
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=zero if into else fade,
        out_offset=fade if into else zero,
    )


def _beat_markers(clip: otio.schema.Clip, cue: Cue, rate: FrameRate) -> None:
    """A marker on each beat heard, on the timeline frame it falls in (editors snap to frames)."""
    if cue.beats is None:
        return
    start, heard = clip.source_range.start_time, clip.source_range.duration.value
    downbeats = {round(t, 4) for t in cue.beats.downbeats}
    for t in cue.beats.times:
        frame = _frames(rate, t - cue.music_start)
        if t < cue.music_start or frame.value >= heard or len(clip.markers) >= MAX_MARKERS_PER_CLIP:
            continue
        strong = round(t, 4) in downbeats
        at = start + frame.rescaled_to(start.rate)
        clip.markers.append(
            otio.schema.Marker(
                name="downbeat" if strong else "beat",
                marked_range=otio.opentime.TimeRange(at, at - at),
                color=otio.schema.MarkerColor.RED if strong else otio.schema.MarkerColor.GREEN,
            )
        )
