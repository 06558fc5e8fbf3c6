"""aisfx's sound-effects embedding (Ma & Lerch, ISMIR 2022; PyPI `aisfx` 0.1.2, weights CC BY 4.0), for
the drum benches: a 9-layer CNN trained to classify professional sound-effects libraries (impacts, hits,
knocks...), 512-d from about 2.3 s of 96-band log-mel at 44.1 kHz.

The network is rebuilt here from the checkpoint the wheel ships (the package itself pins numpy 1.23 and
librosa 0.9), and the mel is the package's librosa variant with its "original" normalisation.

    pip download --no-deps aisfx==0.1.2 -d build/aisfx && unzip build/aisfx/aisfx-0.1.2-*.whl -d build/aisfx
"""

from __future__ import annotations

import functools
from pathlib import Path

import librosa
import msgspec
import numpy as np
import torch
from torch import nn

from engine import paths
from engine.bundle import open_current_bundle
from engine.bundle.manifest import AudioConfig
from engine.media.audio import decode_audio

RATE = 44_100
FRAMES = 100  # about 2.3 s at a hop of 1024
CHECKPOINT = Path("build/aisfx/aisfx/models/checkpoint.pth")


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return nn.functional.max_pool2d(x, pool) if pool > 1 else x


class EmbeddingNet(nn.Module):
    """aisfx's EmbeddingNet('max', 3, 1, 64): (batch, frames, 96) -> (batch, 512)."""

    def __init__(self):
        super().__init__()
        self.conv_block1, self.conv_block2 = _Block(1, 64), _Block(64, 128)
        self.conv_block3, self.conv_block4 = _Block(128, 256), _Block(256, 512)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.unsqueeze(1)
        for block, pool in ((self.conv_block1, 2), (self.conv_block2, 2), (self.conv_block3, 2), (self.conv_block4, 1)):
            x = block(x, pool)
        return x.mean(dim=3).max(dim=2).values


def load(checkpoint: Path = CHECKPOINT) -> EmbeddingNet:
    if not checkpoint.is_file():
        raise SystemExit(f"no aisfx checkpoint at {checkpoint}: see this module's docstring")
    weights, _heads = torch.load(checkpoint, map_location="cpu", weights_only=False)
    net = EmbeddingNet()
    prefix = "embedding_net."
    net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
    return net.eval()


def mel(samples: np.ndarray) -> np.ndarray:
    """(frames, 96), as aisfx's librosa spectrogram, min-max normalised as its paper's."""
    peak = float(np.max(np.abs(samples))) or 1.0
    power = librosa.feature.melspectrogram(
        y=samples / peak,
        sr=RATE,
        n_mels=96,
        norm=1.0,
        fmin=0.0,
        fmax=RATE / 2,
        htk=True,
        power=2.0,
        hop_length=1024,
        win_length=2048,
    )
    return (np.log10(power * 10_000.0 + 1) / 9.457798957824707).T.astype(np.float32)


@functools.cache
def _decoding() -> AudioConfig:
    audio = open_current_bundle(paths.models_dir()).manifest.preprocessing.audio
    return msgspec.structs.replace(audio, sample_rate=RATE)


def windows(path: Path, net: EmbeddingNet) -> np.ndarray:
    """(W, 512): one embedding per 2.3-s window, end to end, of the file's audio decoded as the scan
    decodes it (its downmix), at 44.1 kHz."""
    samples = decode_audio(path, _decoding())
    spec = mel(samples)
    count = max(len(spec) // FRAMES, 1)
    spec = np.pad(spec, ((0, max(count * FRAMES - len(spec), 0)), (0, 0)))[: count * FRAMES]
    blocks = torch.from_numpy(spec.reshape(count, FRAMES, 96))
    with torch.inference_mode():
        return torch.cat([net(part) for part in blocks.split(32)]).numpy()
