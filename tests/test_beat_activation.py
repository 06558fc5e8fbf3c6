"""The beat tracker graph (BeatNet's CRNNs) that the scan reads the tempo from and places beats and bars on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.features import FeatureExtractor
from engine.media import dsp
from signals import SAMPLE_RATE, drum_pattern


@pytest.fixture(scope="module")
def extractor(bundle):
    return FeatureExtractor(bundle)


@pytest.fixture(scope="module")
def tracker(extractor):
    return extractor.beat_tracker


def test_the_activation_of_a_tracks_pieces_is_the_activation_of_the_whole(tracker, monkeypatch):
    """The graph's states and last spectrum carried across pieces (each piece's level set aside: it is
    scaled on its own, as the next test shows)."""
    monkeypatch.setattr(tracker, "input_rms", 0.0)
    wave = drum_pattern(seconds=7.3, bpm=128) + 0.01 * np.random.default_rng(3).standard_normal(116800)
    whole = tracker.track()
    whole.push(wave.astype(np.float32))
    expected = whole.finish()
    pieces = tracker.track()
    for piece in np.split(wave.astype(np.float32), [5000, 5001, 48000, 100000]):  # frames span the cuts
        pieces.push(piece)
    activation = pieces.finish()
    assert len(expected.beat) == -(-len(wave) // tracker.hop) == len(activation.beat) == len(activation.downbeat)
    np.testing.assert_allclose(activation.beat, expected.beat, atol=1e-5)
    np.testing.assert_allclose(activation.downbeat, expected.downbeat, atol=1e-5)
    assert (activation.downbeat <= activation.beat + 1e-6).all()  # a downbeat is a beat too


def test_the_tracker_hears_a_piece_at_the_same_level_however_loud_it_was_mastered(tracker):
    assert tracker.input_rms > 0  # the bundle's BeatConfig
    wave = (drum_pattern(seconds=9.0, bpm=96) + 0.01 * np.random.default_rng(5).standard_normal(144000)).astype(
        np.float32
    )
    heard = []
    for gain in (1.0, 10 ** (-12 / 20), 10 ** (-24 / 20)):
        track = tracker.track()
        track.push(wave * np.float32(gain))
        heard.append(track.finish().beat)
    np.testing.assert_allclose(heard[1], heard[0], atol=1e-4)
    np.testing.assert_allclose(heard[2], heard[0], atol=1e-4)
    silent = tracker.track()
    silent.push(np.zeros(SAMPLE_RATE * 3, np.float32))  # silence is not raised to the level: it stays silent
    assert np.isfinite(silent.finish().beat).all()


def test_a_short_last_piece_is_heard_at_the_level_of_the_piece_before(tracker, monkeypatch):
    """A track's last few seconds (a fade, room tone) are not raised to the music's level on their own."""
    rng = np.random.default_rng(7)
    music = (drum_pattern(seconds=14.0, bpm=120) + 0.01 * rng.standard_normal(14 * SAMPLE_RATE)).astype(np.float32)
    tail = (0.003 * rng.standard_normal(2 * SAMPLE_RATE)).astype(np.float32)  # -50 dB of room tone
    scaled = tracker.track()
    scaled.push(music)
    scaled.push(tail)
    gain = np.float32(tracker.input_rms / np.sqrt(np.mean(np.square(music, dtype=np.float64))))
    monkeypatch.setattr(tracker, "input_rms", 0.0)
    by_hand = tracker.track()
    by_hand.push(music * gain)
    by_hand.push(tail * gain)  # the music's gain, not the tail's own (which would be 30 dB more)
    np.testing.assert_allclose(scaled.finish().beat, by_hand.finish().beat, atol=1e-5)


def test_a_tracks_tempo_and_beats_do_not_change_with_its_level(extractor, tmp_path):
    """Through the scan's own decoding and pieces: a quieter master of the same music reads the same."""
    from engine.media.beats import track_beats
    from media import write_audio

    wave = drum_pattern(seconds=60.0, bpm=112) + 0.3 * np.sin(2 * np.pi * 220 * np.arange(960000) / SAMPLE_RATE)
    loud = extractor.analysis(write_audio(tmp_path / "loud.wav", 0.5 * wave / np.abs(wave).max(), SAMPLE_RATE))
    quiet = extractor.analysis(write_audio(tmp_path / "quiet.wav", 0.05 * wave / np.abs(wave).max(), SAMPLE_RATE))
    # Unscaled, the two differ by 6e-4 of the tempo and 7 ms of a beat; scaled, by 3e-6 and 0.1 ms.
    assert dsp.descriptors(quiet).tempo_bpm == pytest.approx(dsp.descriptors(loud).tempo_bpm, rel=1e-4)
    np.testing.assert_allclose(track_beats(quiet).times, track_beats(loud).times, atol=1e-3)


def test_the_activation_peaks_on_the_beats(tracker):
    bpm = 120
    track = tracker.track()
    track.push(drum_pattern(seconds=12.0, bpm=bpm))
    activation = track.finish().beat
    on_beat = np.round(np.arange(0.5, 11.5, 60 / bpm) * tracker.fps).astype(int)
    near = np.max([activation[on_beat + k] for k in range(-2, 3)], axis=0)  # within 40 ms of each beat
    between = activation[on_beat + round(tracker.fps * 60 / bpm / 4)]  # on the sixteenth after it
    assert np.median(near) > 0.5 > np.median(between) * 2


def test_the_tracks_tempo_is_read_from_the_activation_and_the_heads_input_from_the_onsets(extractor, tmp_path):
    from media import write_audio

    path = write_audio(tmp_path / "drums.wav", drum_pattern(seconds=20.0, bpm=140), SAMPLE_RATE)
    analysis = extractor.analysis(path)
    assert analysis.beats is not None and analysis.beat_fps == pytest.approx(50.0)
    measured = dsp.descriptors(analysis)
    assert measured.tempo_bpm == pytest.approx(140, rel=0.04)
    # An activation pulsing at another tempo moves the tempo shown, not what the music head reads: the onset
    # envelope's tempo and pulse clarity, which the heads were trained on.
    frames = np.arange(len(analysis.beats))
    other = dataclasses.replace(analysis, beats=(frames % 30 == 0).astype(np.float32))  # 100 BPM at 50 a second
    moved = dsp.descriptors(other)
    assert moved.tempo_bpm == pytest.approx(100, rel=0.02)
    onsets = dsp.tempo(analysis.envelope, analysis.fps)
    assert moved.onset_tempo_bpm == measured.onset_tempo_bpm == onsets[0]
    assert moved.pulse_clarity == measured.pulse_clarity == onsets[1]
    np.testing.assert_array_equal(moved.vector(), measured.vector())
    # A part of the track is read at the tempo shown, where its onsets pulse near it.
    part = dsp.descriptors(other, 4.0, 16.0, moved)
    assert part.tempo_bpm == pytest.approx(dsp.tempo(analysis.envelope[250:1000], analysis.fps, 100)[0])


def test_a_quick_windows_tempo_is_the_onsets_without_the_tracker(extractor):
    wave = drum_pattern(seconds=6.0, bpm=128)
    quick = extractor.music_chunks([wave], patches=2, beats=False)
    full = extractor.music_chunks([wave], patches=2)
    assert quick.analysis.beats is None and full.analysis.beats is not None
    assert quick.overall.tempo_bpm == dsp.tempo(quick.analysis.envelope, quick.analysis.fps)[0]
    np.testing.assert_array_equal(quick.patches, full.patches)


def test_bars_start_where_the_tracker_hears_downbeats_or_the_harmony_changes(extractor, tmp_path):
    from engine.media.beats import track_beats
    from media import write_audio

    path = write_audio(tmp_path / "drums.wav", drum_pattern(seconds=24.0, bpm=120), SAMPLE_RATE)
    analysis = extractor.analysis(path)
    times = track_beats(analysis).times
    assert len(times) > 40 and np.all(np.abs(np.diff(times) - 0.5) < 0.02)  # every beat of the kick, on time

    def bars_with(downbeat_on: int | None, chords_change_on: int | None):
        """Bars of the same beats where the downbeat activation, and where the harmony, mark another beat."""
        downbeats = np.full_like(analysis.downbeats, 0.1)
        chroma = np.tile(np.eye(12, dtype=np.float32)[0], (len(analysis.chroma), 1))
        for k, t in enumerate(times):
            if downbeat_on is not None and k % 4 == downbeat_on:
                downbeats[int(round(t * analysis.beat_fps))] = 0.9
            if chords_change_on is not None and k % 4 == chords_change_on:  # a new chord for the next bar
                chroma[int(t * analysis.chroma_fps) :] = np.roll(np.eye(12, dtype=np.float32)[0], 5 * (k // 4 + 1))
        return track_beats(dataclasses.replace(analysis, downbeats=downbeats, chroma=chroma)).downbeats

    for phase in range(4):
        assert np.allclose(bars_with(phase, None), times[phase::4])  # rhythm alone
        assert np.allclose(bars_with(None, phase), times[phase::4])  # harmony alone
        assert np.allclose(bars_with(phase, phase), times[phase::4])  # both agree
