"""Deterministic test signals at 16 kHz.

Pure numpy formulas (plus one seeded noise generator), so tests, benchmarks and the one-off TensorFlow
reference script (export_onnx/reference/) all see the same samples.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000


def _t(seconds: float, sr: int) -> np.ndarray:
    return np.arange(int(round(seconds * sr)), dtype=np.float64) / sr


def decaying_tone(seconds: float = 3.0, sr: int = SAMPLE_RATE, freq: float = 440.0) -> np.ndarray:
    """A struck-string-like tone: fundamental and harmonics, re-struck every 0.75 s."""
    t = _t(seconds, sr)
    envelope = np.exp(-4.0 * (t % 0.75))
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 6))
    return (0.3 * envelope * tone).astype(np.float32)


def chord(seconds: float = 3.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A major triad (A3, C#4, E4) with a slow tremolo, like sustained strings."""
    t = _t(seconds, sr)
    freqs = (220.0, 277.18, 329.63)
    tremolo = 0.8 + 0.2 * np.sin(2 * np.pi * 5.0 * t)
    return (0.2 * tremolo * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def drum_pattern(seconds: float = 3.0, sr: int = SAMPLE_RATE, bpm: float = 120.0) -> np.ndarray:
    """Kick on every beat, noise snare on the off-beats, closed hi-hat on eighths."""
    t = _t(seconds, sr)
    out = np.zeros_like(t)
    beat = 60.0 / bpm
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(t))
    for i, start in enumerate(np.arange(0.0, seconds, beat / 2)):
        n0 = int(start * sr)
        local = t[n0:] - start
        if i % 2 == 0:  # kick: pitch-dropping sine
            out[n0:] += 0.9 * np.exp(-18 * local) * np.sin(2 * np.pi * (50 + 90 * np.exp(-30 * local)) * local)
        if i % 4 == 2:  # snare
            out[n0:] += 0.5 * np.exp(-25 * local) * noise[n0:]
        out[n0:] += 0.15 * np.exp(-120 * local) * noise[::-1][n0:]  # hi-hat
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def chirp(seconds: float = 3.0, sr: int = SAMPLE_RATE, f0: float = 100.0, f1: float = 6000.0) -> np.ndarray:
    """Exponential sweep from f0 to f1."""
    t = _t(seconds, sr)
    k = np.log(f1 / f0) / seconds
    return (0.4 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)).astype(np.float32)


def pink_noise(seconds: float = 3.0, sr: int = SAMPLE_RATE, seed: int = 1234) -> np.ndarray:
    """Noise with a 1/f power spectrum, shaped in the frequency domain."""
    n = int(round(seconds * sr))
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    x = np.fft.irfft(spectrum, n)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def loud_square(seconds: float = 3.0, sr: int = SAMPLE_RATE, freq: float = 110.0) -> np.ndarray:
    """A full-scale square wave: loud enough to overflow a float16 log-mel (musicnn's original bug)."""
    t = _t(seconds, sr)
    return np.sign(np.sin(2 * np.pi * freq * t)).astype(np.float32)


# The signals the musicnn TensorFlow reference fixture was computed from, in fixture order.
MUSICNN_REFERENCE_SIGNALS = {
    "decaying_tone": decaying_tone,
    "chord": chord,
    "drum_pattern": drum_pattern,
    "chirp": chirp,
    "pink_noise": pink_noise,
    "loud_square": loud_square,
}
