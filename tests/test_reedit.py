"""Re-editing a track to a length on its own bars: exact lengths, joins on downbeats without clicks, the
track's own ending where the length allows it, delivery loudness; through the engine and the CLI."""

import hashlib
import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from scipy.signal import resample_poly

from engine.cli.main import main
from engine.export import ExportError
from engine.facade import SILENCE_TOLD, Engine, QueryError
from engine.records import ExportClip
from engine.reedit.plan import MIN_RUN, plan_edit
from engine.reedit.render import CROSSFADE, decode, write_wav
from media import render_midi, write_audio, write_footage


@pytest.fixture(scope="module")
def library(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("reedit")
    music = root / "music"
    music.mkdir()
    # Four bars of four chords, repeated: a track whose bars repeat as songs do.
    render_midi(
        music / "loop.flac",
        bpm=120,
        program=0,
        melody=[60, 60, 60, 60, 65, 65, 65, 65, 67, 67, 67, 67, 64, 64, 64, 64],
        drums=True,
        bass=True,
        seconds=40,
    )
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    return engine, music / "loop.flac", root


def read_wav(path):
    audio = decode(path)
    return audio.samples, audio.rate


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def natural_plus(engine, loop, bars: int) -> float:
    """A length the track's own ending can close: from its first downbeat to its end, plus `bars` bars."""
    downbeats = np.asarray(engine.beats(loop).downbeats)
    return float(decode(loop).duration - downbeats[0] + bars * np.median(np.diff(downbeats))) + 0.3


@pytest.mark.parametrize("length", [13.37, 23.0, "24 bars more", 140.0])
def test_the_edit_is_exactly_as_long_as_asked_and_joins_on_downbeats_without_clicks(library, tmp_path, length):
    engine, loop, _ = library
    natural = length == "24 bars more"  # four-bar phrases repeated six times: the track's own ending fits
    length = natural_plus(engine, loop, 24) if natural else length
    before = digest(loop)
    out = tmp_path / "fit.wav"
    edit = engine.reedit(loop, length=length, out=out, loudness=None)
    samples, rate = read_wav(out)
    assert len(samples) == round(length * rate)  # to the sample
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s24le"
    assert digest(loop) == before  # the library file is only read

    downbeats = np.asarray(engine.beats(loop).downbeats)
    source, _ = read_wav(loop)
    own_jump = np.abs(np.diff(source, axis=0)).max()
    for join in edit.plan.joins:
        assert np.abs(downbeats - join.leaves).min() < 1e-6 and np.abs(downbeats - join.enters).min() < 1e-6
        at, half = round(join.at * rate), round(CROSSFADE * rate)
        around = samples[max(at - half, 0) : at + half]
        assert np.abs(np.diff(around, axis=0)).max() <= own_jump * 1.05  # no click: no step the track lacks
    assert edit.plan.music_length <= length + 1e-9
    if length > 40:
        assert len(edit.plan.joins) >= 2  # longer: bars repeated
    if natural:  # repeated bars, then the track's own ending
        assert edit.plan.ending == "natural"
        assert edit.plan.pieces[-1].end == pytest.approx(decode(loop).duration)


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_the_edit_is_levelled_to_the_delivery_loudness_under_a_true_peak_ceiling(library, tmp_path, target):
    import pyloudnorm

    engine, loop, _ = library
    out = tmp_path / "fit.wav"
    edit = engine.reedit(loop, length=30.0, out=out, loudness=target)
    samples, rate = read_wav(out)
    measured = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    assert abs(measured - target) <= 0.5 and abs(edit.level.loudness - measured) < 0.05
    true_peak = 20 * math.log10(np.abs(resample_poly(samples.astype(np.float64), 4, 1, axis=0)).max())
    assert true_peak <= -1.0 + 0.05


def test_the_cli_writes_the_edit_and_lists_it(library, tmp_path, capsys):
    engine, loop, _ = library
    out = tmp_path / "cue.wav"
    args = ["--data-dir", str(engine.data_dir), "fit", str(loop), "--length", "61", "--out", str(out), "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["length"] == 61 and out.is_file()
    assert report["pieces"][0]["at"] == 0 and all(
        {"at", "leaves", "enters", "similarity"} <= set(j) for j in report["joins"]
    )
    assert report["loudness"]["target"] == -14.0


def test_impossible_re_edits_are_one_clear_error(library, tmp_path):
    engine, loop, _ = library
    with pytest.raises(QueryError, match="length must be positive"):
        engine.reedit(loop, length=0.0, out=tmp_path / "x.wav")
    with pytest.raises(QueryError, match="overwrite its own source"):
        engine.reedit(loop, length=10.0, out=loop)
    with pytest.raises(QueryError, match="does not exist"):
        engine.reedit(loop, length=10.0, out=tmp_path / "missing" / "x.wav")
    with pytest.raises(QueryError, match="loudness target"):
        engine.reedit(loop, length=10.0, out=tmp_path / "x.wav", loudness=12.0)
    with pytest.raises(QueryError, match="written as WAV: name the file .wav, not cue.mp3"):
        engine.reedit(loop, length=10.0, out=tmp_path / "cue.mp3")  # WAV data under an .mp3 name, it was
    # A length that would take gigabytes to render (the API once died of one) is refused before any is used.
    with pytest.raises(QueryError, match=r"at most 20:00 long, not 333:20\.0"):
        engine.reedit(loop, length=20000.0, out=tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_an_export_with_a_clip_too_long_to_render_renders_none(library, tmp_path, monkeypatch):
    """Each clip's length is checked before the first is rendered (renders take minutes): no WAV is left for
    a timeline that is not written."""
    from engine import facade

    engine, loop, _ = library
    monkeypatch.setattr(facade, "MAX_LENGTH", 5.0)  # as if the cap were 5 s: clips of 3 s and 8 s
    clip = write_footage(tmp_path / "scene.mp4", 25, 10.0)
    clips = [ExportClip(clip, 0.0, 3.0, track=str(loop)), ExportClip(clip, 1.0, 9.0, track=str(loop))]
    with pytest.raises(ExportError, match=r"scene.mp4: a re-edit is at most 0:05 long, not 0:08\.0"):
        engine.export(clips, path=tmp_path / "cut.otio", render=True)
    assert not list(tmp_path.rglob("*.wav")) and not (tmp_path / "cut.otio").exists()


def test_a_start_in_the_last_bars_goes_back_to_fill_the_length(library, tmp_path, capsys):
    """From the track's last bars, fewer than MIN_RUN bars are left before its end: the edit goes back from
    the last bar to a bar like the one after it rather than end in silence, in the CLI and an export."""
    engine, loop, _ = library
    duration = decode(loop).duration
    out = tmp_path / "late.wav"
    args = ["--data-dir", str(engine.data_dir), "fit", str(loop), "--length", "20", "--start", str(duration - 6)]
    assert main([*args, "--out", str(out), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["silent_tail"] < SILENCE_TOLD and said["pieces"][0]["from"] > duration - 8
    assert any(join["enters"] < join["leaves"] for join in said["joins"])  # it went back
    samples, rate = read_wav(out)
    last = samples[-round(2.0 * rate) :]
    assert np.sqrt(np.mean(last[: rate // 2] ** 2)) > 1e-3  # music until the fade, not silence
    clip = write_footage(tmp_path / "scene.mp4", 25, 20.0)
    late = ExportClip(clip, 0.0, 20.0, track=str(loop), music_start=duration - 6, fit=False)
    result = engine.export([late], path=tmp_path / "cut.otio", render=True)
    assert not any("silent" in note for note in result.notes), result.notes


@pytest.mark.parametrize(("start_bar", "length"), [(11, 20.0), (12, 30.0), (13, 16.0)])
def test_a_late_start_goes_back_once_and_plays_whole_runs_after(start_bar, length):
    """From the last bars the edit may go back before a full run, but not stutter on the last bar: after it
    goes back, every run is MIN_RUN bars at least (an outro bar alike only to the bar before it repeated
    itself five times)."""
    downbeats = np.arange(0, 30, 2.0)  # 14 bars of 2 s, and a ring-out to 31 s
    bars = len(downbeats) - 1
    similarity = np.full((bars, bars), 0.1)
    np.fill_diagonal(similarity, 1.0)
    similarity[12, 13] = similarity[13, 12] = 0.9
    plan = plan_edit(downbeats, 31.0, similarity, start_bar, length)
    runs, run = [], 1
    for bar, following in zip(plan.bars, plan.bars[1:]):
        if following == bar + 1:
            run += 1
        else:
            runs.append(run)
            run = 1
    assert plan.bars[0] == start_bar and runs and all(r >= MIN_RUN for r in runs[1:]), plan.bars
    assert length - plan.music_length <= 2.0  # filled, to a bar at most


def test_a_fade_past_the_last_downbeat_claims_no_more_music_than_the_track_has():
    """A fade that plays on past the last downbeat ends where the track does (half a second later here),
    and the music it reports is the music its pieces hold: the silence after it is counted, not hidden."""
    downbeats = np.arange(0, 40, 2.0)
    bars = len(downbeats) - 1
    rng = np.random.default_rng(8)
    noise = rng.random((bars, bars))
    similarity = (noise + noise.T) / 2
    np.fill_diagonal(similarity, 1.0)
    for start_bar in range(bars):
        for length in (3.0, 4.5, 5.0, 7.0, 9.0, 11.0):
            plan = plan_edit(downbeats, 38.5, similarity, start_bar, length)
            held = sum(piece.length for piece in plan.pieces)
            assert held == pytest.approx(plan.music_length, abs=1e-6), (start_bar, length, plan)


def test_music_with_no_bars_to_repeat_says_how_much_is_silent(bundle, tmp_path, capsys):
    """A held tone has no downbeats: it is cut, not re-edited, and the seconds of silence after it are said
    (and are silent)."""
    rate = 44_100
    t = np.arange(8 * rate) / rate
    (tmp_path / "music").mkdir()
    drone = write_audio(tmp_path / "music" / "drone.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(tmp_path / "music")
    engine.scan(workers=1)
    out = tmp_path / "drone-fit.wav"
    args = ["--data-dir", str(engine.data_dir), "fit", str(drone), "--length", "20", "--out", str(out)]
    assert main(args) == 0
    said = capsys.readouterr().out
    edit = engine.reedit(drone, length=20.0, out=tmp_path / "again.wav")
    assert edit.silent_tail > 10 and edit.to_json()["silent_tail"] == pytest.approx(edit.silent_tail, abs=1e-3)
    assert f"the music ends {edit.silent_tail:.1f} s before the length" in said and "no bars" in said
    samples, rate = read_wav(out)
    assert np.abs(samples[-round((edit.silent_tail - 0.1) * rate) :]).max() == 0  # what it says is silent is
    clip = write_footage(tmp_path / "scene.mp4", 25, 20.0)
    result = engine.export([ExportClip(clip, 0.0, 20.0, track=str(drone))], path=tmp_path / "cut.otio", render=True)
    assert any(note.endswith(" s are silent") for note in result.notes), result.notes


def test_an_export_with_render_puts_the_fitted_music_under_the_clip(library, tmp_path):
    import opentimelineio as otio

    engine, loop, root = library
    clip = write_footage(tmp_path / "scene.mp4", 25, 60.0)  # longer than the 40 s track
    result = engine.export(
        [ExportClip(clip, 2.0, 58.0, track=str(loop), music_start=4.0)], path=tmp_path / "cut.otio", render=True
    )
    (cue,) = result.cues
    wav = tmp_path / "cut music" / Path(cue.music).name
    assert Path(cue.music) == wav and wav.suffix == ".wav" and cue.music_start == 0.0
    assert cue.music_end == pytest.approx(56.0)  # fitted: the music lasts the whole clip
    assert any("fitted to scene.mp4" in note for note in result.notes)
    assert not any("before the clip from" in note for note in result.notes)
    timeline = otio.adapters.read_from_file(result.path)
    (tune,) = timeline.audio_tracks()[0].find_clips()
    assert tune.source_range.duration.to_seconds() == pytest.approx(56.0) and len(tune.markers) > 20
    samples, rate = read_wav(wav)
    assert len(samples) >= 56.0 * rate


def test_the_cli_exports_fitted_music(library, tmp_path, capsys):
    engine, loop, _ = library
    clip = write_footage(tmp_path / "scene.mp4", Fraction(30000, 1001), 12.0, sound=True)
    out = tmp_path / "cut.fcpxml"
    args = ["--data-dir", str(engine.data_dir), "export", str(clip), str(out), "--track", str(loop)]
    assert main([*args, "--render", "--loudness", "-23", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (cue,) = report["clips"]
    assert cue["music"].endswith(".wav") and Path(cue["music"]).parent == tmp_path / "cut music"
    assert any("-23.0 LUFS" in note for note in report["notes"])


# ---- ducking under the clip's dialogue -------------------------------------------------------------------------

SPEECH_AT = ((2.0, "The bride and groom met on a rainy Tuesday."), (8.0, "Nobody expected the cake to fall."))


@pytest.fixture(scope="module")
def interview(tmp_path_factory):
    """A 14 s clip whose soundtrack is room tone with two sentences spoken by espeak-ng at known times."""
    import subprocess

    from media import write_music_video

    root = tmp_path_factory.mktemp("interview")
    rate = 22050
    rng = np.random.default_rng(7)
    sound = (0.003 * rng.standard_normal(14 * rate)).astype(np.float32)  # room tone
    spoken = []
    for at, text in SPEECH_AT:
        wav = root / f"{at}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        voice, voice_rate = read_wav(wav)
        assert voice_rate == rate
        voice = voice[:, 0]
        nonzero = np.flatnonzero(np.abs(voice) > 0.01)
        voice = voice[nonzero[0] : nonzero[-1]]
        start = round(at * rate)
        sound[start : start + len(voice)] += 0.5 * voice
        spoken.append((at, at + len(voice) / rate))
    frames = np.full((14 * 25, 36, 64, 3), 90, np.uint8)
    return write_music_video(root / "interview.mp4", frames, 25, sound, rate), spoken


def rms_db(samples: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(samples.astype(np.float64) ** 2)) + 1e-12)


def test_the_music_ducks_under_the_clips_speech_and_nowhere_else(library, interview, tmp_path):
    engine, loop, _ = library
    clip, spoken = interview
    plain = engine.reedit(loop, length=14.0, out=tmp_path / "plain.wav", loudness=-18)
    ducked = engine.reedit(loop, length=14.0, out=tmp_path / "ducked.wav", loudness=-18, duck=clip)
    found = ducked.ducking.speech
    assert len(found) == len(spoken)
    for (a, b), (x, y) in zip(found, spoken):
        assert abs(a - x) < 0.3 and abs(b - y) < 0.4  # the detector finds the sentences where they are
    rate = ducked.rate
    for a, b in spoken:  # under speech, at least 6 dB down (the default is 10)
        inside = slice(round((a + 0.3) * rate), round((b - 0.3) * rate))
        assert rms_db(plain.samples[inside]) - rms_db(ducked.samples[inside]) >= 6.0
    ramps = [(a - 0.5, b + 1.0) for a, b in spoken]
    clear = [(0.0, ramps[0][0]), (ramps[0][1], ramps[1][0]), (ramps[1][1], 14.0)]
    for a, b in clear:  # elsewhere within 1 dB (exactly as it was, in fact)
        outside = slice(round(a * rate), round(b * rate))
        assert abs(rms_db(plain.samples[outside]) - rms_db(ducked.samples[outside])) <= 1.0


def test_a_clip_without_speech_leaves_the_music_as_it_was(library, tmp_path):
    engine, loop, _ = library
    silent = write_footage(tmp_path / "drone.mp4", 25, 8.0, sound=True)  # a steady tone, no voice
    plain = engine.reedit(loop, length=8.0, out=tmp_path / "a.wav", loudness=None)
    ducked = engine.reedit(loop, length=8.0, out=tmp_path / "b.wav", loudness=None, duck=silent)
    assert ducked.ducking.speech == [] and np.array_equal(plain.samples, ducked.samples)


def test_ducking_without_render_is_volume_keyframes_in_fcpxml(library, interview, tmp_path):
    import xml.etree.ElementTree as ET

    engine, loop, _ = library
    clip, spoken = interview
    edit = [ExportClip(clip, 0.0, 14.0, track=str(loop), music_start=0.0, fit=False)]
    result = engine.export(edit, path=tmp_path / "cut.fcpxml", duck=True)
    root = ET.fromstring(Path(result.path).read_text().split("\n", 2)[2])
    music = root.find(".//spine/asset-clip/asset-clip")
    start = Fraction(music.get("start").removesuffix("s"))
    keys = [
        (float(Fraction(k.get("time").removesuffix("s")) - start), float(k.get("value").removesuffix("dB")))
        for k in music.iterfind("adjust-volume/param/keyframeAnimation/keyframe")
    ]
    assert len(keys) == 4 * len(spoken)
    for (a, b), i in zip(spoken, range(0, len(keys), 4)):
        (up, zero), (down, low), (stay, low2), (back, zero2) = keys[i : i + 4]
        assert zero == zero2 == 0 and low == low2 == -10
        assert abs(down - a) < 0.3 and abs(stay - b) < 0.4 and up < down < stay < back
    # FCP 7 XML: the same keyframes as an Audio Levels filter, linear gain, counted like <in> (the file's frames).
    fcp7 = engine.export(edit, path=tmp_path / "cut.xml", duck=True)
    root = ET.fromstring(Path(fcp7.path).read_text().split("\n", 2)[2])
    (item,) = [c for c in root.iter("clipitem") if c.find("filter/effect[effectid='audiolevels']") is not None]
    music_file = next(f.get("id") for f in root.iter("file") if f.findtext("name") == loop.name)
    assert item.find("file").get("id") == music_file
    first, fps = int(item.findtext("in")), int(item.findtext("rate/timebase"))
    levels = [
        ((int(k.findtext("when")) - first) / fps, 20 * math.log10(float(k.findtext("value"))))
        for k in item.iterfind("filter/effect/parameter/keyframe")
    ]
    assert len(levels) == len(keys)
    for (at, db), (at_x, db_x) in zip(levels, keys):
        assert abs(at - at_x) <= 1 / fps + 1e-6 and abs(db - db_x) < 0.01
    assert not any("ducking" in note for note in fcp7.notes)
    read_back = otio.adapters.read_from_file(fcp7.path, "fcp_xml")
    assert len(read_back.find_clips()) == 3  # the picture, its sound and the music: the filter reads too
    # The same cue twice: the adapter writes the second clip item as a reference to the first, filter and all.
    twice = engine.export(edit * 2, path=tmp_path / "twice.xml", duck=True)
    root = ET.fromstring(Path(twice.path).read_text().split("\n", 2)[2])
    assert len(root.findall(".//clipitem/filter/effect[effectid='audiolevels']")) >= 1
    assert len(otio.adapters.read_from_file(twice.path, "fcp_xml").find_clips()) == 6


def test_a_length_under_a_bar_is_a_plain_cut_with_a_fade(library, tmp_path):
    engine, loop, _ = library
    edit = engine.reedit(loop, length=0.8, out=tmp_path / "sting.wav", loudness=None)
    samples, rate = read_wav(tmp_path / "sting.wav")
    assert len(samples) == round(0.8 * rate) and not edit.plan.joins and edit.plan.ending == "fade"
    assert np.abs(samples[-10:]).max() < 1e-3  # faded to silence at the cut


@pytest.mark.parametrize("length", [0.04, 0.3])
def test_music_for_a_clip_of_a_few_frames_is_levelled_too(library, tmp_path, length):
    """A few frames cut in: shorter than the loudness meter's 400 ms block, which failed the whole export
    with the meter's own words. It is measured played over and over, and levelled to the target."""
    engine, loop, _ = library
    quiet = tmp_path / "quiet.wav"
    edit = engine.reedit(loop, length=length, start=8.0, out=tmp_path / "flash.wav", loudness=-14.0)
    engine.reedit(loop, length=length, start=8.0, out=quiet, loudness=-30.0)
    samples, rate = read_wav(tmp_path / "flash.wav")
    assert len(samples) == round(length * rate) and abs(edit.level.loudness + 14.0) <= 0.5
    assert edit.level.true_peak_db <= -1.0 + 0.05
    rms = [float(np.sqrt(np.mean(read_wav(p)[0] ** 2))) for p in (tmp_path / "flash.wav", quiet)]
    assert 20 * math.log10(rms[0] / rms[1]) == pytest.approx(16.0, abs=1.0)  # 16 dB apart, as asked


def test_a_render_that_fills_the_disk_is_one_clear_error_and_keeps_the_old_file(small_disk):
    old = write_wav(np.zeros((48000, 2), np.float32), 48000, small_disk / "cue.wav").read_bytes()
    with pytest.raises(ExportError, match=r"cannot write .*cue\.wav: the disk is full"):
        write_wav(np.zeros((480000, 2), np.float32), 48000, small_disk / "cue.wav")  # 2.9 MB on 1 MiB
    assert (small_disk / "cue.wav").read_bytes() == old
    assert sorted(p.name for p in small_disk.iterdir()) == ["cue.wav"]
