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
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlparse

import opentimelineio as otio

from engine.errors import NeedledropError
from engine.export.rates import FrameRate, file_rate, for_format
from engine.media.beats import Beats
from engine.media.streams import MediaStreams

FADE_SECONDS = 0.5
MAX_MARKERS_PER_CLIP = 500
DEFAULT_RATE = FrameRate(25)  # only for an edit whose files state no rate at all
EXACT_AUDIO = {"otio", "fcpx"}  # formats whose times are rational: the music's in point is sample-exact
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
    video_streams: MediaStreams | None = None  # as read from the file; None: a 25 fps picture-only file
    music_streams: MediaStreams | None = None

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
    return os.fsencode(Path(path).name).decode("utf-8", errors="replace")


def name_from_url(url: str) -> str:
    """The readable file name a file:// URL (from `file_url`) points at."""
    return os.path.basename(unquote_to_bytes(urlparse(url).path)).decode("utf-8", errors="replace")


def picture_rate(cue: Cue) -> FrameRate | None:
    """The clip file's own rate (a variable one conformed), or None when the file does not say."""
    picture = cue.video_streams.picture if cue.video_streams else None
    if picture is None:
        return None
    return file_rate(picture.rate, variable=picture.variable, drop_frame=picture.drop_frame)


def build_timeline(cues: list[Cue], fmt: str = "otio", *, name: str = "Needledrop") -> Built:
    """Picture and music tracks for `cues`, in order, at the first clip's rate as `fmt` can hold it."""
    if not cues:
        raise ExportError("nothing to export: the edit has no clips")
    own = picture_rate(cues[0]) or DEFAULT_RATE
    rate = for_format(own, fmt)
    timeline = otio.schema.Timeline(name=name, global_start_time=otio.opentime.RationalTime(0, float(rate.fps)))
    timeline.metadata[META] = {"drop_frame": rate.drop_frame, "fps": str(rate.fps)}
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    music = otio.schema.Track(name="Music (Needledrop)", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.extend([picture, music])
    exact = fmt in EXACT_AUDIO
    for cue in cues:
        if cue.length <= 0:
            raise ExportError(f"{display_name(cue.video)}: the out point must follow the in point")
        # Cut points on frames: the length is the difference of the rounded in and out points.
        length = _frames(rate, cue.clip_out) - _frames(rate, cue.clip_in)
        picture.append(
            otio.schema.Clip(
                name=display_name(cue.video),
                media_reference=(reference := _picture_reference(cue, fmt, rate)),
                # OpenTimelineIO's convention: the source range counts in the file's timecode.
                source_range=otio.opentime.TimeRange(
                    reference.available_range.start_time.rescaled_to(float(rate.fps)) + _frames(rate, cue.clip_in),
                    length,
                ),
            )
        )
        if cue.music is None:
            music.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(_frames(rate, 0.0), length)))
        else:
            music.extend(_music_items(cue, rate, length, exact=exact))
    return Built(timeline, rate, conform_notes(cues, fmt, rate))


def conform_notes(cues: list[Cue], fmt: str, rate: FrameRate) -> list[str]:
    """One sentence per clip file whose rate the timeline does not keep as the file has it."""
    notes, seen = [], set()
    for cue in cues:
        picture = cue.video_streams.picture if cue.video_streams else None
        if picture is None or cue.video in seen:
            continue
        seen.add(cue.video)
        name, own = display_name(cue.video), picture_rate(cue)
        written = for_format(own, fmt)
        if picture.variable:
            notes.append(
                f"{name} has a variable frame rate ({picture.average:.2f} fps on average): "
                f"conformed to {written.label()} in {FORMAT_NAMES[fmt]}"
            )
        elif written.fps != own.fps:
            notes.append(
                f"{name} is {own.label()}, which {FORMAT_NAMES[fmt]} cannot hold: conformed to {written.label()}"
            )
    if cues and (first := picture_rate(cues[0])) and first.fps != rate.fps and not notes:
        notes.append(f"the timeline is {rate.label()}")
    return notes


def _frames(rate: FrameRate, seconds: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(rate.frames(seconds), float(rate.fps))


def _samples(sample_rate: int, seconds: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(round(seconds * sample_rate), sample_rate)


def _picture_reference(cue: Cue, fmt: str, rate: FrameRate) -> otio.schema.ExternalReference:
    own = picture_rate(cue)
    file_rate_ = for_format(own, fmt) if own else rate
    streams = cue.video_streams
    facts = {"rate": str(file_rate_.fps), "drop_frame": file_rate_.drop_frame}
    if streams is not None and streams.picture is not None:
        facts |= {"width": streams.picture.width, "height": streams.picture.height}
        facts["timecode"] = streams.picture.timecode
    facts["sound"] = _sound_facts(streams)
    duration = _frames(file_rate_, cue.video_duration)
    timecode = streams.picture.timecode if streams is not None and streams.picture is not None else None
    start = _frames(file_rate_, float(timecode_seconds(timecode, own))) if timecode and own else _frames(file_rate_, 0)
    reference = otio.schema.ExternalReference(
        target_url=file_url(cue.video),
        available_range=otio.opentime.TimeRange(start, duration),
        metadata={META: facts},
    )
    reference.name = display_name(cue.video)
    return reference


def timecode_seconds(timecode: str, rate: FrameRate) -> Fraction:
    """Where a file's timecode starts, in seconds: "01:00:00;00" at 29.97 drop-frame is 107892 frames."""
    if rate.drop_frame:
        frame = otio.opentime.from_timecode(timecode.replace(":", ";"), float(rate.fps)).value
    else:
        hours, minutes, seconds, frames = (int(part) for part in re.split("[:;.]", timecode))
        frame = ((hours * 60 + minutes) * 60 + seconds) * rate.timebase + frames
    return Fraction(round(frame)) / rate.fps


def _sound_facts(streams: MediaStreams | None) -> dict | None:
    if streams is None or streams.sound is None:
        return None
    return {"sample_rate": streams.sound.sample_rate, "channels": streams.sound.channels}


def _music_items(cue: Cue, rate: FrameRate, length: otio.opentime.RationalTime, *, exact: bool) -> list:
    sound = cue.music_streams.sound if cue.music_streams else None
    if exact and sound is not None:
        start, whole = _samples(sound.sample_rate, cue.music_start), _samples(sound.sample_rate, cue.music_duration)
    else:
        start, whole = _frames(rate, cue.music_start), _frames(rate, cue.music_duration)
    # Music shorter than what remains of the clip ends early (the export notes say so); silence follows.
    available = (whole - start).rescaled_to(float(rate.fps))
    heard = min(length, otio.opentime.RationalTime(math.floor(available.value + 1e-6), float(rate.fps)))
    # A clip too short for two whole fades gets two that meet in its middle: editors refuse overlaps.
    fade = otio.opentime.RationalTime(min(rate.frames(FADE_SECONDS), heard.value // 2), float(rate.fps))
    reference = otio.schema.ExternalReference(
        target_url=file_url(cue.music),
        available_range=otio.opentime.TimeRange(start - start, whole),
        metadata={META: {"sound": _sound_facts(cue.music_streams), "rate": str(whole.rate)}},
    )
    reference.name = display_name(cue.music)
    clip = otio.schema.Clip(
        name=cue.title or display_name(cue.music),
        media_reference=reference,
        source_range=otio.opentime.TimeRange(start, heard),
        metadata={META: {"for_clip": display_name(cue.video), "fade_frames": fade.value}},
    )
    _beat_markers(clip, cue, rate)
    # Fades from and to silence: transitions against zero-length gaps, so nothing moves in time.
    empty = otio.opentime.TimeRange(_frames(rate, 0.0), _frames(rate, 0.0))
    items = [
        otio.schema.Gap(source_range=empty),
        _fade("fade in", fade, into=True),
        clip,
        _fade("fade out", fade, into=False),
        otio.schema.Gap(source_range=empty),
    ]
    if heard < length:
        items.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(_frames(rate, 0.0), length - heard)))
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
    start = clip.source_range.start_time
    downbeats = {round(t, 4) for t in cue.beats.downbeats}
    end = cue.music_start + cue.length
    for t in cue.beats.times:
        if not cue.music_start <= t < end or len(clip.markers) >= MAX_MARKERS_PER_CLIP:
            continue
        strong = round(t, 4) in downbeats
        at = start + _frames(rate, t - cue.music_start).rescaled_to(start.rate)
        clip.markers.append(
            otio.schema.Marker(
                name="downbeat" if strong else "beat",
                marked_range=otio.opentime.TimeRange(at, at - at),
                color=otio.schema.MarkerColor.RED if strong else otio.schema.MarkerColor.GREEN,
            )
        )
