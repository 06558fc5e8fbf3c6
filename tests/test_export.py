"""Timeline export through OpenTimelineIO: ranges, fades and beat markers, in every format it writes."""

from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from engine.cli.main import main
from engine.export import FADE_SECONDS, ExportError, build_timeline, cue_for, format_for, write_timeline
from engine.library import Library
from media import render_midi, write_video


def frames(seconds: float, fps: int = 25) -> np.ndarray:
    out = np.zeros((int(seconds * fps), 72, 128, 3), np.uint8)
    for i in range(len(out)):
        out[i] = (i * 3 % 255, 80, 160)
    return out


@pytest.fixture(scope="module")
def setup(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    music = root / "music"
    music.mkdir()
    render_midi(
        music / "drums.flac",
        bpm=120,
        program=30,
        melody=[52, 55, 57],
        drums=True,
        bass=True,
        seconds=40,
        tags={"title": "Drive", "artist": "Bo"},
    )
    render_midi(music / "piano.flac", bpm=96, program=0, melody=[60, 64, 67], drums=True, seconds=40)
    library = Library(root / "data", bundle)
    library.add_root(music)
    library.scan(workers=2)
    clips = {
        "a": write_video(root / "a.mp4", frames(12), 25),
        "b": write_video(root / "b.mp4", frames(9), 25),
    }
    return library, music, clips


def test_otio_has_the_clips_the_music_aligned_under_them_and_beat_markers(setup, tmp_path):
    library, music, clips = setup
    first, rate = cue_for(library, clips["a"], 2.0, 9.6, track=music / "drums.flac", music_start=8.0)
    second, _ = cue_for(library, clips["b"], 0.0, None, track=music / "piano.flac", music_start=3.0)
    silent, _ = cue_for(library, clips["a"], 0.0, 4.0)
    assert rate == pytest.approx(25.0)
    path = write_timeline(build_timeline([first, second, silent], rate=rate), tmp_path / "edit.otio")

    timeline = otio.adapters.read_from_file(str(path))
    picture, sound = timeline.video_tracks()[0], timeline.audio_tracks()[0]
    shots = list(picture.find_clips())
    assert [c.name for c in shots] == ["a.mp4", "b.mp4", "a.mp4"]
    assert [(c.source_range.start_time.to_seconds(), c.source_range.duration.to_seconds()) for c in shots] == [
        (2.0, 7.6),
        (0.0, 9.0),
        (0.0, 4.0),
    ]
    assert Path(shots[0].media_reference.target_url.removeprefix("file://")) == Path(clips["a"]).resolve()
    tunes = list(sound.find_clips())
    assert [c.name for c in tunes] == ["Bo – Drive", "piano"]  # the third clip has no music: a gap
    for tune, shot in zip(tunes, shots):
        assert tune.range_in_parent() == shot.range_in_parent()  # under its clip, as long as it
    beats = library.beats(library.catalog.track_id(music / "drums.flac"))
    start = tunes[0].source_range.start_time.to_seconds()
    assert start == pytest.approx(first.music_start, abs=1 / 25)
    end = start + 7.6
    assert np.abs(beats.downbeats - end).min() < 1 / 25 + 0.005  # fitted: the music ends on a downbeat
    inside = [t for t in beats.times if start - 1e-6 <= t < end]
    marks = tunes[0].markers
    assert len(marks) == len(inside) > 8
    assert {m.name for m in marks} == {"beat", "downbeat"}
    assert all(m.color == otio.schema.MarkerColor.RED for m in marks if m.name == "downbeat")
    fades = [t for t in sound if isinstance(t, otio.schema.Transition)]
    lengths = [max(f.in_offset.to_seconds(), f.out_offset.to_seconds()) for f in fades]
    assert len(fades) == 4 and lengths == pytest.approx([FADE_SECONDS] * 4, abs=1 / 25)


def test_no_fit_keeps_the_given_start(setup):
    library, music, clips = setup
    cue, _ = cue_for(library, clips["a"], 0.0, 6.0, track=music / "drums.flac", music_start=7.77, fit=False)
    assert cue.music_start == 7.77


@pytest.mark.parametrize(("fmt", "suffix"), [("fcp7", ".xml"), ("fcpx", ".fcpxml"), ("edl", ".edl")])
def test_editor_formats_parse_back(setup, tmp_path, fmt, suffix):
    library, music, clips = setup
    cues = [
        cue_for(library, clips["a"], 1.0, 6.0, track=music / "drums.flac", music_start=4.0)[0],
        cue_for(library, clips["b"], 2.0, 8.0, track=music / "piano.flac")[0],
    ]
    path = write_timeline(build_timeline(cues, name="Cut 1", rate=25.0), tmp_path / f"cut{suffix}")
    assert format_for(path) == fmt
    adapter = {"fcp7": "fcp_xml", "fcpx": "fcpx_xml", "edl": "cmx_3600"}[fmt]
    kwargs = {"rate": 25} if fmt == "edl" else {}
    back = otio.adapters.read_from_file(str(path), adapter, **kwargs)
    shots = list(back.video_tracks()[0].find_clips())
    assert [(c.source_range.start_time.to_seconds(), c.source_range.duration.to_seconds()) for c in shots] == [
        (1.0, 5.0),
        (2.0, 6.0),
    ]
    if fmt != "edl":  # an EDL carries the picture cut only (the module says why)
        tunes = list(back.audio_tracks()[0].find_clips())
        assert [c.range_in_parent().start_time.to_seconds() for c in tunes] == [0.0, 5.0]
        assert all(len(c.markers) > 0 for c in tunes)


def test_bad_edits_are_clear_errors(setup, tmp_path):
    library, music, clips = setup
    with pytest.raises(ExportError, match="no clips"):
        build_timeline([])
    with pytest.raises(ExportError, match="empty"):
        cue_for(library, clips["a"], 5.0, 5.0)
    with pytest.raises(ExportError, match="not in the library"):
        cue_for(library, clips["a"], track=tmp_path / "nope.flac")
    with pytest.raises(ExportError, match="cannot tell the timeline format"):
        format_for(tmp_path / "edit.mov")
    with pytest.raises(ExportError, match="unknown timeline format"):
        format_for(tmp_path / "edit.otio", "aaf")


def test_cli_export(setup, tmp_path, capsys):
    library, music, clips = setup
    out = tmp_path / "edit.fcpxml"
    args = ["--data-dir", str(library.data_dir), "export", str(clips["a"]), str(out), "--prompt", "drums", "--json"]
    assert main(args) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    assert report["format"] == "fcpx" and out.is_file()
    back = otio.adapters.read_from_file(str(out), "fcpx_xml")
    assert len(list(back.audio_tracks()[0].find_clips())) == 1
