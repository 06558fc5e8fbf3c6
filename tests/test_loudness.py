"""Integrated loudness as the scan measures it: BS.1770 streamed over pieces, per channel before the mix."""

import numpy as np
import pyloudnorm
import pytest

from engine.facade import Engine
from engine.media.audio import iter_audio
from engine.media.loudness import LoudnessMeter
from tests.media import write_audio

RATE = 16000


def _music_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """(2, n): a loud passage, a near-silent one and a quiet one, L and R unlike each other, so both gates
    of BS.1770 decide something and a mono mix would read low. Harmonic tones under 4 kHz: like most
    music, almost nothing above the 8 kHz the scan's 16 kHz resampling keeps."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate

    def tone(f0: float) -> np.ndarray:
        return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 10)) * 0.15

    left, right = tone(220.0), tone(330.0)
    level = np.select([t < seconds * 0.4, t < seconds * 0.55], [1.0, 0.0005], 0.2)
    return np.stack([left, right]) * level


def _metered(signal: np.ndarray, pieces: list[int], channels=("FL", "FR")) -> float | None:
    meter = LoudnessMeter(RATE)
    edges = np.cumsum([0, *pieces])
    for a, b in zip(edges[:-1], edges[1:]):
        meter.add(signal[:, a:b], list(channels))
    return meter.integrated()


def test_the_streamed_meter_agrees_with_pyloudnorm_whatever_the_piece_sizes():
    signal = _music_like(12.0, RATE)
    expected = pyloudnorm.Meter(RATE).integrated_loudness(signal.T)
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 5000, 200)
    sizes = [*sizes[np.cumsum(sizes) < signal.shape[1]], signal.shape[1]]
    assert _metered(signal, [signal.shape[1]]) == pytest.approx(expected, abs=0.01)
    assert _metered(signal, sizes) == pytest.approx(expected, abs=0.01)
    # Gating matters here: the plain mean power would read the loud part's level diluted by the rest.
    assert abs(expected - (-0.691 + 10 * np.log10(np.mean(signal**2) * 2))) > 1.0


def test_silence_too_short_or_a_changing_layout_has_no_loudness():
    assert _metered(np.zeros((2, RATE * 3)), [RATE * 3]) is None  # below the absolute gate
    assert _metered(_music_like(0.3, RATE), [int(0.3 * RATE)]) is None  # shorter than one 400 ms block
    meter = LoudnessMeter(RATE)
    meter.add(_music_like(2.0, RATE), ["FL", "FR"])
    meter.add(_music_like(2.0, RATE)[:1], ["FC"])
    assert meter.integrated() is None


def test_iter_audio_meters_every_channel_before_the_mix_and_leaves_out_lfe(tmp_path, bundle):
    config = bundle.manifest.preprocessing.audio
    assert config.sample_rate == RATE
    stereo = _music_like(8.0, 44100)
    path = write_audio(tmp_path / "wide.wav", stereo, 44100)
    meter = LoudnessMeter(RATE)
    mono = np.concatenate(list(iter_audio(path, config, chunk_samples=4096, meter=meter)))
    reference = pyloudnorm.Meter(44100).integrated_loudness(stereo.T)
    assert meter.integrated() == pytest.approx(reference, abs=0.3)
    # The mean of L and R the models hear is quieter than the two channels are together.
    assert pyloudnorm.Meter(RATE).integrated_loudness(mono) < reference - 2.5

    tone = stereo[0]
    for channel, expected in (
        (3, None),
        (0, pytest.approx(pyloudnorm.Meter(44100).integrated_loudness(tone), abs=0.3)),
    ):
        surround = np.zeros((6, len(tone)))
        surround[channel] = tone  # FFmpeg's 5.1: FL FR FC LFE BL BR
        meter = LoudnessMeter(RATE)
        list(iter_audio(write_audio(tmp_path / f"51-{channel}.wav", surround, 44100), config, meter=meter))
        assert meter.integrated() == expected


def test_the_scan_stores_the_loudness_and_every_view_shows_it(tmp_path, bundle):
    music = tmp_path / "music"
    music.mkdir()
    stereo = _music_like(20.0, 44100, seed=3)
    write_audio(music / "loud.flac", stereo, 44100, tags={"title": "Loud"})
    write_audio(music / "soft.flac", stereo * 0.1, 44100, tags={"title": "Soft"})
    engine = Engine(tmp_path / "data", bundle=bundle)
    engine.add_root(music)
    engine.scan(workers=1)
    measured = {t.title: t.loudness_lufs for t in engine.tracks()}
    reference = pyloudnorm.Meter(44100).integrated_loudness(stereo.T)
    assert measured["Loud"] == pytest.approx(reference, abs=0.5)
    assert measured["Soft"] == pytest.approx(reference - 20, abs=0.5)
    results = engine.recommend(prompt="music", k=2).results
    assert {r.title: r.loudness_lufs for r in results} == measured
    assert engine.track(music / "soft.flac").to_json()["loudness_lufs"] == measured["Soft"]
