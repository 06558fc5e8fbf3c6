"""Segments that fit the clip: under a 15 s clip no result starts where the music runs out, the start is a
stored downbeat, and the start a recommendation returns is the one the export writes and the app plays."""

import numpy as np
import opentimelineio as otio
import pytest

from engine.facade import Engine
from engine.media.beats import TAIL_SECONDS, heard_until, music_end
from engine.records import ExportClip
from media import MIDI_RATE, midi_samples, render_midi, write_audio, write_video

CLIP = 15.0
FPS = 25
# The outro is what the clip and prompt ask for: a soft piano for 24 s, then 12 s of drums, bass and a lead
# at the same tempo (24 s is 12 bars at 120 BPM), so the best segment of that track is its last.
OUTRO_AT = 24.0


def busy_frames(seconds: float) -> np.ndarray:
    """A box racing across a field that cuts to its negative several times a second: a fast, busy clip."""
    out = np.zeros((int(seconds * FPS), 72, 128, 3), np.uint8)
    for i in range(len(out)):
        t = i / FPS
        out[i] = (230, 60, 30) if int(t * 3) % 2 == 0 else (25, 195, 225)
        x = int((t * 3 * 128) % 96)
        out[i, 20:52, x : x + 32] = 255
    return out


@pytest.fixture(scope="module")
def setup(bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("placement")
    music = root / "music"
    music.mkdir()
    calm = midi_samples(bpm=120, program=0, melody=[60, 64, 67, 64], velocity=45, seconds=OUTRO_AT)
    loud = midi_samples(bpm=120, program=81, melody=[57, 64], beats_per_note=0.5, drums=True, bass=True, seconds=12)
    write_audio(music / "outro.flac", np.concatenate([calm, loud]), MIDI_RATE, {"title": "Outro", "artist": "Di"})
    render_midi(music / "drive.flac", bpm=128, program=30, melody=[52, 55, 57], drums=True, bass=True, seconds=40)
    render_midi(music / "strings.flac", bpm=72, program=45, melody=[55, 59, 62, 67], seconds=30)
    render_midi(music / "short.flac", bpm=100, program=0, melody=[60, 62, 64], drums=True, seconds=10)
    engine = Engine(root / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=2)
    clip = write_video(root / "busy.mp4", busy_frames(CLIP), FPS)
    return engine, music, clip


def fast_query(engine: Engine, clip) -> list:
    return engine.recommend(clip, prompt="energetic electronic dance music with drums", k=10).results


def test_no_result_starts_where_the_music_runs_out_before_the_clip_ends(setup, monkeypatch):
    engine, music, clip = setup
    results = fast_query(engine, clip)
    assert len(results) == 4
    with monkeypatch.context() as m:  # the best segments as the search found them, before placing
        m.setattr(engine.recommender, "placed", lambda found, length: found)
        raw = {r.track_id: r for r in fast_query(engine, clip)}
    outro = engine.track(music / "outro.flac")
    assert raw[outro.id].start >= OUTRO_AT - 1e-3  # the best part is the outro: from there the music runs out ...
    assert raw[outro.id].start + CLIP > outro.duration
    for r in results:
        if r.duration < CLIP:  # ... which cannot happen to a track shorter than the clip: it starts at 0
            heard = heard_until(engine.beats(r.track_id))  # and says what its ring-out leaves without music too
            assert (r.start, r.end) == (0.0, r.duration) and r.short_by == pytest.approx(CLIP - heard, abs=0.05)
            assert r.short_by > CLIP - r.duration
            continue
        assert r.short_by == 0 and r.end == pytest.approx(r.start + CLIP)
        assert r.end <= r.duration - TAIL_SECONDS  # the music lasts the whole clip
        downbeats = engine.beats(r.track_id).downbeats
        assert len(downbeats) and np.abs(downbeats - r.start).min() < 1e-6  # on a stored downbeat
    placed = next(r for r in results if r.track_id == outro.id)
    latest = music_end(engine.beats(outro.id), outro.duration) - CLIP
    assert latest - 4 * 2.0 <= placed.start <= latest  # as near the outro as it lasts: within 4 bars (120 BPM)


def test_the_exported_start_is_the_recommended_one(setup, tmp_path):
    engine, music, clip = setup
    frame = 1 / FPS
    for r in fast_query(engine, clip):
        for fit in (True, False):  # fitting a placed start leaves it where it is
            path = tmp_path / f"{r.track_id}-{fit}.otio"
            result = engine.export(
                [ExportClip(clip, 0.0, None, track=r.track_id, music_start=r.start, fit=fit)], path=path
            )
            assert result.cues[0].music_start == pytest.approx(r.start, abs=1e-3)
            tune = otio.adapters.read_from_file(str(path)).audio_tracks()[0].find_clips()[0]
            assert tune.source_range.start_time.to_seconds() == pytest.approx(r.start, abs=frame / 2 + 1e-9)
            heard = tune.source_range.duration.to_seconds()
            if r.short_by:  # the note gives what the result said: where the music, not the file, ends
                assert heard == pytest.approx(min(CLIP, r.duration - r.start), abs=frame)
                assert any(f"ends {r.short_by:.1f} s before the clip from" in n for n in result.notes), result.notes
            else:
                assert not result.notes and heard == pytest.approx(CLIP, abs=frame)


def test_music_followed_by_silence_starts_at_its_top_and_the_export_says_where_it_ends(bundle, tmp_path):
    """A file longer than the clip whose music is not: 8 s of a band, then 14 s of digital silence. Its
    best part would otherwise be placed so that the clip ends with the file, half of it in the silence."""
    music = tmp_path / "music"
    music.mkdir()
    band = midi_samples(bpm=120, program=81, melody=[57, 64], beats_per_note=0.5, drums=True, bass=True, seconds=8)
    write_audio(music / "tail.flac", np.concatenate([band, np.zeros(14 * MIDI_RATE, np.float32)]), MIDI_RATE)
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    clip = write_video(tmp_path / "busy.mp4", busy_frames(CLIP), FPS)
    (r,) = engine.recommend(clip, prompt="energetic music with drums", k=1).results
    assert r.duration > CLIP + TAIL_SECONDS
    assert r.start == engine.beats(r.track_id).times[0] and r.start < 0.5  # from the top of the music
    assert r.short_by == pytest.approx(CLIP + r.start - 8.0, abs=0.6)  # the music stops at about 8 s
    for fit in (True, False):  # the app exports the start it previewed as it is (fit=False)
        cue = ExportClip(clip, 0.0, None, track=r.track_id, music_start=r.start, fit=fit)
        result = engine.export([cue], path=tmp_path / f"e-{fit}.otio")
        assert result.cues[0].music_start == pytest.approx(r.start, abs=1e-3)
        assert any(f"ends {r.short_by:.1f} s before the clip from" in note for note in result.notes), result.notes


def test_the_app_previews_and_exports_the_recommended_start(setup, qtbot, tmp_path):
    from desktop.session import Session

    engine, music, clip = setup
    session = Session(tmp_path / "app-data")
    session.engine = engine
    outro = engine.track(music / "outro.flac")
    result = next(r for r in fast_query(engine, clip) if r.track_id == outro.id)
    chosen = Session.choose(result)  # what the clip keeps, and the start the preview plays
    assert chosen["start"] == result.start
    written = []
    target = tmp_path / "edit.otio"
    session.export(
        [{"path": str(clip), "clip_in": 0.0, "clip_out": CLIP, "chosen": chosen}], str(target), written.append
    )
    qtbot.waitUntil(lambda: bool(written), timeout=30_000)
    tune = otio.adapters.read_from_file(str(target)).audio_tracks()[0].find_clips()[0]
    assert tune.source_range.start_time.to_seconds() == pytest.approx(result.start, abs=0.5 / FPS + 1e-9)
    dragged = dict(chosen, start=result.start + 1.234)  # where the user dragged it: exported as heard, not moved
    written.clear()
    session.export(
        [{"path": str(clip), "clip_in": 0.0, "clip_out": CLIP, "chosen": dragged}], str(target), written.append
    )
    qtbot.waitUntil(lambda: bool(written), timeout=30_000)
    tune = otio.adapters.read_from_file(str(target)).audio_tracks()[0].find_clips()[0]
    assert tune.source_range.start_time.to_seconds() == pytest.approx(dragged["start"], abs=0.5 / FPS + 1e-9)


def test_without_a_clip_no_start_falls_in_the_silence_before_the_music(bundle, tmp_path):
    """30 s of digital silence, then a band: the segment 24-36 s is indexed for its last 6 s of music, and a
    prompt alone offered its start, 6 s of silence before the needle drop."""
    from dataclasses import replace

    from engine.recommend.placement import LEAD_IN, placed

    music = tmp_path / "music"
    music.mkdir()
    band = midi_samples(bpm=120, program=81, melody=[57, 64], beats_per_note=0.5, drums=True, bass=True, seconds=30)
    write_audio(music / "late.flac", np.concatenate([np.zeros(30 * MIDI_RATE, np.float32), band]), MIDI_RATE)
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    beats = engine.beats(engine.track(music / "late.flac").id)
    assert beats.times[0] == pytest.approx(30.0, abs=0.6)
    for r in engine.recommend(prompt="energetic music with drums", k=1).results:
        assert r.start >= beats.times[0] - LEAD_IN, r
    (r,) = engine.recommend(prompt="energetic music with drums", k=1).results
    (moved,) = placed([replace(r, start=24.0, end=36.0)], engine.beats, None, 12.0)
    assert moved.start in set(beats.downbeats.tolist()) and beats.times[0] <= moved.start < beats.times[0] + 4.0
    assert moved.end - moved.start == pytest.approx(12.0)
    # Exported from where the editor put it, in the silence, the export says what the clip will hear.
    clip = write_video(tmp_path / "busy.mp4", busy_frames(CLIP), FPS)
    for start, said in ((5.0, "late.flac has no beat under the clip from busy.mp4"), (20.0, "comes 10.0 s into")):
        cue = ExportClip(clip, 0.0, None, track=r.track_id, music_start=start, fit=False)
        notes = engine.export([cue], path=tmp_path / "late.otio").notes
        assert any(said in n for n in notes), notes
    fitted = engine.export([ExportClip(clip, 0.0, None, track=r.track_id, music_start=5.0)], path=tmp_path / "f.otio")
    assert fitted.cues[0].music_start >= beats.times[0] - LEAD_IN
    assert not any("into the clip" in n or "no beat under" in n for n in fitted.notes), fitted.notes
    assert any(
        n.startswith("late.flac starts at 0:") and "not 0:05.0: its first beat comes after that" in n
        for n in fitted.notes
    ), fitted.notes


def test_without_a_clip_no_start_leaves_less_than_a_cue(setup):
    engine, music, _ = setup
    for r in engine.recommend(prompt="energetic electronic dance music with drums", k=10).results:
        if r.duration >= 15.0 + TAIL_SECONDS:
            assert r.start + 15.0 <= r.duration - TAIL_SECONDS
        else:
            assert r.start == 0.0
        assert r.short_by == 0


def test_more_like_this_for_a_clip_fits_it(setup):
    engine, music, _ = setup
    outro = engine.track(music / "outro.flac")
    rec = engine.similar(outro.id, start=OUTRO_AT, length=CLIP)
    assert rec.results
    for r in rec.results:
        assert r.short_by > 0 if r.duration < CLIP else r.end <= r.duration - TAIL_SECONDS
