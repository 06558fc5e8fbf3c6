"""Timeline export through OpenTimelineIO: ranges, fades and beat markers, in every format it writes."""

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
import opentimelineio as otio
import pytest

from engine.cli.main import main
from engine.export import FADE_SECONDS, ExportError, TimelineNameError, build_timeline, format_for
from engine.facade import Engine, InsideLibraryError, QueryError, TrackNotFoundError
from engine.records import ExportClip
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
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=2)
    clips = {
        "a": write_video(root / "a.mp4", frames(12), 25),
        "b": write_video(root / "b.mp4", frames(9), 25),
    }
    return engine, music, clips


def test_otio_has_the_clips_the_music_aligned_under_them_and_beat_markers(setup, tmp_path):
    engine, music, clips = setup
    edit = [
        ExportClip(clips["a"], 2.0, 9.6, track=str(music / "drums.flac"), music_start=8.0),
        ExportClip(clips["b"], 0.0, None, track=str(music / "piano.flac"), music_start=3.0),
        ExportClip(clips["a"], 0.0, 4.0),
    ]
    result = engine.export(edit, path=tmp_path / "edit.otio")
    assert result.frame_rate == pytest.approx(25.0) and result.format == "otio" and not result.notes
    first = result.cues[0]
    assert first.track_id == engine.track(music / "drums.flac").id

    timeline = otio.adapters.read_from_file(result.path)
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
    assert [c.name for c in tunes] == ["Bo – Drive", "piano.flac"]  # the third clip has no music: a gap
    for tune, shot in zip(tunes, shots):
        assert tune.range_in_parent() == shot.range_in_parent()  # under its clip, as long as it
    beats = engine.beats(music / "drums.flac")
    start = tunes[0].source_range.start_time.to_seconds()
    assert start == pytest.approx(first.music_start, abs=1 / 25)
    assert np.abs(beats.downbeats - first.music_start).min() < 1e-3  # fitted: the music starts on a downbeat
    assert abs(first.music_start - 8.0) <= 4 * 2.0 and first.music_end == pytest.approx(first.music_start + 7.6)
    # The beats the clip plays: from the music's start, on the 190 frames (7.6 s at 25 fps) it is heard.
    # (The reported start is rounded to the millisecond: the downbeat it starts on may sit just before it.)
    inside = [t for t in beats.times if t >= first.music_start - 1e-3 and round((t - first.music_start) * 25) < 190]
    marks = tunes[0].markers
    assert len(marks) == len(inside) > 8
    assert {m.name for m in marks} == {"beat", "downbeat"}
    assert all(m.color == otio.schema.MarkerColor.RED for m in marks if m.name == "downbeat")
    fades = [t for t in sound if isinstance(t, otio.schema.Transition)]
    lengths = [max(f.in_offset.to_seconds(), f.out_offset.to_seconds()) for f in fades]
    assert len(fades) == 4 and lengths == pytest.approx([FADE_SECONDS] * 4, abs=1 / 25)


def test_no_fit_keeps_the_given_start(setup):
    engine, music, clips = setup
    edit = [ExportClip(clips["a"], 0.0, 6.0, track=str(music / "drums.flac"), music_start=7.77, fit=False)]
    assert engine.export(edit, fmt="otio").cues[0].music_start == 7.77


@pytest.mark.parametrize(("fmt", "suffix"), [("fcp7", ".xml"), ("edl", ".edl")])  # FCPXML: test_timeline_formats
def test_editor_formats_parse_back(setup, tmp_path, fmt, suffix):
    engine, music, clips = setup
    edit = [
        ExportClip(clips["a"], 1.0, 6.0, track=str(music / "drums.flac"), music_start=4.0),
        ExportClip(clips["b"], 2.0, 8.0, track=str(music / "piano.flac")),
    ]
    path = Path(engine.export(edit, path=tmp_path / f"cut{suffix}", name="Cut 1").path)
    assert format_for(path) == fmt
    adapter = {"fcp7": "fcp_xml", "edl": "cmx_3600"}[fmt]
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
    engine, music, clips = setup
    drums = str(music / "drums.flac")
    with pytest.raises(ExportError, match="no clips"):
        build_timeline([])
    with pytest.raises(ExportError, match="empty"):
        engine.export([ExportClip(clips["a"], 5.0, 5.0)], fmt="otio")
    with pytest.raises(TrackNotFoundError, match="neither a track id nor a file: find the track's id with"):
        engine.export([ExportClip(clips["a"], track="Drive")], fmt="otio")  # a title: `similar` takes those
    outside = tmp_path / "elsewhere.flac"
    shutil.copy(music / "drums.flac", outside)
    with pytest.raises(TrackNotFoundError, match="elsewhere.flac is not in the library: add its folder and scan"):
        engine.export([ExportClip(clips["a"], track=str(outside))], fmt="otio")
    with pytest.raises(ExportError, match="cannot tell the timeline format"):
        format_for(tmp_path / "edit.mov")
    with pytest.raises(ExportError, match="unknown timeline format"):
        format_for(tmp_path / "edit.otio", "aaf")
    with pytest.raises(ExportError, match="edit.otio is named as otio and edl was asked for: name it edit.edl"):
        engine.export([ExportClip(clips["a"], 0, 4, track=drums)], fmt="edl", path=tmp_path / "edit.otio")
    assert not (tmp_path / "edit.otio").exists()
    assert format_for(tmp_path / "edit.txt", "edl") == "edl"  # a suffix no editor's: the format says it all
    # An impossible edit is refused, not written: music before its start or after its end, NaN points.
    length = engine.track(drums).duration
    for start in (-5.0, length, length + 0.5, 1e9):
        with pytest.raises(ExportError, match="cannot start at"):
            engine.export([ExportClip(clips["a"], 0, 4, track=drums, music_start=start, fit=False)], fmt="otio")
    for clip_in, clip_out in ((float("nan"), 4.0), (0.0, float("nan")), (0.0, float("inf"))):
        with pytest.raises(ExportError, match="number of seconds"):
            engine.export([ExportClip(clips["a"], clip_in, clip_out)], fmt="otio")


def test_music_that_ends_before_the_clip_leaves_silence_and_says_so(setup, tmp_path):
    engine, music, clips = setup
    drums = str(music / "drums.flac")
    length = engine.track(drums).duration
    edit = [ExportClip(clips["a"], 0.0, 10.0, track=drums, music_start=length - 4.0, fit=False)]
    result = engine.export(edit, path=tmp_path / "edit.otio")
    (note,) = result.notes  # where the music ends: with the file, or before it where the file rings out
    missing = float(re.search(r"ends ([\d.]+) s before the clip from a.mp4 does", note)[1])
    assert missing >= 6.0 - 0.05 and ("no music" in note or "ring-out or silence" in note), note
    assert result.cues[0].music_end == pytest.approx(length, abs=1e-3)
    sound = otio.adapters.read_from_file(result.path).audio_tracks()[0]
    (tune,) = sound.find_clips()
    assert tune.source_range.duration.to_seconds() == pytest.approx(4.0, abs=1 / 25)
    assert tune.source_range.end_time_exclusive().to_seconds() <= length + 1 / 25  # never past the file
    assert sound.duration().to_seconds() == pytest.approx(10.0, abs=1 / 25)  # silence to the clip's end


def test_a_start_the_music_forces_away_is_said_and_a_snap_is_not(setup, tmp_path):
    engine, music, clips = setup
    drums = str(music / "drums.flac")
    for start, said in ((35.0, True), (22.0, False)):  # 35 + 10 s outlasts the music; 22 is a phrase snap away
        edit = [ExportClip(clips["a"], 0.0, 10.0, track=drums, music_start=start)]
        result = engine.export(edit, path=tmp_path / f"{start}.otio")
        moved = result.cues[0].music_start
        assert moved < start - 1.0, (start, moved)  # both are moved; only the first had to be
        notes = [n for n in result.notes if n.startswith("Bo – Drive starts at")]
        assert bool(notes) == said, result.notes
        if said:
            assert f"not {start // 60:.0f}:{start % 60:04.1f}: from there its music would not last" in notes[0]


def test_where_a_timeline_cannot_be_written_is_one_clear_error_and_no_litter(setup, tmp_path):
    engine, music, clips = setup
    edit = [ExportClip(clips["a"], 0.0, 4.0, track=str(music / "drums.flac"))]
    with pytest.raises(ExportError, match="does not exist"):
        engine.export(edit, path=tmp_path / "missing" / "edit.otio")
    folder = tmp_path / "edit.otio"
    folder.mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        engine.export(edit, path=folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.otio"]  # nothing left behind


def test_no_export_or_re_edit_writes_over_the_library_or_the_footage(setup, tmp_path):
    """A slip of the tab key must not cost a song or a video: a timeline replaces only a timeline file, and
    a re-edit never replaces a library track (it replaced one with 5 s of another song, through the CLI and
    the API's /fit)."""
    engine, music, clips = setup
    drums, piano = str(music / "drums.flac"), music / "piano.flac"
    kept = {path: Path(path).read_bytes() for path in (piano, clips["a"])}
    edit = [ExportClip(clips["a"], 0.0, 4.0, track=drums)]
    for target, fmt in ((clips["a"], "edl"), (piano, "otio")):
        with pytest.raises(ExportError, match=f"{Path(target).name} exists and is not a timeline"):
            engine.export(edit, path=target, fmt=fmt)
    with pytest.raises(ExportError, match="exists and is not a timeline"):  # said before minutes of rendering
        engine.export(edit, path=clips["a"], fmt="otio", render=True)
    assert not Path(clips["a"]).with_name("a music").exists()
    link, folder = tmp_path / "take.wav", tmp_path / "same folder"
    link.symlink_to(piano)
    folder.symlink_to(music)  # the library folder by another path
    for out in (piano, link, folder / "piano.flac"):
        with pytest.raises(
            InsideLibraryError, match=r"is a file in the library folder .*: write the re-edit to another"
        ):
            engine.reedit(drums, length=5.0, out=out)
    assert all(Path(path).read_bytes() == data for path, data in kept.items())
    engine.export(edit, path=tmp_path / "cut.edl")
    assert engine.export(edit, path=tmp_path / "cut.edl").path == str(tmp_path / "cut.edl")  # a timeline: replaced


def test_nothing_is_rendered_or_collected_into_a_library_folder(setup, tmp_path, capsys):
    """A render or a collected copy in a library folder was indexed by the next scan as a new track, and
    recommended: a folder of the library, one inside it, one reached through a link, or one on a drive that is
    not plugged in is refused before anything is written, by the engine, `fit` and `export`."""
    engine, music, clips = setup
    drums = str(music / "drums.flac")
    drive = tmp_path / "drive"
    (drive / "songs").mkdir(parents=True)
    engine.add_root(drive / "songs")
    (drive / "songs").rename(drive / "elsewhere")  # unplugged: the folder is offline, and still the library's
    link = tmp_path / "link"
    link.symlink_to(music)
    before = sorted(music.rglob("*"))
    said = r"is inside the library folder .*: the next scan would add .* as a new track; choose a folder outside"
    edit = [ExportClip(clips["a"], 0.0, 4.0, track=drums)]
    try:
        for folder in (music, music / "cues", link / "cues", drive / "songs" / "cues"):
            for render in (False, True):
                with pytest.raises(InsideLibraryError, match=said):
                    engine.export(edit, fmt="fcp7", collect=folder, render=render)
        with pytest.raises(InsideLibraryError, match=said):  # the render's folder beside the timeline
            engine.export(edit, path=link / "cut.otio", render=True)
        for out in (music / "new_render.wav", link / "new_render.wav", drive / "songs" / "new_render.wav"):
            with pytest.raises(InsideLibraryError, match=said):
                engine.reedit(drums, length=5.0, out=out)
        base = ["--data-dir", str(engine.data_dir)]
        fit = [*base, "fit", drums, "--length", "5", "--out", str(music / "new_render.wav")]
        export = [*base, "export", str(clips["a"]), str(tmp_path / "cut.xml"), "--track", drums, "--music-start", "0"]
        for args in (fit, [*export, "--collect", str(link / "cues")], [*export, "--render", "--collect", str(music)]):
            assert main(args) == 1
            assert re.search(said, capsys.readouterr().err)
    finally:
        engine.remove_root(drive / "songs")
    assert sorted(music.rglob("*")) == before and not (drive / "songs").exists() and not (tmp_path / "cut.xml").exists()
    engine.export(edit, fmt="fcp7", collect=tmp_path / "cues")  # outside: collected
    assert (tmp_path / "cues" / "drums.wav").is_file()
    (music / ".cues").mkdir()  # a hidden folder, which the scan never looks in: written there
    engine.export(edit, fmt="fcp7", collect=music / ".cues")
    assert (music / ".cues" / "drums.wav").is_file()
    shutil.rmtree(music / ".cues")


def test_a_library_folder_holding_the_apps_data_leaves_its_previews_to_it(bundle, tmp_path):
    """A library folder that holds the app's data folder (a home folder added whole): the app's fitted
    previews are written there, which a render into the rest of the folder is not."""
    home = tmp_path / "home"
    (home / "Music").mkdir(parents=True)
    render_midi(home / "Music" / "waltz.flac", bpm=90, program=0, melody=[60, 64, 67], seconds=12)
    engine = Engine(home / "Data" / "needledrop", bundle=bundle)
    engine.add_root(home)
    engine.scan(workers=1)
    track = engine.track(home / "Music" / "waltz.flac").id
    (engine.data_dir / "fitted").mkdir()
    engine.reedit(track, length=5.0, out=engine.data_dir / "fitted" / "preview.wav")
    assert (engine.data_dir / "fitted" / "preview.wav").is_file()
    with pytest.raises(InsideLibraryError):
        engine.reedit(track, length=5.0, out=home / "Music" / "cue.wav")
    engine.scan(workers=1)  # nor does the scan take the app's data folder, previews and all, for music
    assert [Path(t.path).name for t in engine.tracks()] == ["waltz.flac"]


def test_a_track_on_an_unplugged_drive_is_said_alike_by_export_and_fit(setup, tmp_path, capsys):
    """`fit` said "cannot open as media (No such file or directory)" (a decoding error, exit 4) where the
    export asks whether the drive is plugged in: both say the export's sentence, with the export's status."""
    engine, music, clips = setup
    piano = engine.track(music / "piano.flac").id
    said = r"piano.flac cannot be read now \(.*\): is its drive plugged in\?"
    away = music.with_name("unplugged")
    music.rename(away)
    try:
        with pytest.raises(ExportError, match=said):
            engine.export([ExportClip(clips["a"], 0.0, 4.0, track=piano)], fmt="otio")
        with pytest.raises(QueryError, match=said):
            engine.reedit(piano, length=5.0, out=tmp_path / "cue.wav")
        fit = ["--data-dir", str(engine.data_dir), "fit", str(piano), "--length", "5", "--out", str(tmp_path / "x.wav")]
        assert main(fit) == 1 and re.search(said, capsys.readouterr().err)
    finally:
        away.rename(music)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../../etc/x", "a/b", "..", ".", "a\\b", "nul\x00", "line\nbreak", " "])
def test_a_timeline_name_is_a_plain_file_name(setup, name):
    """The API answers `filename` as the name plus its suffix: "../../etc/x" gave "../../etc/x.otio", which a
    plugin writing to it would have put outside its folder."""
    engine, music, clips = setup
    with pytest.raises(TimelineNameError, match="is also its file name, and .*: give a plain name"):
        engine.export([ExportClip(clips["a"], 0.0, 4.0)], fmt="otio", name=name)
    assert engine.export([ExportClip(clips["a"], 0.0, 4.0)], fmt="otio", name="Scene 4: take 2.v3").content


def test_rendered_music_never_replaces_an_earlier_render_or_a_file_of_the_user(setup, tmp_path):
    """A timeline exported earlier points at its fitted WAVs: exporting again into the same folder with the
    music placed elsewhere writes new ones beside them, and an unchanged export reuses its own."""
    engine, music, clips = setup
    folder = tmp_path / "fitted"
    drums = str(music / "drums.flac")

    def export(start: float) -> Path:
        edit = [ExportClip(clips["a"], 0.0, 4.0, track=drums, music_start=start, fit=False)]
        result = engine.export(edit, path=tmp_path / "cut.otio", render=True, collect=folder)
        (tune,) = otio.adapters.read_from_file(result.path).audio_tracks()[0].find_clips()
        return Path(unquote_to_bytes(tune.media_reference.target_url.removeprefix("file://")).decode())

    first = export(2.0)
    earlier = first.read_bytes()
    second = export(12.0)
    assert second != first and first.read_bytes() == earlier
    assert export(2.0) == first and len(list(folder.iterdir())) == 2  # the same edit: the same file
    mine = folder / "03 drums (4.00 s).wav"
    mine.write_bytes(b"the user's own")
    placed = [ExportClip(clips["a"], 0.0, 1.0), ExportClip(clips["b"], 0.0, 1.0)]
    placed.append(ExportClip(clips["a"], 0.0, 4.0, track=drums, music_start=5.0, fit=False))
    engine.export(placed, path=tmp_path / "cut.otio", render=True, collect=folder)
    assert mine.read_bytes() == b"the user's own" and (folder / "03 drums (4.00 s) (2).wav").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no scratch file left


def test_a_full_disk_is_one_clear_error_and_keeps_the_old_file(setup, small_disk):
    engine, music, clips = setup
    edit = [ExportClip(clips["a"], 0.0, 8.0, track=str(music / "drums.flac"))]
    target = small_disk / "edit.otio"
    target.write_text("the previous export")
    with contextlib.suppress(OSError), open(small_disk / "filler", "wb") as f:  # fill it to the last block
        while True:
            f.write(b"\0" * 4096)
    with pytest.raises(ExportError, match="the disk is full"):
        engine.export(edit, path=target)
    assert target.read_text() == "the previous export"
    assert sorted(p.name for p in small_disk.iterdir()) == ["edit.otio", "filler"]


def test_a_read_only_disk_is_one_clear_error(setup, small_disk):
    engine, music, clips = setup
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(ExportError, match="not writable"):
        engine.export([ExportClip(clips["a"], 0.0, 4.0)], path=small_disk / "edit.xml")


def test_a_name_that_is_not_utf8_is_exported_as_the_url_of_that_very_file(setup, tmp_path):
    engine, music, clips = setup
    raw = os.fsencode(tmp_path) + b"/caf\xe9 take.mp4"  # Latin-1 bytes: not valid UTF-8
    with open(raw, "wb") as f, open(clips["b"], "rb") as source:
        f.write(source.read())
    result = engine.export([ExportClip(os.fsdecode(raw), 0.0, 3.0)], path=tmp_path / "edit.otio")
    (shot,) = otio.adapters.read_from_file(result.path).video_tracks()[0].find_clips()
    url = shot.media_reference.target_url
    assert url.startswith("file://")
    assert os.path.isfile(unquote_to_bytes(url.removeprefix("file://")))
    assert shot.name == "caf\ufffd take.mp4"


def test_cli_export(setup, tmp_path, capsys):
    engine, music, clips = setup
    out = tmp_path / "edit.fcpxml"
    args = ["--data-dir", str(engine.data_dir), "export", str(clips["a"]), str(out), "--prompt", "drums", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "fcpx" and report["path"] == str(out) and out.is_file()
    (back,) = otio.adapters.read_from_file(str(out), "fcpx_xml")  # a library's event holds the project
    lanes = {track.name: track for track in back.tracks}  # the fcpx reader names tracks by lane
    assert len(lanes["-1"].find_clips()) == 1


def test_recommend_leaves_out_the_tracks_already_on_the_timeline(setup, capsys):
    engine, music, clips = setup
    drums, piano = (engine.track(music / name).id for name in ("drums.flac", "piano.flac"))
    assert {r.track_id for r in engine.recommend(clips["a"], k=2).results} == {drums, piano}
    assert [r.track_id for r in engine.recommend(clips["a"], k=2, exclude=[piano]).results] == [drums]
    assert engine.recommend(clips["a"], k=2, exclude=[piano, str(music / "drums.flac")]).results == []
    with pytest.raises(TrackNotFoundError):
        engine.recommend(clips["a"], exclude=[999])
    args = ["--data-dir", str(engine.data_dir), "recommend", str(clips["a"]), "-k", "2", "--json"]
    assert main([*args, "--exclude", str(drums)]) == 0
    assert [r["track_id"] for r in json.loads(capsys.readouterr().out)["results"]] == [piano]


def test_an_out_point_past_the_end_of_the_file_is_its_end_and_both_say_so(setup, tmp_path):
    engine, music, clips = setup
    length = engine.probe(clips["a"]).duration
    rec = engine.recommend(str(clips["a"]), start=1.0, end=1000.0, k=3)
    said = f"a.mp4 is {length:.2f} s long: the clip ends there, not at the out point 1000.00 s"
    assert said in rec.notes and all(r.end - r.start == pytest.approx(length - 1.0, abs=0.05) for r in rec.results)
    result = engine.export([ExportClip(clips["a"], 1.0, 1000.0)], path=tmp_path / "edit.otio")
    assert said in result.notes and result.cues[0].clip_out == pytest.approx(length)
    assert not engine.recommend(str(clips["a"]), start=1.0, end=length, k=3).notes  # the end itself: nothing to say


def test_cli_export_of_a_chosen_track_starts_it_where_recommend_does(setup, tmp_path, capsys):
    """`export --track` without --music-start exports what `recommend` showed for that track and clip, not the
    track from its first bar."""
    engine, music, clips = setup
    ranked = engine.recommend(str(clips["a"]), start=1.0, end=5.0, prompt="drums", k=20).results
    later = max(ranked, key=lambda r: r.start)
    assert later.start > 1.0  # a track the recommendation starts well into
    out = tmp_path / "edit.otio"
    base = ["--data-dir", str(engine.data_dir), "export", str(clips["a"]), str(out), "--in", "1", "--out-point", "5"]
    assert main([*base, "--prompt", "drums", "--track", str(later.track_id), "--json"]) == 0
    (cue,) = json.loads(capsys.readouterr().out)["clips"]
    assert cue["music_start"] == pytest.approx(later.start, abs=1e-3)


def test_cli_export_starts_a_chosen_track_where_recommend_does_at_the_same_balance(setup, tmp_path, capsys):
    """The balance moves where a track's best part is (the picture's segment or the words'): `export
    --balance` starts the track where `recommend --balance` showed it."""
    engine, music, clips = setup
    video, window = str(clips["a"]), {"start": 1.0, "end": 5.0, "prompt": "slow piano", "k": 20}
    starts = {b: {r.track_id: r.start for r in engine.recommend(video, balance=b, **window).results} for b in (0, 1)}
    track, start = next((t, s) for t, s in starts[0].items() if abs(starts[1].get(t, s) - s) > 0.5)
    out = tmp_path / "edit.otio"
    base = ["--data-dir", str(engine.data_dir), "export", video, str(out), "--in", "1", "--out-point", "5"]
    assert main([*base, "--prompt", "slow piano", "--balance", "0", "--track", str(track), "--json"]) == 0
    (cue,) = json.loads(capsys.readouterr().out)["clips"]
    assert cue["music_start"] == pytest.approx(start, abs=1e-3)


def test_cli_export_says_a_loudness_without_a_render_does_nothing(setup, tmp_path, capsys):
    engine, music, clips = setup
    base = ["--data-dir", str(engine.data_dir), "export", str(clips["a"]), "--track", str(music / "drums.flac")]
    assert main([*base, str(tmp_path / "a.otio"), "--loudness", "-16"]) == 0
    assert "--loudness levels only what --render writes" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "b.otio")]) == 0
    assert "--loudness" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--in", "nan"], "not a time"),
        (["--out-point", "inf"], "not a time"),
        (["--music-start", "-5"], "not a time"),
        (["--music-start", "900", "--no-fit", "--track", "TRACK"], "cannot start at 900.00 s"),
    ],
)
def test_cli_export_refuses_impossible_edits_in_one_line(setup, tmp_path, capsys, args, message):
    engine, music, clips = setup
    args = [str(music / "drums.flac") if a == "TRACK" else a for a in args]
    out = tmp_path / "edit.otio"
    with contextlib.suppress(SystemExit):  # argparse exits 2 on a bad value
        code = main(["--data-dir", str(engine.data_dir), "export", str(clips["a"]), str(out), *args])
        assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not out.exists()


@pytest.mark.parametrize("where", ["missing/edit.xml", ".", "read-only/edit.xml"])
def test_cli_export_to_a_place_it_cannot_write_is_one_line(setup, tmp_path, capsys, small_disk, where):
    engine, music, clips = setup
    (tmp_path / "read-only").symlink_to(small_disk)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    track = ["--track", str(music / "drums.flac")]
    code = main(["--data-dir", str(engine.data_dir), "export", str(clips["a"]), str(tmp_path / where), *track])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("needledrop: ")
    assert not list(tmp_path.rglob(".*.tmp"))


def test_a_file_that_no_longer_reads_is_offered_and_exported_with_a_note(bundle, tmp_path):
    """A file cut short since its analysis: the scan records why and keeps what the library had for it, and
    the results and the export say that they are from before, rather than offer it as if nothing happened."""
    music = tmp_path / "music"
    music.mkdir()
    render_midi(music / "waltz.flac", bpm=90, program=0, melody=[60, 64, 67], drums=True, seconds=30)
    render_midi(music / "other.flac", bpm=90, program=0, melody=[60, 62, 64], drums=True, seconds=30)
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    waltz, other = engine.track(music / "waltz.flac").id, engine.track(music / "other.flac").id
    assert engine.recommend(prompt="piano", k=2).notes == []
    data = (music / "waltz.flac").read_bytes()
    (music / "waltz.flac").write_bytes(data[: len(data) // 3])
    engine.scan(workers=1)
    assert [Path(e.path).name for e in engine.errors()] == ["waltz.flac"]
    for found in (engine.recommend(prompt="piano", k=2), engine.similar(other, k=1)):
        assert waltz in [x.track_id for x in found.results]  # still offered, from its analysis
        (note,) = found.notes
        assert note.startswith("waltz.flac could not be read at the last scan (truncated"), note
    clip = write_video(tmp_path / "c.mp4", frames(6), 25)
    result = engine.export([ExportClip(clip, 0.0, None, track=waltz, music_start=2.0)], path=tmp_path / "e.otio")
    assert any(n.startswith("waltz.flac could not be read at the last scan") for n in result.notes), result.notes
