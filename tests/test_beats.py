"""Beats, downbeats and fit-to-length on signals whose beats are known."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.media import dsp
from engine.media.beats import TAIL_SECONDS, Beats, fit_to_length, music_end, track_beats
from media import render_midi

SR = 16000


def clicks(bpm: float, seconds: float = 30.0, first: float = 0.3137) -> tuple[np.ndarray, np.ndarray]:
    """Decaying tone bursts on every beat, the first of each bar louder and higher: (samples, beat times)."""
    times = np.arange(first, seconds - 0.1, 60.0 / bpm)
    wave = np.random.default_rng(0).normal(0, 0.002, int(seconds * SR)).astype(np.float32)
    n = int(0.03 * SR)
    decay = np.exp(-np.arange(n) / (0.005 * SR))
    for i, t in enumerate(times):
        bar = i % 4 == 0
        start = int(round(t * SR))
        wave[start : start + n] += (
            (1.0 if bar else 0.5) * np.sin(2 * np.pi * (1000 if bar else 700) * np.arange(n) / SR) * decay
        )
    return wave, times


@pytest.mark.parametrize("bpm", [90, 120, 137])
def test_beats_of_clicks_are_within_a_few_milliseconds(bpm):
    wave, truth = clicks(bpm)
    beats = track_beats(dsp.analyse(wave, SR))
    assert beats.bpm == pytest.approx(bpm, rel=0.01)
    assert len(beats.times) == len(truth)
    error = np.abs(beats.times[:, None] - truth[None, :]).min(axis=1)
    assert error.max() < 0.005


@pytest.fixture(scope="module")
def rendered(bundle, tmp_path_factory):
    """General MIDI tracks (FluidSynth) whose bars start every 4 beats from 0 s, bass notes changing on the
    bar: {bpm: (the scan's beats, duration, path, beats placed without the beat tracker)}."""
    from engine.features import FeatureExtractor

    folder = tmp_path_factory.mktemp("beats")
    extractor = FeatureExtractor(bundle)
    out = {}
    for bpm, program, drums in [(96, 0, True), (128, 81, True), (100, 25, False)]:
        path = render_midi(
            folder / f"{bpm}.flac",
            bpm=bpm,
            program=program,
            melody=[52, 55, 59, 64, 57, 60],
            drums=drums,
            bass=True,
            seconds=40,
        )
        analysis = extractor.analysis(path)
        onsets = dataclasses.replace(analysis, beats=None, downbeats=None)
        out[bpm] = (track_beats(analysis), analysis.duration, path, track_beats(onsets))
    return out


@pytest.mark.parametrize("tracker", [True, False], ids=["beat tracker", "onset envelope"])
@pytest.mark.parametrize("bpm", [96, 128, 100])
def test_beats_and_downbeats_of_rendered_music(rendered, bpm, tracker):
    beats = rendered[bpm][0 if tracker else 3]
    truth = np.arange(0, 40, 60.0 / bpm)
    assert beats.bpm == pytest.approx(bpm, rel=0.01)
    inner = truth[2:-2]
    error = np.abs(inner[:, None] - beats.times[None, :]).min(axis=1)
    assert error.max() < 0.020 and len(beats.times) >= len(truth) - 4
    bars = truth[::4]
    assert np.abs(beats.downbeats[:, None] - bars[None, :]).min(axis=1).max() < 0.030  # every downbeat on a bar
    if tracker:  # the music starts on its first bar, at 0 s: an in point there is kept
        assert beats.downbeats[0] < 0.030


@pytest.mark.parametrize("length", [7.3, 12.0, 20.5])
@pytest.mark.parametrize("bpm", [96, 128])
def test_fit_to_length_starts_on_a_downbeat_near_the_suggested_start(rendered, bpm, length):
    beats, duration, *_ = rendered[bpm]
    fit = fit_to_length(beats, duration, near=5.0, length=length)
    assert fit.end - fit.start == pytest.approx(length) and fit.short_by == 0
    assert fit.on_downbeat and np.abs(beats.downbeats - fit.start).min() < 1e-9  # a stored downbeat ...
    truth = np.arange(0, 40, 60.0 / bpm)
    assert np.abs(truth[::4] - fit.start).min() < 0.030  # ... that starts a real bar
    bar = 4 * 60.0 / bpm
    assert -4 * bar - 1e-6 <= fit.start - 5.0 <= 2 * bar + 1e-6  # up to 4 bars before, 2 after (the costs)
    assert fit.end <= music_end(beats, duration)
    assert fit_to_length(beats, duration, near=fit.start, length=length) == fit  # a fitted start stays put


@pytest.mark.parametrize("bpm", [96, 128])
def test_fit_prefers_a_phrase_start(rendered, bpm):
    """Bars counted from the first downbeat: a start a bar after an 8-bar phrase's goes back to it."""
    beats, duration, *_ = rendered[bpm]
    phrase = beats.downbeats[8]
    fit = fit_to_length(beats, duration, near=beats.downbeats[9], length=10.0)
    assert fit.start == phrase and fit.phrase_start


@pytest.mark.parametrize("bpm", [96, 128, 100])
def test_an_outro_start_moves_back_until_the_music_lasts_the_clip(rendered, bpm):
    beats, duration, *_ = rendered[bpm]
    latest = music_end(beats, duration) - 15.0
    assert latest <= duration - TAIL_SECONDS - 15.0
    fit = fit_to_length(beats, duration, near=duration - 10.0, length=15.0)  # the last segment: an outro
    bar = 4 * 60.0 / bpm
    assert latest - 4 * bar - 1e-6 <= fit.start <= latest  # as late as the music allows, on a phrase if near
    assert fit.on_downbeat and fit.start in beats.downbeats and fit.short_by == 0
    assert fit_to_length(beats, duration, near=fit.start, length=15.0) == fit


def test_fit_without_beats_keeps_the_suggested_start():
    no_beats = Beats(np.zeros(0), np.zeros(0), 0.0)
    fit = fit_to_length(no_beats, 60.0, near=20.0, length=20.0)
    assert (fit.start, fit.end) == (20.0, 40.0) and not fit.on_downbeat
    late = fit_to_length(no_beats, 60.0, near=50.0, length=20.0)
    assert (late.start, late.end) == (60.0 - TAIL_SECONDS - 20.0, 60.0 - TAIL_SECONDS)  # clamped: the music lasts
    whole = fit_to_length(no_beats, 10.0, near=5.0, length=30.0)
    assert (whole.start, whole.end, whole.short_by) == (0.0, 10.0, 20.0)  # a clip longer than the track gets all
    with pytest.raises(ValueError, match="positive"):
        fit_to_length(no_beats, 10.0, near=0.0, length=0.0)


@pytest.mark.parametrize("fade_at", [None, 21.0])
def test_music_that_ends_before_the_clip_starts_at_its_top_and_says_how_short_it_is(fade_at):
    """A track longer than the clip whose music is not (silence or a long ring-out after it) plays from its
    first beat, so all of its music is under the clip, rather than from where the clip would end with the
    file; and the fit says how much of the clip is left without music."""
    times = np.arange(1.0, 30.0, 0.5)  # 120 BPM from 1 s; the last beat heard at 29.5 s of a 70 s file
    beats = Beats(times, times[2::4], 120.0, fade_at)  # its first bar starts two beats in
    heard = 30.0 if fade_at is None else fade_at
    for near in (0.0, 20.0, 50.0):
        fit = fit_to_length(beats, 70.0, near=near, length=42.0)
        assert (fit.start, fit.end) == (1.0, 43.0) and not fit.on_downbeat  # from its first beat, not its first bar
        assert fit.short_by == pytest.approx(43.0 - heard)
        assert fit_to_length(beats, 70.0, near=fit.start, length=42.0) == fit
    lasting = fit_to_length(beats, 70.0, near=2.0, length=heard - 4.0)  # music that lasts the clip: as before
    assert lasting.short_by == 0 and lasting.end <= heard


def test_music_that_starts_late_is_measured_from_where_it_starts():
    """Music from 5 s to 39.5 s of a 70 s file is 34.5 s long: too short for a 38 s clip, though it ends after
    38 s. It starts where it starts, not where the clip would end with the file in silence."""
    times = np.arange(5.0, 39.1, 0.5)
    beats = Beats(times, times[::4], 120.0)
    for near in (0.0, 20.0):
        fit = fit_to_length(beats, 70.0, near=near, length=38.0)
        assert (fit.start, fit.short_by) == (5.0, pytest.approx(3.5)) and fit.on_downbeat
    early_fade = Beats(times, times[::4], 120.0, fade_at=0.5)  # a fade read before the music: none of it heard
    assert fit_to_length(early_fade, 70.0, near=0.0, length=10.0).short_by == 10.0  # never more than the clip
    nearly = fit_to_length(Beats(times, times[::4], 120.0), 70.0, near=0.0, length=34.8)
    assert nearly.start == 5.0 and nearly.short_by == 0  # 0.3 s: within what the last beat can say
    short = fit_to_length(Beats(times, times[::4], 120.0), 50.0, near=0.0, length=60.0)  # the file is short too
    assert (short.start, short.end, short.short_by) == (0.0, 50.0, pytest.approx(60.0 - 39.5))  # the music ends first


def test_a_drone_has_no_beats():
    t = np.arange(20 * SR) / SR
    drone = (0.3 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    beats = track_beats(dsp.analyse(drone, SR))
    assert len(beats.times) == 0 and beats.bpm == 0.0


def test_beats_are_stored_by_the_scan_and_found_for_older_tracks(bundle, rendered, tmp_path):
    from engine.library import Library

    _, _, path, _ = rendered[96]
    music = tmp_path / "music"
    music.mkdir()
    (music / "a.flac").write_bytes(Path(path).read_bytes())
    library = Library(tmp_path / "data", bundle)
    library.add_root(music)
    library.scan(workers=1)
    (track,) = library.catalog.tracks()
    stored = library.catalog.beats(track["id"])
    assert stored is not None and stored.bpm == pytest.approx(96, rel=0.01)
    with library.catalog.transaction() as conn:
        conn.execute("DELETE FROM beats")  # as a library scanned before beats were stored
    assert library.catalog.beats(track["id"]) is None
    again = library.beats(track["id"])
    assert np.allclose(again.times, stored.times) and library.catalog.beats(track["id"]) is not None


def test_music_without_a_pulse_shows_no_tempo_anywhere(bundle, rendered, tmp_path):
    """Held chords have no beats to follow, so no tempo in the list, the results or their segments (the scan
    once showed the estimator's guess, 84.5 BPM, beside beats at 0 BPM); music with a pulse keeps its tempo.
    An older catalog that stored a guess has it cleared when it opens."""
    import soundfile

    from engine.facade import Engine
    from engine.library.migrations import NO_PULSE_NO_TEMPO

    music = tmp_path / "music"
    music.mkdir()
    rate, bar = 44100, 3.0  # held minor chords, a new one every 3 s bar: no beat inside the bars
    t = np.arange(int(45 * rate)) / rate
    roots = 146.83 * np.array([1, 4 / 3, 1.5, 1.122])[(t // bar).astype(int) % 4]
    held = sum(np.sin(2 * np.pi * roots * m * t) for m in (1, 1.189, 1.5, 2))
    soundfile.write(music / "drone.flac", (0.15 * held).astype(np.float32), rate)
    (music / "pulse.flac").write_bytes(Path(rendered[96][2]).read_bytes())
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    tracks = {Path(t.path).stem: t for t in engine.tracks()}
    assert engine.beats(tracks["drone"].id).bpm == 0 and tracks["drone"].bpm is None
    assert tracks["pulse"].bpm == pytest.approx(96, rel=0.04) and engine.beats(tracks["pulse"].id).bpm > 0
    shown = {Path(r.path).stem: r.bpm for r in engine.recommend(prompt="music", k=2).results}
    assert shown == {"drone": None, "pulse": tracks["pulse"].bpm}
    conn = engine._library.catalog._connection()
    segments = "SELECT s.tempo_bpm FROM segments s JOIN tracks t ON t.id = s.track_id WHERE t.id = ?"
    assert all(bpm is None for (bpm,) in conn.execute(segments, (tracks["drone"].id,)))
    with engine._library.catalog.transaction() as c:  # as a scan before this stored them
        c.execute("UPDATE tracks SET tempo_bpm = 84.5 WHERE id = ?", (tracks["drone"].id,))
        c.execute("UPDATE segments SET tempo_bpm = 84.5 WHERE track_id = ?", (tracks["drone"].id,))
        for statement in filter(str.strip, NO_PULSE_NO_TEMPO.split(";")):  # the migration, applied again
            c.execute(statement)
    assert engine.track(tracks["drone"].id).bpm is None
    assert all(bpm is None for (bpm,) in conn.execute(segments, (tracks["drone"].id,)))
    assert engine.track(tracks["pulse"].id).bpm == tracks["pulse"].bpm
    engine.close()


@pytest.fixture(scope="module")
def band() -> np.ndarray:
    """44 s of a General MIDI band (guitar, bass, drums) at the scan's rate, at full level throughout."""
    from scipy.signal import resample_poly

    from media import MIDI_RATE, midi_samples

    raw = midi_samples(bpm=112, program=25, melody=[52, 55, 59, 64], drums=True, bass=True, seconds=44)
    return resample_poly(raw, SR, MIDI_RATE).astype(np.float32)


def _ending(band: np.ndarray, gain_db: np.ndarray, silent_from: float) -> np.ndarray:
    wave = band * (10 ** (gain_db / 20)).astype(np.float32)
    wave[int(silent_from * SR) :] = 0.0
    return wave


def test_a_fade_out_is_found_where_it_begins_and_fits_end_before_it(band):
    t = np.arange(len(band)) / SR
    fading = np.where(t < 28.0, 0.0, -60.0 * (t - 28.0) / 14.0)  # from 28 s, down 60 dB in 14 s
    analysis = dsp.analyse(_ending(band, fading, 42.0), SR)
    beats = track_beats(analysis)
    assert 27.0 <= beats.fade_at <= 30.0  # where the level has fallen by FADE_DB: about 29.4 s
    assert beats.times[-1] > 33.0  # beats are still heard well into the fade: they alone would allow it
    assert music_end(beats, analysis.duration) == beats.fade_at
    fit = fit_to_length(beats, analysis.duration, near=30.0, length=12.0)  # the best part: the outro
    assert fit.end <= beats.fade_at and fit.on_downbeat
    assert Beats.to_json(beats)["fade_at"] == round(beats.fade_at, 3)


def test_endings_that_do_not_fade_have_no_fade(band):
    t = np.arange(len(band)) / SR
    cut = dsp.analyse(_ending(band, np.zeros_like(t), 40.0), SR)  # stops dead, then silence
    coda = dsp.analyse(_ending(band, np.where(t < 30.0, 0.0, -20.0), 44.0), SR)  # a quiet coda that stays quiet
    full = dsp.analyse(band, SR)  # full level to the last sample
    assert [track_beats(a).fade_at for a in (cut, coda, full)] == [None, None, None]
