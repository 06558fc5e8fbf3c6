"""FCP 7 XML (xmeml) for Premiere Pro and DaVinci Resolve: OpenTimelineIO's fcp_xml adapter, made faithful.

The adapter writes the sequence, its clip items and their timings well, and it is the reference reader we
test against; what it cannot know, this module writes on top of its output:

- each `<file>` describes that file: its own frame rate, the streams it has (a music file claims no
  picture) and its timecode's drop-frame count (its readable name is the media reference's, which the
  adapter writes);
- fades on the music track are audio transitions (Cross Fade +3 dB), not video Cross Dissolves;
- downbeat markers are red, as Premiere Pro writes marker colours (beats keep its default green);
- ducking under dialogue is an Audio Levels filter with keyframes, as Premiere writes it: linear gain,
  each `<when>` counted like `<in>` (frames of the clip item's rate from the start of the file);
- a drop-frame timeline says so in the sequence's timecode.

Rates an xmeml timecode cannot count (10, 12, 15 fps, variable) were conformed before the adapter saw
them (`rates.for_format`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from engine.export.edit import META, timecode_text, timeline_rate
from engine.export.rates import FrameRate

AUDIO_FADE = {  # FCP 7's own audio transition, which Premiere and Resolve map to their constant-power fade
    "name": "Cross Fade (+3dB)",
    "effectid": "KGAudioTransCrossFade3dB",
    "effecttype": "transition",
    "mediatype": "audio",
}
AUDIO_LEVELS = {
    "name": "Audio Levels",
    "effectid": "audiolevels",
    "effectcategory": "audiolevels",
    "effecttype": "audiolevels",
    "mediatype": "audio",
}
MAX_LEVEL = "3.98109"  # +12 dB, the highest gain FCP 7 and Premiere allow
# Premiere Pro keeps a marker's colour in <pproColor>, 0xAABBGGRR as an integer; green, its default
# marker colour, it leaves unwritten. Downbeats are red, other beats green.
DOWNBEAT_COLOUR = 0xFF362CD2


def write(timeline: otio.schema.Timeline) -> str:
    text = otio.adapters.write_to_string(timeline, "fcp_xml")
    root = ET.fromstring(text)
    facts = _facts_by_url(timeline)
    for sequence in root.iter("sequence"):
        timecode = sequence.find("timecode")
        # OpenTimelineIO writes a 29.97 start timecode in drop-frame whatever the count: said as it counts.
        _set_timecode(timecode, int(timecode.findtext("frame")), timeline_rate(timeline))
    for clipitem in root.iter("clipitem"):
        _one_rate(clipitem)
        file_e = clipitem.find("file")
        if file_e is not None and file_e.find("pathurl") is not None:  # a later use refers to the first
            _describe_file(file_e, facts.get(file_e.findtext("pathurl"), {}))
    sound = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    for track, clips in zip(root.iterfind("./project/children/sequence/media/audio/track"), sound, strict=True):
        # The adapter writes a track's clips in order, one clip item each.
        for clipitem, clip in zip(track.findall("clipitem"), clips.find_clips(), strict=True):
            # A clip the adapter has written before is a bare reference to that clip item, which has the filter.
            if clipitem.find("in") is not None and clip.metadata.get(META, {}).get("volume_db"):
                _audio_levels(clipitem, clip.metadata[META]["volume_db"], timeline_rate(timeline))
        for transition in track.iter("transitionitem"):
            _audio_fade(transition)
        for marker in track.iter("marker"):
            _colour(marker)
        for clipitem in track.iter("clipitem"):
            _first_sound_channel(clipitem)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _facts_by_url(timeline: otio.schema.Timeline) -> dict[str, dict]:
    facts = {}
    for clip in timeline.find_clips():
        reference = clip.media_reference
        facts[reference.target_url] = reference.metadata.get(META, {})
    return facts


def _audio_levels(clipitem: ET.Element, keyframes: list, rate: FrameRate) -> None:
    """Volume keyframes, (seconds into the clip, dB) pairs, as an Audio Levels filter."""
    first = int(clipitem.findtext("in"))
    effect = ET.SubElement(ET.SubElement(clipitem, "filter"), "effect")
    for tag, text in AUDIO_LEVELS.items():
        ET.SubElement(effect, tag).text = text
    level = ET.SubElement(effect, "parameter", authoringApp="PremierePro")
    for tag, text in (("parameterid", "level"), ("name", "Level"), ("valuemin", "0"), ("valuemax", MAX_LEVEL)):
        ET.SubElement(level, tag).text = text
    ET.SubElement(level, "value").text = "1"  # unity where no keyframe speaks; Premiere writes it too
    for at, db in keyframes:
        keyframe = ET.SubElement(level, "keyframe")
        ET.SubElement(keyframe, "when").text = str(first + rate.frames(float(at)))
        ET.SubElement(keyframe, "value").text = f"{10 ** (float(db) / 20):.5f}"


def _one_rate(clipitem: ET.Element) -> None:
    """The adapter writes a clip item's <rate> twice; importers want it once."""
    rates = clipitem.findall("rate")
    for extra in rates[1:]:
        clipitem.remove(extra)


def _describe_file(file_e: ET.Element, facts: dict) -> None:
    if facts.get("width"):  # a picture file at its own rate (a sound file counts in the sequence's frames)
        own = FrameRate(Fraction(facts["own_rate"]), bool(facts["drop_frame"]))
        _set_rate(file_e.find("rate"), own)
        file_e.find("duration").text = str(facts["own_frames"])
        _set_timecode(file_e.find("timecode"), facts["timecode_frames"], own)
    media = file_e.find("media")
    for child in list(media):
        media.remove(child)
    if facts.get("width"):
        characteristics = ET.SubElement(ET.SubElement(media, "video"), "samplecharacteristics")
        ET.SubElement(characteristics, "width").text = str(facts["width"])
        ET.SubElement(characteristics, "height").text = str(facts["height"])
    if facts.get("sound"):
        audio = ET.SubElement(media, "audio")
        characteristics = ET.SubElement(audio, "samplecharacteristics")
        ET.SubElement(characteristics, "samplerate").text = str(facts["sound"]["sample_rate"])
        ET.SubElement(audio, "channelcount").text = str(facts["sound"]["channels"])


def _set_rate(rate_e: ET.Element, rate: FrameRate) -> None:
    rate_e.find("timebase").text = str(rate.timebase)
    rate_e.find("ntsc").text = "TRUE" if rate.ntsc else "FALSE"


def _set_timecode(timecode: ET.Element, frame: int, rate: FrameRate) -> None:
    """A timecode counted at `rate` as the file counts it: drop-frame where it does (OpenTimelineIO counts
    29.97 non-drop), and at rates SMPTE does not know (12 fps), which OpenTimelineIO refuses to count."""
    _set_rate(timecode.find("rate"), rate)
    timecode.find("frame").text = str(frame)
    timecode.find("displayformat").text = "DF" if rate.drop_frame else "NDF"
    timecode.find("string").text = timecode_text(frame, rate)


def _first_sound_channel(clipitem: ET.Element) -> None:
    """Which of the file's sound tracks the clip item plays, as Premiere writes it: the first."""
    if clipitem.find("file") is None:
        return
    source = ET.Element("sourcetrack")
    ET.SubElement(source, "mediatype").text = "audio"
    ET.SubElement(source, "trackindex").text = "1"
    clipitem.insert(list(clipitem).index(clipitem.find("file")) + 1, source)


def _audio_fade(transition: ET.Element) -> None:
    effect = transition.find("effect")
    for child in list(effect):
        effect.remove(child)
    for tag, text in AUDIO_FADE.items():
        ET.SubElement(effect, tag).text = text


def _colour(marker: ET.Element) -> None:
    if marker.findtext("name") == "downbeat":
        ET.SubElement(marker, "pproColor").text = str(DOWNBEAT_COLOUR)
