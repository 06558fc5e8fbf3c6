"""The drum detector's network: aisfx's sound-effects embedding (Ma & Lerch, "Representation learning for
the automatic indexing of sound effects libraries", ISMIR 2022; PyPI aisfx 0.1.2, its weights CC BY 4.0).

A 9-layer CNN trained to classify professional sound-effects libraries (UCS categories: impacts, hits,
knocks, metal, wood...): 512 numbers from 100 frames (about 2.3 s) of 96-band log-mel at 44.1 kHz, the
max over time of its last block's frequency mean. Drum hits are impacts; the detector that reads it
(engine/drum_detector_sfx.json, ../data/drums/RULE-4.md and RULE-5.md) hears a kit in a mix where musicnn
does not.

The wheel is fetched pinned by its sha256 and never installed (it pins numpy 1.23 and librosa 0.9); its
checkpoint is read from the zip and the network rebuilt here under aisfx's own layer names
(aisfx/models/cnn2d.py: EmbeddingNet('max', 3, 1, 64)), so the checkpoint loads strictly.

    mel (batch, 100, 96) float32 -> embedding (batch, 512)

The graph takes the log-mel itself: its front end (peak normalisation of the whole track, the mel of
librosa 0.11 as aisfx computes it, log10(1e4 x + 1) / 9.4578) is engine/media/sfx_embedding.py's, in numpy,
with the constants in the manifest's `drum_sfx` (export_onnx/defaults.py), so the engine streams a track's
frames and normalises by its peak only at the end.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import torch
from torch import nn

from export_onnx.pypi import fetch_pinned_wheel

WHEEL = "aisfx==0.1.2"
WHEEL_FILE = "aisfx-0.1.2-py2.py3-none-any.whl"
WHEEL_SHA256 = "bfe219950715af179e9a1653e7117cc1852baef267cd6596c42cad74afe1d194"
CHECKPOINT = "aisfx/models/checkpoint.pth"
EMBEDDING_DIM = 512


class _Block(nn.Module):
    """aisfx's ConvBlock: two 3x3 convolutions without bias, each batch-normalised and rectified."""

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
    """aisfx's EmbeddingNet('max', 3, 1, 64): (batch, frames, 96) log-mel -> (batch, 512)."""

    def __init__(self):
        super().__init__()
        self.conv_block1, self.conv_block2 = _Block(1, 64), _Block(64, 128)
        self.conv_block3, self.conv_block4 = _Block(128, 256), _Block(256, EMBEDDING_DIM)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.unsqueeze(1)
        for block, pool in ((self.conv_block1, 2), (self.conv_block2, 2), (self.conv_block3, 2), (self.conv_block4, 1)):
            x = block(x, pool)
        return x.mean(dim=3).max(dim=2).values


def fetch_wheel(cache: Path) -> Path:
    """The aisfx wheel in `cache`, downloaded from PyPI (without its dependencies) if not there yet."""
    return fetch_pinned_wheel(WHEEL, WHEEL_FILE, WHEEL_SHA256, cache)


def load_pretrained(wheel: Path) -> EmbeddingNet:
    """The embedding network from the wheel's checkpoint (its classifier heads are left out)."""
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(CHECKPOINT)
    # The checkpoint is a pickled (embedding and heads' state dict, heads' configuration) pair from 2020,
    # not a bare state dict: it needs the full unpickler. It comes from the sha256-pinned wheel only.
    weights, _heads = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    prefix = "embedding_net."
    net = EmbeddingNet()
    net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})  # strict
    return net.eval()
