"""A tempo set by a person where the scan read another: at a metrical level of the measured one the measured
beats counted at it, at any other the beats followed again from the file; and the one tempo shown, filtered on
and fitted to everywhere (engine `set_tempo`, `library tempo`, the API's PUT)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from desktop_support import copy_data
from engine.facade import Engine
from engine.media.beats import BEATS_PER_BAR, Beats, at_tempo, heard_until, music_start, tempo_ratio
from engine.recommend import QueryError


def _grid(bpm: float = 144.0, seconds: float = 30.0, first_bar: int = 1) -> Beats:
    times = np.arange(0.2, seconds, 60 / bpm)
    return Beats(times, times[first_bar::BEATS_PER_BAR], bpm, fade_at=25.0)


def test_a_tempo_is_a_metrical_level_of_the_measured_one_within_four_percent():
    assert tempo_ratio(72, 144) == Fraction(1, 2)
    assert tempo_ratio(92, 190) == Fraction(1, 2)  # 3 % from the half: a written tempo the scan read doubled
    assert tempo_ratio(96, 144) == Fraction(2, 3) and tempo_ratio(216, 144) == Fraction(3, 2)
    assert tempo_ratio(140, 144) == 1
    assert tempo_ratio(100, 144) is None and tempo_ratio(60, 144) is None  # 0.69 and 0.42: no beat follows
    assert tempo_ratio(72, 0) is None and tempo_ratio(float("nan"), 144) is None


def test_at_half_the_tempo_every_other_beat_is_kept_and_bars_start_on_measured_downbeats():
    measured = _grid(first_bar=1)
    half = at_tempo(measured, 72.0)
    assert half.bpm == 72.0 and half.fade_at == measured.fade_at
    assert np.allclose(np.diff(half.times), 2 * 60 / 144)
    # The kept beats are those the measured bars start on (odd ones here), not the ones between.
    assert set(np.round(measured.downbeats, 6)) <= set(np.round(half.times, 6))
    assert np.allclose(np.diff(half.downbeats), 4 * 2 * 60 / 144)  # a bar: four of the new beats
    assert half.downbeats[0] == pytest.approx(measured.downbeats[0])
    assert set(np.round(half.downbeats, 6)) <= set(np.round(half.times, 6))


def test_at_double_the_tempo_a_beat_falls_between_each_two_and_bars_halve():
    measured = _grid()
    double = at_tempo(measured, 288.0)
    assert len(double.times) == 2 * len(measured.times) - 1
    assert np.allclose(np.diff(double.times), 60 / 288)
    assert set(np.round(measured.times, 6)) <= set(np.round(double.times, 6))
    assert np.allclose(np.diff(double.downbeats), 2 * 60 / 144)
    assert set(np.round(measured.downbeats, 6)) <= set(np.round(double.downbeats, 6))


def test_at_three_halves_or_two_thirds_the_beats_keep_the_pulse_and_bars_meet_the_measured_ones():
    measured = _grid(first_bar=2)
    for bpm in (216.0, 96.0):
        beats = at_tempo(measured, bpm)
        assert np.allclose(np.diff(beats.times), 60 / bpm)
        assert np.isin(np.round(beats.times, 6), np.round(measured.downbeats, 6)).sum() >= 5  # the same pulse
        assert np.allclose(np.diff(beats.downbeats), 4 * 60 / bpm)  # bars of four of the new beats
        assert np.isin(np.round(beats.downbeats, 6), np.round(measured.downbeats, 6)).any()


def test_at_another_tempo_the_music_starts_and_ends_where_it_was_heard():
    measured = _grid(first_bar=1)  # the bars start on the second beat: a half keeps the odd ones
    for bpm in (72.0, 36.0, 288.0, 96.0):
        beats = at_tempo(measured, bpm)
        assert music_start(beats) == music_start(measured) == measured.times[0]
        assert heard_until(beats) == heard_until(measured)


def test_a_tempo_at_no_metrical_level_only_renames_the_grid():
    measured = _grid()
    same = at_tempo(measured, 141.0)
    assert same.bpm == 141.0 and np.array_equal(same.times, measured.times)
    assert np.array_equal(at_tempo(measured, 100.0).times, measured.times)


@pytest.fixture
def engine(scanned, tmp_path, bundle):
    """An engine on a copy of the desktop tests' library (five rendered tracks of known tempo)."""
    found = Engine(copy_data(scanned, tmp_path / "data"), bundle=bundle)
    yield found
    found.close()


def _steady(engine: Engine):
    """The track whose tempo the scan read within 4 % of the written 140: the techno render."""
    track = next(t for t in engine.tracks() if t.display.endswith("techno.mp3"))
    assert track.bpm == pytest.approx(140, rel=0.04) and not track.bpm_set
    return track


def test_a_tempo_set_is_the_one_shown_filtered_on_fitted_to_and_counted_in_the_beats(engine):
    track = _steady(engine)
    measured_beats = engine.beats(track.id)
    halved = engine.set_tempo(track.id, times=Fraction(1, 2))
    assert halved.bpm == pytest.approx(track.bpm / 2, abs=0.05) and halved.bpm_set
    assert halved.bpm_measured == track.bpm
    listed = next(t for t in engine.tracks() if t.id == track.id)
    assert (listed.bpm, listed.bpm_set) == (halved.bpm, True)
    beats = engine.beats(track.id)
    assert beats.bpm == halved.bpm
    assert np.median(np.diff(beats.times)) == pytest.approx(2 * np.median(np.diff(measured_beats.times)), rel=0.02)
    # The index was rebuilt from it: an asked tempo finds it at its own, and the why says who set it.
    asked = engine.recommend(prompt=f"{halved.bpm:.0f} bpm", k=5)
    found = next(r for r in asked.results if r.track_id == track.id)
    assert found.bpm == halved.bpm and found.bpm_set
    assert f"{halved.bpm:.0f} BPM ({halved.bpm:.0f} BPM" in found.why and "tempo set by you" in found.why
    assert engine._library.index_is_current()
    # Fits and re-edits count bars of the new beats.
    fit = engine.fit(track.id, start=8.0, length=6.0)
    assert fit.on_downbeat and np.min(np.abs(beats.downbeats - fit.start)) < 1e-6
    # Back to the measured tempo.
    back = engine.set_tempo(track.id)
    assert (back.bpm, back.bpm_set) == (track.bpm, False)
    assert np.array_equal(engine.beats(track.id).times, measured_beats.times)
    assert "tempo set by you" not in engine.recommend(prompt=f"{track.bpm:.0f} bpm", k=5).results[0].why


def test_a_tempo_set_is_kept_when_the_track_is_analysed_again(engine):
    track = _steady(engine)
    engine.set_tempo(track.id, 70.0)
    engine.scan(full=True, workers=2)
    again = engine.track(track.id)
    assert (again.bpm, again.bpm_set) == (70.0, True)
    assert engine.beats(track.id).bpm == 70.0


def _own_copy(engine: Engine, folder: Path):
    """The steady track again, in a folder of its own: the rendered tracks are shared by every test of the
    run, and must not change or go."""
    folder.mkdir()
    copy = Path(shutil.copy2(_steady(engine).path, folder / "techno-copy.mp3"))
    engine.add_root(folder)
    engine.scan(workers=2)
    return engine.track(copy)


def test_a_tempo_set_for_a_file_is_dropped_when_the_file_changes(engine, tmp_path):
    track = _own_copy(engine, tmp_path / "own")
    copy = Path(track.path)
    assert engine.set_tempo(track.id, times=Fraction(1, 2)).bpm_set
    later = os.stat(copy).st_mtime_ns + 5_000_000_000
    os.utime(copy, ns=(later, later))  # another bounce of the mix: measured afresh
    engine.scan(workers=2)
    again = engine.track(track.id)
    assert not again.bpm_set and again.bpm == again.bpm_measured


def test_a_tempo_at_no_metrical_level_is_followed_from_the_file_and_kept_with_it(engine, tmp_path):
    track = _own_copy(engine, tmp_path / "own")
    measured = engine.beats(track.id)
    moved = engine.set_tempo(track.id, 100.0)  # 0.71 of the measured 140: none of its levels
    assert (moved.bpm, moved.bpm_set, moved.bpm_measured) == (100.0, True, track.bpm)
    followed = engine.beats(track.id)
    # Followed anew, nearer the tempo set than the measured one (this music pulses at neither: the piece
    # that shows beats landing on a tempo the scan missed is below).
    spacing = np.median(np.diff(followed.times))
    assert followed.bpm == 100.0 and abs(spacing - 0.6) < abs(spacing - 60 / track.bpm) - 0.1
    assert set(np.round(followed.downbeats, 6)) <= set(np.round(followed.times, 6))
    assert followed.times[0] < 2 and followed.times[-1] > track.duration - 3  # the whole track, as measured
    assert engine._library.index_is_current()
    # Stored with the tempo: read again with the file gone, nothing is decoded.
    away = Path(shutil.move(track.path, tmp_path / "away.mp3"))
    assert np.array_equal(engine.beats(track.id).times, followed.times)
    # Without the file, another tempo at no level cannot be followed: refused, with what can be set.
    with pytest.raises(
        QueryError, match=r"no metrical level .* cannot be read now .* within 1% of [\d.]+ or of .*\b70\.\d\b"
    ):
        engine.set_tempo(track.id, 120.0)
    assert engine.track(track.id).bpm == 100.0  # nothing changed by the refusal
    # A level of the measured tempo needs no file.
    assert engine.set_tempo(track.id, track.bpm / 2).bpm == pytest.approx(track.bpm / 2, abs=0.05)
    shutil.move(away, track.path)
    back = engine.set_tempo(track.id)
    assert not back.bpm_set and np.array_equal(engine.beats(track.id).times, measured.times)


def test_beats_followed_at_a_set_tempo_are_followed_again_after_a_new_analysis(engine):
    track = _steady(engine)
    engine.set_tempo(track.id, 100.0)
    followed = engine.beats(track.id)
    engine.scan(full=True, workers=2)  # the analysis its beats were followed on is replaced
    assert engine._library.catalog.beats_at_set_tempo(track.id) is None
    again = engine.beats(track.id)  # followed again, once, and stored
    assert again.bpm == 100.0 and np.allclose(again.times, followed.times, atol=0.01)
    assert engine._library.catalog.beats_at_set_tempo(track.id) is not None


def test_a_set_tempo_whose_file_is_away_after_a_new_analysis_still_counts_at_it(engine):
    track = _steady(engine)
    engine.set_tempo(track.id, 100.0)
    with engine._library.catalog.transaction() as conn:  # as a full scan leaves them, the drive then unplugged
        conn.execute("DELETE FROM beats_set")
        conn.execute("UPDATE tracks SET path = CAST('/nowhere/techno.mp3' AS BLOB) WHERE id = ?", (track.id,))
    beats = engine.beats(track.id)
    assert beats.bpm == 100.0 and len(beats.times)  # the set tempo, on the measured beats until the file is back


def test_a_tempo_out_of_range_or_asked_twice_is_refused(engine):
    track = _steady(engine)
    with pytest.raises(QueryError, match="between 20 and 300 BPM"):
        engine.set_tempo(track.id, 560.0)
    with pytest.raises(QueryError, match="not both"):
        engine.set_tempo(track.id, 70.0, times=Fraction(1, 2))
    with pytest.raises(QueryError, match="positive"):
        engine.set_tempo(track.id, times=Fraction(0))
    assert not engine.track(track.id).bpm_set  # nothing was set by a refusal


def test_a_track_with_no_steady_beat_has_no_tempo_to_set(engine):
    track = _steady(engine)
    with engine._library.catalog.transaction() as conn:  # as the scan stores a drone's
        conn.execute("UPDATE tracks SET tempo_bpm = NULL WHERE id = ?", (track.id,))
        conn.execute("UPDATE beats SET bpm = 0, times = x'', downbeats = x'' WHERE track_id = ?", (track.id,))
    with pytest.raises(QueryError, match="no steady beat"):
        engine.set_tempo(track.id, times=Fraction(1, 2))
    # A tempo set before a later analysis heard no beat can still be taken back.
    with engine._library.catalog.transaction() as conn:
        conn.execute("UPDATE tracks SET tempo_set = 70 WHERE id = ?", (track.id,))
    assert engine.track(track.id).bpm_set
    assert not engine.set_tempo(track.id).bpm_set


def _cli(data, *args):
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "--data-dir", str(data), "library", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def test_library_tempo_sets_shows_and_resets_a_tempo(scanned, tmp_path):
    data = copy_data(scanned, tmp_path / "data")
    listed = json.loads(_cli(data, "list", "--json").stdout)
    techno = next(t for t in listed if t["display"].endswith("techno.mp3"))
    halved = _cli(data, "tempo", str(techno["id"]), "--times", "1/2")
    assert halved.returncode == 0, halved.stderr
    half = techno["bpm"] / 2
    assert f"{half:.1f} BPM  (tempo set by you; measured {techno['bpm']:.0f})" in halved.stdout
    assert "(tempo set by you" in next(line for line in _cli(data, "list").stdout.splitlines() if "Techno" in line)
    followed = _cli(data, "tempo", str(techno["id"]), "100", "--json")  # no level of it: followed from the file
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout)["bpm"] == 100.0
    assert _cli(data, "tempo", str(techno["id"]), "400").returncode != 0
    assert _cli(data, "tempo", str(techno["id"]), f"{half:.2f}").returncode == 0
    shown = json.loads(_cli(data, "tempo", str(techno["id"]), "--json").stdout)
    assert shown["bpm_set"] and shown["bpm"] == pytest.approx(half, abs=0.05)
    back = json.loads(_cli(data, "tempo", str(techno["id"]), "--measured", "--json").stdout)
    assert not back["bpm_set"] and back["bpm"] == techno["bpm"]
    assert _cli(data, "tempo", str(techno["id"]), "--times", "x").returncode == 2


def _f_measure(placed: np.ndarray, written: np.ndarray, within: float = 0.07) -> float:
    """Beats placed within `within` seconds of a written one, one to one (as MIREX counts beat tracking)."""
    hits, used = 0, set()
    for t in placed:
        nearest = int(np.argmin(np.abs(written - t)))
        if abs(written[nearest] - t) <= within and nearest not in used:
            used.add(nearest)
            hits += 1
    return 2 * hits / (len(placed) + len(written)) if hits else 0.0


def test_a_slow_piece_the_scan_misreads_is_counted_on_its_written_beats_once_its_tempo_is_set(tmp_path, bundle):
    # The demo's string piece, written at 66: its held pads and a melody on every beat read near 140, and the
    # half of that, 70, is 6 % off: a grid no level of the measured one gives.
    from training.bootstrap import demo
    from training.bootstrap.render import soundfont

    piece = next(p for p in demo.PIECES if p.name.startswith("Letters Home"))
    music = tmp_path / "music"
    music.mkdir()
    demo.render(piece, music / "letters.opus", soundfont())
    engine = Engine(tmp_path / "data", bundle=bundle)
    try:
        engine.add_root(music)
        engine.scan(workers=1)
        (track,) = engine.tracks()
        measured = engine.beats(track.id)
        assert tempo_ratio(66, measured.bpm) is None, f"the scan now reads {measured.bpm:.1f}: pick a piece it misreads"
        written = np.arange(0, track.duration, 60 / piece.bpm)
        written = written[written <= measured.times[-1] + 1]
        bars = written[::BEATS_PER_BAR]
        halved = at_tempo(measured, measured.bpm / 2)  # what the nearest level would count
        engine.set_tempo(track.id, 66)
        beats = engine.beats(track.id)
        assert _f_measure(beats.times, written) >= 0.85 > 0.6 > _f_measure(halved.times, written)
        on_bar = np.mean([np.min(np.abs(bars - t)) <= 0.07 for t in beats.downbeats])
        assert on_bar >= 0.8  # an in point on a downbeat starts a bar the piece starts
        fit = engine.fit(track.id, start=30.0, length=15.0)
        assert fit.on_downbeat and np.min(np.abs(bars - fit.start)) <= 0.07
        # Tapped a little fast, 3 % from the half of the measured tempo: still followed, not that level.
        engine.set_tempo(track.id, 67.7)
        assert _f_measure(engine.beats(track.id).times, written) >= 0.85
        assert engine._library.catalog.beats_at_set_tempo(track.id) is not None
        # The half of the measured tempo (the menu's "Half" from it) is that level, counted from its beats.
        engine.set_tempo(track.id, measured.bpm / 2)
        assert engine._library.catalog.beats_at_set_tempo(track.id) is None
        assert np.allclose(engine.beats(track.id).times, halved.times)
    finally:
        engine.close()
