"""Timelines at every frame rate editors meet, in all four formats, read back by OpenTimelineIO.

Generated clips at the broadcast rates (29.97 in drop and non-drop timecode), at odd rates (10, 12, 15)
and at a varying rate (phone footage), with and without sound, are exported with music under them and
read back by OpenTimelineIO's own readers: the clip and the music keep their lengths to the frame, at the
rate the format can hold (the odd and varying ones conformed, and the export says so).
"""

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from engine.cli.main import main
from engine.facade import Engine
from engine.records import ExportClip
from media import render_midi, write_footage

NTSC = 1001
# name -> (the file's rate, drop-frame timecode, varying, the rate each format writes)
RATES = {
    "23.976": (Fraction(24000, NTSC), False, False, None),
    "24": (Fraction(24), False, False, None),
    "25": (Fraction(25), False, False, None),
    "29.97 DF": (Fraction(30000, NTSC), True, False, None),
    "29.97 NDF": (Fraction(30000, NTSC), False, False, None),
    "30": (Fraction(30), False, False, None),
    "50": (Fraction(50), False, False, None),
    "59.94": (Fraction(60000, NTSC), False, False, None),
    "60": (Fraction(60), False, False, None),
    "10": (Fraction(10), False, False, Fraction(30)),  # every frame lasts exactly three
    "12": (Fraction(12), False, False, Fraction(24)),
    "15": (Fraction(15), False, False, Fraction(30)),
    "variable": (Fraction(30), False, True, Fraction(30)),  # conformed in every format, OTIO too
}
FORMATS = {"otio": ".otio", "fcp7": ".xml", "fcpx": ".fcpxml", "edl": ".edl"}
CLIP_IN, CLIP_OUT, MUSIC_START = 0.2, 1.6, 3.0


@pytest.fixture(scope="module")
def library(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("rates")
    music = root / "music"
    music.mkdir()
    render_midi(music / "theme.flac", bpm=100, program=0, melody=[60, 64, 67], seconds=16)
    render_midi(music / "night.opus", bpm=84, program=48, melody=[57, 60, 64], seconds=16)
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    footage = {}
    for name, (rate, drop, variable, _) in RATES.items():
        for sound in (False, True):
            path = root / f"clip {name.replace(' ', '-')}{' sound' if sound else ''}.mp4"
            timecode = "00:00:00;00" if drop else "00:00:00:00"
            footage[name, sound] = write_footage(path, rate, 2.0, sound=sound, timecode=timecode, variable=variable)
    return engine, music / "theme.flac", footage


def written_rate(name: str, fmt: str) -> Fraction:
    rate, _, variable, conformed = RATES[name]
    if conformed is None or (fmt == "otio" and not variable):
        return rate
    return conformed


def frames(seconds: float, rate: Fraction) -> int:
    return round(seconds * rate)


def read_back(path: Path, fmt: str, rate: Fraction) -> otio.schema.Timeline:
    adapter = {"otio": "otio_json", "fcp7": "fcp_xml", "fcpx": "fcpx_xml", "edl": "cmx_3600"}[fmt]
    kwargs = {"rate": float(rate)} if fmt == "edl" else {}
    back = otio.adapters.read_from_file(str(path), adapter, **kwargs)
    if isinstance(back, otio.schema.SerializableCollection):  # FCPXML: a library's event holds the project
        (back,) = back
    return back


def picture_and_music(timeline: otio.schema.Timeline, fmt: str) -> tuple[otio.schema.Clip, otio.schema.Clip | None]:
    if fmt == "fcpx":  # the fcpx reader names tracks by lane; it takes audio-only lanes for picture
        lanes = {track.name: track for track in timeline.tracks}
        return lanes["0"].find_clips()[0], lanes["-1"].find_clips()[0]
    picture = timeline.video_tracks()[0].find_clips()[0]
    music = timeline.audio_tracks()[0].find_clips()[0] if fmt != "edl" else None
    return picture, music


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("sound", [False, True], ids=["silent", "sound"])
@pytest.mark.parametrize("name", list(RATES))
def test_every_rate_in_every_format_keeps_its_lengths_to_the_frame(library, tmp_path, name, sound, fmt):
    engine, theme, footage = library
    clip = ExportClip(footage[name, sound], CLIP_IN, CLIP_OUT, track=str(theme), music_start=MUSIC_START, fit=False)
    result = engine.export([clip], path=tmp_path / f"edit{FORMATS[fmt]}")
    rate = written_rate(name, fmt)
    assert result.frame_rate == pytest.approx(float(rate))
    length = frames(CLIP_OUT, rate) - frames(CLIP_IN, rate)

    picture, music = picture_and_music(read_back(Path(result.path), fmt, rate), fmt)
    if fmt == "fcpx":
        # The fcpx reader counts frames at the whole rate below (29 for 29.97): to its frame, and exact in the file.
        reader_frame = 1 / int(rate)
        for clip_read in (picture, music):
            assert abs(clip_read.source_range.duration.to_seconds() - length / rate) <= reader_frame
        spine = ET.parse(result.path).getroot().find(".//spine/asset-clip")
        assert Fraction(spine.get("duration").removesuffix("s")) == Fraction(length) / rate
        assert Fraction(spine.find("asset-clip").get("duration").removesuffix("s")) == Fraction(length) / rate
        assert Fraction(spine.find("asset-clip").get("start").removesuffix("s")) == MUSIC_START  # to the sample
    else:
        assert picture.source_range.duration.rescaled_to(float(rate)).value == pytest.approx(length)
        assert picture.source_range.start_time.rescaled_to(float(rate)).value == pytest.approx(frames(CLIP_IN, rate))
        if music is not None:
            assert music.source_range.duration.rescaled_to(float(rate)).value == pytest.approx(length)
            assert music.source_range.start_time.to_seconds() == pytest.approx(MUSIC_START, abs=0.5 / float(rate))

    conformed = rate != RATES[name][0] or RATES[name][2]
    said = [note for note in result.notes if "conformed" in note]
    assert bool(said) == conformed, result.notes
    if conformed:
        assert Path(footage[name, sound]).name in said[0] and "fps" in said[0]


@pytest.mark.parametrize("fmt", ["fcp7", "fcpx", "edl"])
@pytest.mark.parametrize("drop", [True, False], ids=["DF", "NDF"])
def test_drop_frame_timecode_is_kept_where_the_format_counts_it(library, tmp_path, fmt, drop):
    engine, theme, footage = library
    name = "29.97 DF" if drop else "29.97 NDF"
    result = engine.export(
        [ExportClip(footage[name, False], 0.0, 1.5, track=str(theme))], path=tmp_path / f"e{FORMATS[fmt]}"
    )
    text = Path(result.path).read_text()
    if fmt == "fcp7":
        sequence = ET.fromstring(text.split("\n", 2)[2]).find(".//sequence")
        assert sequence.findtext("timecode/displayformat") == ("DF" if drop else "NDF")
        assert sequence.findtext("rate/ntsc") == "TRUE" and sequence.findtext("rate/timebase") == "30"
    elif fmt == "fcpx":
        sequence = ET.fromstring(text.split("\n", 2)[2]).find(".//sequence")
        assert sequence.get("tcFormat") == ("DF" if drop else "NDF")
    else:
        assert ("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME") in text
        assert (";" in text.split("FCM", 1)[1]) == drop


# ---- media the editor can read -------------------------------------------------------------------------------


def music_of(path: Path, fmt: str) -> Path:
    timeline = read_back(path, fmt, Fraction(25))
    _, music = picture_and_music(timeline, fmt)
    return Path(otio.url_utils.filepath_from_url(music.media_reference.target_url))


@pytest.mark.parametrize("fmt", ["fcp7", "fcpx"])
def test_music_an_editor_cannot_import_is_named_then_collected_as_wav(library, tmp_path, fmt):
    engine, theme, footage = library
    night = theme.with_name("night.opus")
    edit = [ExportClip(footage["25", True], 0.0, 1.5, track=str(night))]
    plain = engine.export(edit, path=tmp_path / f"plain{FORMATS[fmt]}")
    assert music_of(Path(plain.path), fmt) == night
    assert any("night.opus" in note and "cannot import" in note for note in plain.notes), plain.notes

    folder = tmp_path / "for the editor"
    collected = engine.export(edit, path=tmp_path / f"edit{FORMATS[fmt]}", collect=folder)
    wav = music_of(Path(collected.path), fmt)
    assert wav == folder / "night.wav" and wav.is_file()
    with av.open(str(wav)) as container:  # lossless, at the track's own rate
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("pcm_") and stream.sample_rate == 48000
    assert any("night.opus" in note and "WAV" in note for note in collected.notes), collected.notes
    assert not any("export again" in note for note in collected.notes)


def test_collecting_for_otio_copies_the_music_as_it_is(library, tmp_path):
    engine, theme, footage = library
    night = theme.with_name("night.opus")
    result = engine.export(
        [ExportClip(footage["25", False], 0.0, 1.0, track=str(night))], path=tmp_path / "e.otio", collect=tmp_path / "m"
    )
    copied = music_of(Path(result.path), "otio")
    assert copied == tmp_path / "m" / "night.opus" and copied.read_bytes() == night.read_bytes()
    assert not result.notes


def test_cli_collects_the_music_and_says_so(library, tmp_path, capsys):
    engine, theme, footage = library
    out, folder = tmp_path / "cut.xml", tmp_path / "music"
    track = ["--track", str(theme.with_name("night.opus")), "--collect", str(folder), "--json"]
    assert main(["--data-dir", str(engine.data_dir), "export", str(footage["10", True]), str(out), *track]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (folder / "night.wav").is_file() and music_of(out, "fcp7") == folder / "night.wav"
    assert any("conformed to 30 fps" in note for note in report["notes"])  # 10 fps in FCP 7 XML
