"""A tempo set by a person where the scan read another metrical level: the beats counted at it, and the one
tempo shown, filtered on and fitted to everywhere (engine `set_tempo`, `library tempo`, the API's PUT)."""

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


def test_a_tempo_set_for_a_file_is_dropped_when_the_file_changes(engine, tmp_path):
    # A copy of its own: the rendered tracks are shared by every test of the run, and must not change.
    own = tmp_path / "own"
    own.mkdir()
    copy = Path(shutil.copy2(_steady(engine).path, own / "techno-copy.mp3"))
    engine.add_root(own)
    engine.scan(workers=2)
    track = engine.track(copy)
    assert engine.set_tempo(track.id, times=Fraction(1, 2)).bpm_set
    later = os.stat(copy).st_mtime_ns + 5_000_000_000
    os.utime(copy, ns=(later, later))  # another bounce of the mix: measured afresh
    engine.scan(workers=2)
    again = engine.track(track.id)
    assert not again.bpm_set and again.bpm == again.bpm_measured


def test_a_tempo_no_beat_could_follow_is_refused_with_the_levels_it_could_take(engine):
    track = _steady(engine)
    with pytest.raises(QueryError, match=r"no metrical level .* within 4 % of \d+ or of .*\b70\b"):
        engine.set_tempo(track.id, 100.0)
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
    refused = _cli(data, "tempo", str(techno["id"]), "100")
    assert refused.returncode != 0 and "no metrical level" in refused.stderr
    shown = json.loads(_cli(data, "tempo", str(techno["id"]), "--json").stdout)
    assert shown["bpm_set"] and shown["bpm"] == pytest.approx(half, abs=0.05)
    back = json.loads(_cli(data, "tempo", str(techno["id"]), "--measured", "--json").stdout)
    assert not back["bpm_set"] and back["bpm"] == techno["bpm"]
    assert _cli(data, "tempo", str(techno["id"]), "--times", "x").returncode == 2
