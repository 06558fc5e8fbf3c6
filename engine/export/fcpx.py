"""FCPXML 1.8 for Final Cut Pro, written from the timeline directly.

OpenTimelineIO's fcpx_xml adapter cannot serve here: it looks rates up in a table keyed by float (29.97
fails), writes beats as to-do items, runs ffprobe on every file, and carries the music as a gap holding
audio. FCPXML is small and documented (Apple's FCPXML DTD), so this writes it: a sequence at the
timeline's frame duration (1001/30000s for 29.97), each clip's format its own, every time a rational number
of seconds. The picture clips form the primary storyline; each music clip is connected under its picture
clip (lane -1), its in point exact to the sample, its fades a volume fade, its ducking under dialogue
volume keyframes, and its beats standard markers (FCPXML markers have no colour: downbeats are named
so). The adapter still reads the result back, which the tests use.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from engine.export.edit import META, MUSIC, timeline_rate
from engine.export.rates import FrameRate

VERSION = "1.8"  # the newest version whose assets name their file in `src` (1.9 moved it to <media-rep>)


def write(timeline: otio.schema.Timeline) -> str:
    rate = timeline_rate(timeline)
    start = _exact(timeline.global_start_time)
    picture = timeline.video_tracks()[0]
    music = next(track for track in timeline.audio_tracks() if track.name == MUSIC)
    root = ET.Element("fcpxml", version=VERSION)
    resources = _Resources(ET.SubElement(root, "resources"))
    first = picture.find_clips()[0].media_reference.metadata.get(META, {})
    sequence_format = resources.format(rate, first.get("width"), first.get("height"))
    project = ET.SubElement(
        ET.SubElement(ET.SubElement(root, "library"), "event", name=timeline.name), "project", name=timeline.name
    )
    sequence = ET.SubElement(
        project,
        "sequence",
        format=sequence_format,
        duration=_time(_exact(timeline.duration())),
        tcStart=_time(start),
        tcFormat="DF" if rate.drop_frame else "NDF",
        audioLayout="stereo",
        audioRate="48k",
    )
    spine = ET.SubElement(sequence, "spine")
    music_under = _music_by_position(music)
    for shot in picture:
        position = _exact(shot.range_in_parent().start_time)
        if isinstance(shot, otio.schema.Gap):  # the storyline holds no holes: Final Cut writes gaps as elements
            ET.SubElement(
                spine, "gap", name="Gap", offset=_time(start + position), duration=_time(_exact(shot.duration()))
            )
            continue
        element = _picture_clip(spine, resources, shot, start + position, rate)
        tune = music_under.get(position)
        if tune is not None:
            _music_clip(element, resources, tune, rate)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(root, encoding="unicode") + "\n"


class _Resources:
    """Formats and assets, each written once and referred to by id."""

    def __init__(self, element: ET.Element) -> None:
        self.element = element
        self.ids: dict[tuple, str] = {}

    def _new(self, key: tuple, tag: str, **attributes: str) -> str:
        if key not in self.ids:
            self.ids[key] = f"r{len(self.ids) + 1}"
            ET.SubElement(self.element, tag, id=self.ids[key], **{k: v for k, v in attributes.items() if v})
        return self.ids[key]

    def format(self, rate: FrameRate, width: int | None, height: int | None) -> str:
        size = {"width": str(width), "height": str(height)} if width and height else {}
        # Final Cut writes 1001/30000s and 100/2500s: the same numbers as 1/25s, in the form it expects.
        scale = 1 if rate.ntsc else 100
        duration = f"{rate.fps.denominator * scale}/{rate.fps.numerator * scale}s"
        return self._new(("format", rate.fps, width, height), "format", frameDuration=duration, **size)

    def asset(self, clip: otio.schema.Clip, format_id: str | None) -> str:
        reference = clip.media_reference
        facts = reference.metadata.get(META, {})
        sound = facts.get("sound") or {}
        attributes = {
            "name": reference.name,
            "src": reference.target_url,
            "start": _time(_exact(reference.available_range.start_time)),
            "duration": _time(_exact(reference.available_range.duration)),
            "hasVideo": "1" if facts.get("width") else "0",
            "format": format_id or "",
            "hasAudio": "1" if sound else "0",
            "audioSources": "1" if sound else "",
            "audioChannels": str(sound.get("channels", "")),
            "audioRate": str(sound.get("sample_rate", "")),
        }
        return self._new(("asset", reference.target_url), "asset", **attributes)


def _picture_clip(
    spine: ET.Element, resources: _Resources, shot: otio.schema.Clip, position: Fraction, rate: FrameRate
) -> ET.Element:
    facts = shot.media_reference.metadata.get(META, {})
    own = FrameRate(Fraction(facts.get("rate", rate.fps)))
    format_id = resources.format(own, facts.get("width"), facts.get("height"))
    # The in point on the file's own frames, counted from its timecode: the one nearest the cut, or the one
    # before it where that would run the clip past the file's end. Offset and duration on the sequence's frames.
    available = shot.media_reference.available_range
    timecode = _exact(available.start_time)
    into = Fraction((shot.source_range.start_time - available.start_time).to_seconds())
    room = _exact(available.duration) - _exact(shot.source_range.duration)
    frame = max(0, min(round(into * own.fps), math.floor(room * own.fps + Fraction(1, 10**6))))
    start = timecode + Fraction(frame) / own.fps
    return ET.SubElement(
        spine,
        "asset-clip",
        ref=resources.asset(shot, format_id),
        name=shot.name,
        offset=_time(position),
        start=_time(start),
        duration=_time(_exact(shot.source_range.duration)),
        format=format_id,
        tcFormat="DF" if facts.get("drop_frame") else "NDF",
    )


def _music_clip(parent: ET.Element, resources: _Resources, tune: otio.schema.Clip, rate: FrameRate) -> None:
    start = _exact(tune.source_range.start_time)
    element = ET.SubElement(
        parent,
        "asset-clip",
        ref=resources.asset(tune, None),
        lane="-1",
        name=tune.name,
        offset=parent.get("start"),  # a connected clip's offset counts in its parent's own time
        start=_time(start),
        duration=_time(_exact(tune.source_range.duration)),
        audioRole="music",
    )
    fade = Fraction(int(tune.metadata[META]["fade_frames"])) / rate.fps
    keyframes = tune.metadata[META].get("volume_db", [])
    if fade or keyframes:
        volume = ET.SubElement(ET.SubElement(element, "adjust-volume"), "param", name="amount")
        if fade:
            ET.SubElement(volume, "fadeIn", type="easeIn", duration=_time(fade))
            ET.SubElement(volume, "fadeOut", type="easeOut", duration=_time(fade))
        if keyframes:  # ducking: in the clip's own time, on the sequence's frames
            animation = ET.SubElement(volume, "keyframeAnimation")
            for at, db in keyframes:
                when = start + Fraction(rate.frames(float(at))) / rate.fps
                ET.SubElement(animation, "keyframe", time=_time(when), value=f"{float(db):g}dB")
    for marker in tune.markers:
        ET.SubElement(
            element,
            "marker",
            start=_time(_exact(marker.marked_range.start_time)),
            duration=_time(rate.frame_duration),
            value=marker.name,
        )


def _music_by_position(track: otio.schema.Track) -> dict[Fraction, otio.schema.Clip]:
    return {_exact(c.range_in_parent().start_time): c for c in track.find_clips()}


def _exact(time: otio.opentime.RationalTime) -> Fraction:
    """A RationalTime as exact seconds: its rate is an NTSC fraction or a whole number, its value a count."""
    rate = Fraction(time.rate).limit_denominator(1001)
    value = Fraction(time.value).limit_denominator(1001)
    return value / rate


def _time(seconds: Fraction) -> str:
    """FCPXML's time: a rational number of seconds ("1001/30000s"), "0s" or whole seconds ("5s")."""
    if seconds == 0:
        return "0s"
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{seconds.numerator}/{seconds.denominator}s"
