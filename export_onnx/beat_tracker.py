"""The beat tracker graph: BeatNet's beat activation (Heydari et al. 2021; PyPI BeatNet 1.1.3, its weights
CC BY 4.0), the onset strength the scan's tempogram reads in place of its spectral flux.

BeatNet's three CRNNs (trained with GTZAN, Ballroom and the Rock Corpus held out in turn) read madmom's
log-filtered spectrogram of 22,050 Hz audio: 64 ms Hann frames every 20 ms, a logarithmic filter bank of 24
bands an octave from 30 Hz to 17 kHz, log10(1 + x), and the positive difference from the frame before. The
scan's audio is 16 kHz, so the graph takes the magnitude spectrum of the same 64 ms frames every 20 ms at
the bundle's sample rate: its bins are 15.6 Hz apart as BeatNet's are, scaled by the frames' length ratio
(a tone's and a noise's magnitude both grow with the sample rate at a fixed frame duration) and padded with
empty bins above the scan's Nyquist frequency. On the tempo benches' sets this reads as the 22,050 Hz input
does (tempo within 4 %: LMMS's songs 19 of 25, from 22,050 Hz audio 18; Freedoom's pieces 41 of 64 and 42).

The graph carries state across the scan's pieces of a track: the LSTMs' states and the last frame's
log-filtered spectrum (for the first frame's difference), so pieces give what the whole track would.

    magnitude (1, frames, bins) float32, previous (1, 136), state (3, 2, 2, 1, 150)
      -> activation (frames,), downbeat (frames,), last (1, 136), state (3, 2, 2, 1, 150)

`state` is [net, hidden or cell, layer, batch, unit], zeros for a track's first piece; `previous` is then
above any spectrum, as the first frame has no rise (madmom's first difference is 0). The activation is the
three nets' mean of P(beat) + P(downbeat) (a downbeat is a beat too), `downbeat` their mean P(downbeat):
where the bars start (engine.media.beats).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from export_onnx.pypi import fetch_pinned_wheel

WHEEL = "BeatNet==1.1.3"
WHEEL_FILE = "BeatNet-1.1.3-py3-none-any.whl"
WHEEL_SHA256 = "1ecfa17bdcbe899975a88bdb6efebd6970d846a4f3b6cfd5c6f320647c641c7e"
NETS = ("model_1_weights.pt", "model_2_weights.pt", "model_3_weights.pt")

# BeatNet's front end (BeatNet.log_spect.LOG_SPECT as BeatNet's own inference configures it).
TRAINED_RATE = 22050
FRAME_SECONDS, HOP_SECONDS = 0.064, 0.020
BANDS_PER_OCTAVE, FMIN, FMAX, FREF = 24, 30.0, 17000.0, 440.0
TRAINED_FRAME = int(FRAME_SECONDS * TRAINED_RATE)  # 1411
TRAINED_BINS = TRAINED_FRAME >> 1  # 705: madmom keeps frame_size >> 1 bins
DIM_IN, HIDDEN, LAYERS = 272, 150, 2


def _log_frequencies() -> np.ndarray:
    left = np.floor(np.log2(FMIN / FREF) * BANDS_PER_OCTAVE)
    right = np.ceil(np.log2(FMAX / FREF) * BANDS_PER_OCTAVE)
    frequencies = FREF * 2.0 ** (np.arange(left, right) / BANDS_PER_OCTAVE)
    frequencies = frequencies[np.searchsorted(frequencies, FMIN) :]
    return frequencies[: np.searchsorted(frequencies, FMAX, "right")]


def logarithmic_filterbank() -> np.ndarray:
    """madmom's LogarithmicFilterbank as BeatNet builds it (705 bins x 136 bands, float32): triangles between
    the bins nearest consecutive log-spaced frequencies, duplicates dropped, each normalised to unit area.
    madmom labels the 705 bins with a 1410-point FFT's frequencies (its quirk, kept: it chose the bins)."""
    bin_frequencies = np.fft.fftfreq(TRAINED_BINS * 2, 1.0 / TRAINED_RATE)[:TRAINED_BINS]
    wanted = _log_frequencies()
    indices = np.clip(bin_frequencies.searchsorted(wanted), 1, TRAINED_BINS - 1)
    left, right = bin_frequencies[indices - 1], bin_frequencies[indices]
    bins = np.unique(indices - (wanted - left < right - wanted))
    bank = np.zeros((TRAINED_BINS, len(bins) - 2), np.float32)
    for band, (start, centre, stop) in enumerate(zip(bins, bins[1:], bins[2:])):
        rise, width = centre - start, stop - start
        triangle = np.concatenate(
            [np.linspace(0, 1, rise, endpoint=False), np.linspace(1, 0, width - rise, endpoint=False)]
        ).astype(np.float32)
        triangle /= triangle.sum()
        np.maximum(triangle, bank[start:stop, band], out=bank[start:stop, band])
    return bank


class _Net(nn.Module):
    """BeatNet.model.BDA's layers under its names (its state dicts load strictly), its state passed in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 2, 10)
        self.linear0 = nn.Linear(2 * ((DIM_IN - 10 + 1) // 2), 150)
        self.lstm = nn.LSTM(150, HIDDEN, num_layers=LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, 3)

    def forward(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(frames, 3): P(beat), P(downbeat), P(neither); and the LSTM's state after the last frame."""
        # Each frame's features are a one-channel sequence for the convolution, as BDA.forward has them.
        y = F.max_pool1d(F.relu(self.conv1(features.reshape(-1, 1, DIM_IN))), 2)
        y, (hidden, cell) = self.lstm(self.linear0(y.flatten(1)).unsqueeze(0), (state[0], state[1]))
        return torch.softmax(self.linear(y[0]), dim=-1), torch.stack([hidden, cell])


class BeatTracker(nn.Module):
    def __init__(self, nets: list[_Net], frame: int) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.scale = TRAINED_FRAME / frame
        self.register_buffer("bank", torch.from_numpy(logarithmic_filterbank()[: frame >> 1]))

    def forward(self, magnitude, previous, state):
        spectrum = torch.log10(1 + (magnitude[0] * self.scale) @ self.bank)  # (frames, 136)
        before = torch.cat([previous, spectrum[:-1]])
        features = torch.cat([spectrum, torch.clamp(spectrum - before, min=0)], dim=1)
        outputs = [net(features, state[k]) for k, net in enumerate(self.nets)]
        classes = torch.stack([c for c, _ in outputs]).mean(0)
        return classes[:, 0] + classes[:, 1], classes[:, 1], spectrum[-1:], torch.stack([s for _, s in outputs])


def fetch_wheel(cache: Path) -> Path:
    """The BeatNet wheel in `cache`, downloaded from PyPI (without its dependencies) if not there yet."""
    return fetch_pinned_wheel(WHEEL, WHEEL_FILE, WHEEL_SHA256, cache)


def load_pretrained(wheel: Path, frame: int) -> BeatTracker:
    """The three nets from the wheel, for frames of `frame` samples (the manifest's `beats.frame_samples`)."""
    nets = []
    with zipfile.ZipFile(wheel) as z:
        for name in NETS:
            net = _Net()
            state = torch.load(io.BytesIO(z.read(f"BeatNet/models/{name}")), map_location="cpu", weights_only=True)
            net.load_state_dict(state)  # strict: every weight, and no other
            nets.append(net.eval())
    return BeatTracker(nets, frame).eval()
