"""FCP 7 XML (xmeml) for Premiere Pro and DaVinci Resolve: OpenTimelineIO's fcp_xml adapter, made faithful.

The adapter writes the sequence, its clip items and their timings well, and it is the reference reader we
test against; what it cannot know, this module writes on top of its output:

- each `<file>` describes that file: its own frame rate, the streams it has (a music file claims no
  picture), its readable name (the adapter writes the percent-encoded one) and its timecode's drop-frame
  count;
- fades on the music track are audio transitions (Cross Fade +3 dB), not video Cross Dissolves;
- downbeat markers are red, as Premiere Pro writes marker colours (beats keep its default green);
- a drop-frame timeline says so in the sequence's timecode.

Rates an xmeml timecode cannot count (10, 12, 15 fps, variable) were conformed before the adapter saw
them (`rates.for_format`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from engine.export.edit import META, name_from_url
from engine.export.rates import FrameRate

AUDIO_FADE = {  # FCP 7's own audio transition, which Premiere and Resolve map to their constant-power fade
    "name": "Cross Fade (+3dB)",
    "effectid": "KGAudioTransCrossFade3dB",
    "effecttype": "transition",
    "mediatype": "audio",
}
# Premiere Pro keeps a marker's colour in <pproColor>, 0xAABBGGRR as an integer; green, its default
# marker colour, it leaves unwritten. Downbeats are red, other beats green.
DOWNBEAT_COLOUR = 0xFF362CD2


def write(timeline: otio.schema.Timeline) -> str:
    text = otio.adapters.write_to_string(timeline, "fcp_xml")
    root = ET.fromstring(text)
    facts = _facts_by_url(timeline)
    rate = FrameRate(Fraction(timeline.metadata[META]["fps"]), timeline.metadata[META]["drop_frame"])
    for sequence in root.iter("sequence"):
        _drop_frame(sequence.find("timecode"), rate.drop_frame)
    for clipitem in root.iter("clipitem"):
        _one_rate(clipitem)
        file_e = clipitem.find("file")
        if file_e is not None and file_e.find("pathurl") is not None:  # a later use refers to the first
            _describe_file(file_e, facts.get(file_e.findtext("pathurl"), {}))
    for track in root.iterfind("./project/children/sequence/media/audio/track"):
        for transition in track.iter("transitionitem"):
            _audio_fade(transition)
        for marker in track.iter("marker"):
            _colour(marker)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _facts_by_url(timeline: otio.schema.Timeline) -> dict[str, dict]:
    facts = {}
    for clip in timeline.find_clips():
        reference = clip.media_reference
        facts[reference.target_url] = reference.metadata.get(META, {})
    return facts


def _one_rate(clipitem: ET.Element) -> None:
    """The adapter writes a clip item's <rate> twice; importers want it once."""
    rates = clipitem.findall("rate")
    for extra in rates[1:]:
        clipitem.remove(extra)


def _describe_file(file_e: ET.Element, facts: dict) -> None:
    file_e.find("name").text = name_from_url(file_e.findtext("pathurl"))
    if "rate" in facts:
        rate = FrameRate(Fraction(facts["rate"]), bool(facts.get("drop_frame")))
        if facts.get("width"):  # a picture file's own rate; a sound file's counts the sequence's frames
            _set_rate(file_e.find("rate"), rate)
            _set_rate(file_e.find("timecode/rate"), rate)
        _drop_frame(file_e.find("timecode"), rate.drop_frame)
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


def _set_rate(rate_e: ET.Element | None, rate: FrameRate) -> None:
    if rate_e is None:
        return
    rate_e.find("timebase").text = str(rate.timebase)
    rate_e.find("ntsc").text = "TRUE" if rate.ntsc else "FALSE"


def _drop_frame(timecode: ET.Element | None, drop_frame: bool) -> None:
    """Drop-frame timecode: DF display, and its string counted in drop-frame (the adapter counts non-drop)."""
    if timecode is None or not drop_frame:
        return
    timecode.find("displayformat").text = "DF"
    rate = 30000 / 1001 if timecode.findtext("rate/timebase") == "30" else 60000 / 1001
    frame = otio.opentime.RationalTime(int(timecode.findtext("frame")), rate)
    timecode.find("string").text = otio.opentime.to_timecode(frame, rate, True)


def _audio_fade(transition: ET.Element) -> None:
    effect = transition.find("effect")
    for child in list(effect):
        effect.remove(child)
    for tag, text in AUDIO_FADE.items():
        ET.SubElement(effect, tag).text = text


def _colour(marker: ET.Element) -> None:
    if marker.findtext("name") == "downbeat":
        ET.SubElement(marker, "pproColor").text = str(DOWNBEAT_COLOUR)
