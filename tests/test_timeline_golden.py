"""The FCP 7 XML, FCPXML and EDL an editor imports, pinned: fades, markers, rates, streams and names.

A fixed edit (a 29.97 drop-frame clip with sound, a 25 fps silent one, Opus music with a non-ASCII name)
is written in both formats and compared with golden files; the assertions below say what in them matters.
Set NEEDLEDROP_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change, and read the diff.
"""

import os
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.export import Cue, build_timeline, timeline_text
from engine.export.fcp7 import DOWNBEAT_COLOUR
from engine.media.beats import Beats
from engine.media.streams import MediaStreams, PictureStream, SoundStream

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NEEDLEDROP_UPDATE_GOLDEN") == "1"


def edit() -> list[Cue]:
    beats = Beats(np.arange(0.25, 60, 0.5), np.arange(0.25, 60, 2.0), 120.0)
    wedding = MediaStreams(
        95.0,
        PictureStream(Fraction(30000, 1001), False, 29.97, 1920, 1080, "01:00:00;00"),
        SoundStream(48000, 2, "aac"),
    )
    drone = MediaStreams(40.0, PictureStream(Fraction(25), False, 25.0, 3840, 2160, None), None)
    song = MediaStreams(200.0, None, SoundStream(44100, 2, "opus"))
    return [
        Cue(
            "/media/Wedding/Vows (take 2).mov",
            95.0,
            12.0,
            15.5,
            music="/music/Bo/Café Lights.opus",
            music_duration=200.0,
            music_start=30.25,
            title="Bo – Café Lights",
            beats=beats,
            video_streams=wedding,
            music_streams=song,
        ),
        Cue("/media/Drone/DJI_0042.MP4", 40.0, 3.0, 5.0, video_streams=drone),
    ]


@pytest.mark.parametrize(("fmt", "name"), [("fcp7", "edit.xml"), ("fcpx", "edit.fcpxml"), ("edl", "edit.edl")])
def test_the_written_file_matches_its_golden_file(fmt, name):
    text = timeline_text(build_timeline(edit(), fmt, name="Vows").timeline, fmt)
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def parse(fmt: str) -> ET.Element:
    text = timeline_text(build_timeline(edit(), fmt, name="Vows").timeline, fmt)
    return ET.fromstring(text.split("\n", 2)[2])  # past the XML declaration and DOCTYPE


def test_fcp7_describes_each_file_as_it_is_and_fades_the_music_as_audio():
    root = parse("fcp7")
    sequence = root.find(".//sequence")
    assert sequence.findtext("rate/timebase") == "30" and sequence.findtext("rate/ntsc") == "TRUE"
    assert sequence.findtext("timecode/displayformat") == "DF"
    files = {f.findtext("name"): f for f in root.iter("file") if f.find("pathurl") is not None}
    assert set(files) == {"Vows (take 2).mov", "DJI_0042.MP4", "Café Lights.opus"}  # readable, not %-encoded
    vows, drone, song = files["Vows (take 2).mov"], files["DJI_0042.MP4"], files["Café Lights.opus"]
    assert vows.find("media/video") is not None and vows.findtext("media/audio/channelcount") == "2"
    assert vows.findtext("timecode/displayformat") == "DF"
    assert drone.find("media/audio") is None and drone.findtext("rate/timebase") == "25"  # its own rate
    assert (
        drone.findtext("rate/ntsc") == "FALSE" and drone.findtext("media/video/samplecharacteristics/width") == "3840"
    )
    assert song.find("media/video") is None  # a music file claims no picture
    assert song.findtext("media/audio/samplecharacteristics/samplerate") == "44100"
    fades = root.findall(".//audio/track/transitionitem")
    assert len(fades) == 2
    assert all(f.findtext("effect/mediatype") == "audio" for f in fades)
    assert all(f.findtext("effect/effectid") == "KGAudioTransCrossFade3dB" for f in fades)
    assert not root.findall(".//video//transitionitem")
    markers = root.findall(".//audio//clipitem/marker")
    downbeats = [m for m in markers if m.findtext("name") == "downbeat"]
    assert len(markers) == 7 and len(downbeats) == 2  # 3.5 s of 120 BPM, one downbeat in four
    assert all(m.findtext("pproColor") == str(DOWNBEAT_COLOUR) for m in downbeats)
    assert all(m.find("pproColor") is None for m in markers if m not in downbeats)  # Premiere's default green
    clipitem = root.find(".//video/track/clipitem")
    assert len(clipitem.findall("rate")) == 1


def test_fcpxml_states_rational_rates_and_plain_markers():
    root = parse("fcpx")
    assert root.get("version") == "1.8"
    formats = {f.get("id"): f for f in root.iter("format")}
    sequence = root.find(".//sequence")
    assert formats[sequence.get("format")].get("frameDuration") == "1001/30000s"
    assert sequence.get("tcFormat") == "DF"
    vows, drone = root.findall(".//spine/asset-clip")
    assert formats[drone.get("format")].get("frameDuration") == "100/2500s"  # the drone clip's own rate
    assert vows.get("duration") == "7007/2000s"  # 105 frames of 1001/30000 s: 3.5 s on the frame grid
    music = vows.find("asset-clip")
    assert music.get("lane") == "-1" and music.get("start") == "121/4s"  # 30.25 s: to the sample
    assert music.get("offset") == vows.get("start")  # under its clip, in the clip's own time
    fade = music.find("adjust-volume/param")
    assert fade.find("fadeIn").get("duration") == fade.find("fadeOut").get("duration") == "1001/2000s"
    markers = music.findall("marker")
    assert len(markers) == 7 and all(m.get("completed") is None for m in markers)  # markers, not to-dos
    assets = {a.get("id"): a for a in root.iter("asset")}
    song = assets[music.get("ref")]
    assert song.get("hasVideo") == "0" and song.get("audioRate") == "44100" and song.get("name") == "Café Lights.opus"
