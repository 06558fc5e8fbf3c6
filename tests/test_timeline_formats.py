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
import numpy as np
import opentimelineio as otio
import pytest

from engine.cli.main import main
from engine.export import Cue, build_timeline, timeline_text
from engine.facade import Engine
from engine.media.beats import Beats
from engine.media.streams import MediaStreams, PictureStream, SoundStream, media_streams
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
        # The fcpx reader counts a clip in whole frames of its file's format at the whole rate below (29 for
        # 29.97, 12 for a 12 fps file in a 24 fps timeline): to its frame, and exact in the file.
        reader_frame = 1 / min(int(rate), int(RATES[name][0]))
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


# ---- edges: media ends, short music, mixed rates ---------------------------------------------------------------


def cue(video: str, rate, duration: float, clip_in: float, clip_out: float, **music) -> Cue:
    picture = PictureStream(Fraction(rate), False, float(rate), 1920, 1080, music.pop("timecode", None))
    sound = music.pop("sound", None)
    streams = MediaStreams(duration, picture, SoundStream(48000, 2, "aac") if sound else None)
    if "music" in music:
        music.setdefault("music_streams", MediaStreams(music["music_duration"], None, SoundStream(44100, 2, "flac")))
    return Cue(video, duration, clip_in, clip_out, video_streams=streams, **music)


def beats_every(seconds: float, until: float) -> Beats:
    times = np.arange(0.0, until, seconds)
    return Beats(times, times[::4], 60 / seconds)


@pytest.mark.parametrize("fmt", ["otio", "fcp7", "fcpx"])
def test_music_that_ends_under_its_clip_has_no_markers_or_range_past_its_end(fmt):
    short = cue(
        "/m/a.mov",
        Fraction(30000, NTSC),
        20.0,
        0.0,
        5.0,
        music="/m/song.flac",
        music_duration=10.0,
        music_start=8.0,
        beats=beats_every(0.25, 10.0),
    )
    timeline = build_timeline([short], fmt).timeline
    (tune,) = [t for t in timeline.audio_tracks() if t.name == "Music (Needledrop)"][0].find_clips()
    end = tune.source_range.end_time_exclusive().to_seconds()
    assert end <= 10.0 + 1e-9 and tune.source_range.duration.to_seconds() < 2.0
    assert tune.markers and all(m.marked_range.start_time.to_seconds() < end for m in tune.markers)
    if fmt == "fcpx":
        music = ET.fromstring(timeline_text(timeline, fmt).split("\n", 2)[2]).find(".//spine/asset-clip/asset-clip")
        last = max(Fraction(m.get("start").removesuffix("s")) for m in music.iter("marker"))
        assert last < Fraction(music.get("start").removesuffix("s")) + Fraction(music.get("duration").removesuffix("s"))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_clip_to_the_end_of_its_file_never_runs_past_it(fmt):
    # A 25 fps, 10 s file cut to its end in a 29.97 timeline: 10 s is 299.7 frames, so 299 are written.
    drone = cue("/m/drone.mp4", 25, 10.0, 5.0, 10.0)
    edit = [cue("/m/first.mov", Fraction(30000, NTSC), 10.0, 0.0, 1.0), drone]
    timeline = build_timeline(edit, fmt).timeline
    shot = timeline.video_tracks()[0].find_clips()[1]
    available = shot.media_reference.available_range
    assert shot.source_range.end_time_exclusive().to_seconds() <= available.end_time_exclusive().to_seconds() + 1e-9
    if fmt == "fcpx":
        root = ET.fromstring(timeline_text(timeline, fmt).split("\n", 2)[2])
        clip = root.findall(".//spine/asset-clip")[1]
        asset = next(a for a in root.iter("asset") if a.get("id") == clip.get("ref"))
        seconds = [
            Fraction(x.removesuffix("s")) for x in (clip.get("start"), clip.get("duration"), asset.get("duration"))
        ]
        assert seconds[0] + seconds[1] <= seconds[2]


def test_a_few_frames_of_varying_rate_are_read_as_varying(tmp_path):
    # Four frame intervals, two short and two long: their median (the middle two's mean) was no interval
    # of the file, so none was "the usual one", and reading the rate divided by zero.
    picture = media_streams(frames_at(tmp_path / "screen.mp4", [0, 33, 83, 116, 166], Fraction(1, 1000))).picture
    assert picture.variable and 20 <= picture.rate <= 31  # (conformed to a standard rate in a timeline)


@pytest.mark.parametrize("rate", [Fraction(30000, NTSC), Fraction(24000, NTSC), Fraction(60000, NTSC)])
def test_an_fcpxml_in_point_on_another_rate_is_the_files_frame_nearest_the_cut(rate):
    # A 25 fps timeline, then a clip at another rate from 10 s: its in point is its own frame nearest 10 s
    # (10 s at 29.97 is frame 299.7: frame 300), where OTIO and FCP 7 XML put it; frame 299 started early.
    edit = [cue("/m/first.mp4", 25, 10.0, 0.0, 1.0), cue("/m/second.mov", rate, 60.0, 10.0, 12.0)]
    root = ET.fromstring(timeline_text(build_timeline(edit, "fcpx").timeline, "fcpx").split("\n", 2)[2])
    start = Fraction(root.findall(".//spine/asset-clip")[1].get("start").removesuffix("s"))
    assert (start * rate).denominator == 1 and abs(start - 10) <= 1 / (2 * rate)


def test_an_fcpxml_clip_to_the_end_of_a_file_of_part_frames_starts_at_its_start():
    # A 29.97 fps file of exactly 1 s (29.97 frames, as a container may say) under a 25 fps first clip, used
    # whole: the room before its end is under one of its frames, and the in point went a frame before 0.
    edit = [cue("/m/first.mp4", 25, 10.0, 0.0, 1.0), cue("/m/whole.mkv", Fraction(30000, NTSC), 1.0, 0.0, 1.0)]
    root = ET.fromstring(timeline_text(build_timeline(edit, "fcpx").timeline, "fcpx").split("\n", 2)[2])
    assert root.findall(".//spine/asset-clip")[1].get("start") == "0s"


@pytest.mark.parametrize("fmt", ["otio", "fcp7", "fcpx"])
def test_music_starting_within_a_frame_of_its_end_is_silence_not_an_empty_clip(fmt):
    edit = [cue("/m/a.mov", 25, 20.0, 0.0, 3.0, music="/m/song.flac", music_duration=10.0, music_start=9.99)]
    timeline = build_timeline(edit, fmt).timeline
    music = [t for t in timeline.audio_tracks() if t.name == "Music (Needledrop)"][0]
    assert not music.find_clips() and not [i for i in music if isinstance(i, otio.schema.Transition)]
    text = timeline_text(timeline, fmt)
    assert "song.flac" not in text


@pytest.mark.parametrize("fmt", ["fcp7", "fcpx"])
def test_each_file_keeps_its_own_rate_when_the_timeline_is_conformed(fmt):
    # A 12 fps clip first: the timeline runs at 24 fps; the file is still described at 12, the 25 fps one at 25.
    edit = [cue("/m/stop motion.mp4", 12, 10.0, 0.0, 2.0), cue("/m/drone.mp4", 25, 10.0, 0.0, 2.0)]
    built = build_timeline(edit, fmt)
    assert built.rate.fps == 24 and "conformed to 24 fps" in built.notes[0]
    root = ET.fromstring(timeline_text(built.timeline, fmt).split("\n", 2)[2])
    if fmt == "fcp7":
        files = {f.findtext("name"): f for f in root.iter("file") if f.find("pathurl") is not None}
        assert files["stop motion.mp4"].findtext("rate/timebase") == "12"
        assert files["stop motion.mp4"].findtext("duration") == "120"
        assert files["drone.mp4"].findtext("rate/timebase") == "25"
        assert root.findtext(".//sequence/rate/timebase") == "24"
    else:
        durations = {f.get("id"): f.get("frameDuration") for f in root.iter("format")}
        assert durations[root.find(".//sequence").get("format")] == "100/2400s"
        assert [durations[c.get("format")] for c in root.iterfind(".//spine/asset-clip")] == ["100/1200s", "100/2500s"]


@pytest.mark.parametrize("fmt", ["otio", "fcp7", "fcpx", "edl"])
def test_control_characters_in_tags_and_names_never_break_a_timeline(fmt):
    # Old rippers and taggers leave control characters in titles; a timeline name may hold a line break.
    # XML 1.0 cannot hold them at all (FCP 7 XML failed, FCPXML was not well-formed), and an EDL's TITLE
    # line broke in two.
    edit = [
        cue(
            "/m/take\x01one.mov",
            25,
            20.0,
            0.0,
            3.0,
            music="/m/song.flac",
            music_duration=10.0,
            title="Bad\x01Title\x0b",
        ),
        cue("/m/b.mov", 25, 20.0, 0.0, 2.0),
    ]
    text = timeline_text(build_timeline(edit, fmt, name="My\nEdit\x07").timeline, fmt)
    if fmt == "fcpx":
        root = ET.fromstring(text.split("\n", 2)[2])
        assert root.find(".//project").get("name") == "My Edit"
        assert {c.get("name") for c in root.iter("asset-clip")} == {"take one.mov", "Bad Title", "b.mov"}
        return
    adapter = {"otio": "otio_json", "fcp7": "fcp_xml", "edl": "cmx_3600"}[fmt]
    back = otio.adapters.read_from_string(text, adapter, **({"rate": 25} if fmt == "edl" else {}))
    assert back.name == "My Edit" and len(list(back.video_tracks()[0].find_clips())) == 2
    if fmt != "edl":
        assert [c.name for c in back.audio_tracks()[0].find_clips()] == ["Bad Title"]


def test_each_file_in_an_edl_has_a_reel_of_its_own():
    # CMX 3600 reels hold eight characters: two takes named alike shared "intervie", and a conform by reel
    # would take the same footage for both. The same file keeps one reel.
    names = ["interview_take1.mp4", "interview_take2.mp4", "interview_take1.mp4", "Interview-take3.mov"]
    edit = [cue(f"/m/{name}", 25, 20.0, 0.0, 1.0) for name in names]
    back = otio.adapters.read_from_string(timeline_text(build_timeline(edit, "edl").timeline, "edl"), "cmx_3600")
    reels = [c.metadata["cmx_3600"]["reel"] for c in back.video_tracks()[0].find_clips()]
    assert reels[0] == reels[2] == "intervie" and len({reels[0].upper(), reels[1].upper(), reels[3].upper()}) == 3
    assert all(len(r) <= 8 and r.isalnum() for r in reels), reels


def test_an_edl_of_mixed_counts_says_how_it_counts():
    ndf = cue("/m/a.mov", Fraction(30000, NTSC), 20.0, 0.0, 2.0, timecode="00:00:00:00")
    df = cue("/m/b.mov", Fraction(30000, NTSC), 20.0, 0.0, 2.0, timecode="01:00:00;00")
    built = build_timeline([ndf, df], "edl")
    assert not built.rate.drop_frame
    (note,) = built.notes
    assert "b.mov" in note and "29.97 fps (drop-frame)" in note and "29.97 fps (non-drop)" in note


def test_a_clip_with_sound_brings_it_on_its_own_track():
    edit = [cue("/m/vows.mov", 25, 20.0, 1.0, 3.0, sound=True), cue("/m/drone.mp4", 25, 20.0, 0.0, 2.0)]
    timeline = build_timeline(edit, "otio").timeline
    sound = [t for t in timeline.audio_tracks() if t.name == "Clip sound"][0]
    (clip,) = sound.find_clips()
    assert clip.name == "vows.mov" and clip.range_in_parent() == timeline.video_tracks()[0][0].range_in_parent()
    items = ET.fromstring(timeline_text(build_timeline(edit, "fcp7").timeline, "fcp7").split("\n", 2)[2])
    (sound_track,) = [
        t
        for t in items.iterfind(".//audio/track")
        if t.find("clipitem/file") is not None and "vows" in (t.findtext("clipitem/name") or "")
    ]
    assert sound_track.findtext("clipitem/sourcetrack/mediatype") == "audio"


def frames_at(path: Path, times: list[int], time_base: Fraction) -> Path:
    """A tiny H.264 clip whose frames are shown at exactly `times` (in ticks of `time_base`)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.codec_context.time_base = time_base
        for pts in times:
            frame = av.VideoFrame.from_ndarray(np.zeros((36, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_media_streams_read_the_rate_the_camera_ran_at(tmp_path):
    # 30 fps with one frame in a hundred dropped: still 30 fps (the average says 29.7), and not variable.
    steps = [6000 if i % 100 == 50 else 3000 for i in range(399)]
    path = frames_at(tmp_path / "drops.mp4", np.cumsum([0, *steps]).tolist(), Fraction(1, 90000))
    picture = media_streams(path).picture
    assert picture.rate == 30 and not picture.variable and picture.average < 29.8
    phone = media_streams(write_footage(tmp_path / "phone.mp4", 30, 2.0, variable=True)).picture
    assert phone.rate == 30 and phone.variable
    wedding = media_streams(write_footage(tmp_path / "w.mov", Fraction(30000, NTSC), 1.0, timecode="01:00:00;00"))
    assert wedding.picture.rate == Fraction(30000, NTSC) and wedding.picture.drop_frame


@pytest.mark.parametrize(
    "rate", [Fraction(24000, NTSC), Fraction(30000, NTSC), 30, Fraction(60000, NTSC), 15, Fraction(120000, NTSC)]
)
def test_matroska_keeps_its_rate_through_its_millisecond_clock(tmp_path, rate):
    # OBS and screen recorders write MKV, whose times are whole milliseconds: 29.97 fps frames lie 33, 33
    # and 34 ms apart. That is rounding, not a varying rate (it was read as 30 fps, variable, and conformed).
    picture = media_streams(write_footage(tmp_path / "obs.mkv", rate, 1.0)).picture
    assert picture.rate == rate and not picture.variable
    phone = media_streams(write_footage(tmp_path / "phone.mkv", rate, 2.0, variable=True)).picture
    assert phone.variable and abs(phone.rate / rate - 1) < 0.002  # its usual interval, to the millisecond
