"""musicnn (Pons & Serra, 2019), MTT and MSD models, ported to PyTorch from the original TF1 checkpoints.

The musicnn wheel on PyPI pins numpy<1.17 and TensorFlow, so it is never installed: `fetch_wheel` downloads
it with `pip download --no-deps`, checks its sha256, and the checkpoints are read straight out of the zip
by `tf_checkpoint`. The graph includes the log-mel front end, so it takes raw 16 kHz mono patches.

Faithfulness notes (checked against the original under TensorFlow: tests/fixtures/musicnn_tf_reference.npz):
- the log-mel is computed in float32 (the original's float16 overflows to inf on loud audio);
- every BatchNorm runs in inference mode with the checkpoint's moving statistics, eps 1e-3;
- TF "same" padding of even kernels puts the extra row at the end;
- the back end flattens [max, mean] pooled features interleaved, as tf.concat + flatten does.

The exported graph computes the same function in a cheaper way (`Musicnn.streamline`): each front-end
branch max-pools before its ReLU and batch norm, and filters whose weights are of low rank run as that
many filters and a 1x1 mix. It agrees with the port within 1e-4 and takes half the time.
"""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from export_onnx.pypi import fetch_pinned_wheel
from export_onnx.tf_checkpoint import read_checkpoint

WHEEL = "musicnn==0.1.0"
WHEEL_FILE = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
MODELS = ("MTT", "MSD")
BN_EPS = 1e-3
FEATURE_DIM = 200
# A filter bank whose weight matrix keeps all but this share of its Frobenius norm at a lower rank runs
# at that rank. The MSD model's banks are of rank 3-23 exactly (of 51-204 filters), the MTT model's of
# rank 17-67 at this tolerance; the outputs then move by under 1e-5.
LOW_RANK_TOLERANCE = 1e-3
# Tag lists in output order, from musicnn/configuration.py.
LABELS = {
    "MTT": (
        "guitar",
        "classical",
        "slow",
        "techno",
        "strings",
        "drums",
        "electronic",
        "rock",
        "fast",
        "piano",
        "ambient",
        "beat",
        "violin",
        "vocal",
        "synth",
        "female",
        "indian",
        "opera",
        "male",
        "singing",
        "vocals",
        "no vocals",
        "harpsichord",
        "loud",
        "quiet",
        "flute",
        "woman",
        "male vocal",
        "no vocal",
        "pop",
        "soft",
        "sitar",
        "solo",
        "man",
        "classic",
        "choir",
        "voice",
        "new age",
        "dance",
        "male voice",
        "female vocal",
        "beats",
        "harp",
        "cello",
        "no voice",
        "weird",
        "country",
        "metal",
        "female voice",
        "choral",
    ),
    "MSD": (
        "rock",
        "pop",
        "alternative",
        "indie",
        "electronic",
        "female vocalists",
        "dance",
        "00s",
        "alternative rock",
        "jazz",
        "beautiful",
        "metal",
        "chillout",
        "male vocalists",
        "classic rock",
        "soul",
        "indie rock",
        "Mellow",
        "electronica",
        "80s",
        "folk",
        "90s",
        "chill",
        "instrumental",
        "punk",
        "oldies",
        "blues",
        "hard rock",
        "ambient",
        "acoustic",
        "experimental",
        "female vocalist",
        "guitar",
        "Hip-Hop",
        "70s",
        "party",
        "country",
        "easy listening",
        "sexy",
        "catchy",
        "funk",
        "electro",
        "heavy metal",
        "Progressive rock",
        "60s",
        "rnb",
        "indie pop",
        "sad",
        "House",
        "happy",
    ),
}


def fetch_wheel(cache: Path) -> Path:
    """The musicnn wheel in `cache`, downloaded from PyPI (without its dependencies) if not there yet."""
    return fetch_pinned_wheel(WHEEL, WHEEL_FILE, WHEEL_SHA256, cache)


def read_weights(wheel: Path, model: str) -> dict[str, np.ndarray]:
    """The trained variables of MTT_musicnn or MSD_musicnn (optimizer state dropped)."""
    folder = f"musicnn/{model}_musicnn/"
    with zipfile.ZipFile(wheel) as z:
        tensors = read_checkpoint(z.read(folder + ".index"), z.read(folder + ".data-00000-of-00001"))
    return {k: v for k, v in tensors.items() if "Adam" not in k and not k.startswith("beta")}


class LogMel(nn.Module):
    """librosa-equivalent power mel spectrogram (centred, reflect-padded Hann STFT), then log10(10000·S + 1).

    The STFT is a strided conv1d with a fixed windowed DFT basis: numerically the same as an FFT here and
    2-4x faster in ONNX Runtime than its STFT operator.
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        n = np.arange(n_fft)
        k = np.arange(n_fft // 2 + 1)[:, None]
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann, as scipy/librosa
        angle = 2 * np.pi * k * n / n_fft
        basis = np.concatenate([window * np.cos(angle), -window * np.sin(angle)])[:, None, :]
        self.register_buffer("dft", torch.from_numpy(basis.astype(np.float32)))
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        self.register_buffer("mel", torch.from_numpy(mel.astype(np.float32)))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, frames, n_mels) with frames = 1 + samples // hop."""
        pad = self.n_fft // 2
        x = F.pad(wave[:, None, :], (pad, pad), mode="reflect")
        spec = F.conv1d(x, self.dft, stride=self.hop_length)
        bins = spec.shape[1] // 2
        power = spec[:, :bins] ** 2 + spec[:, bins:] ** 2
        return torch.log10(10000.0 * torch.matmul(self.mel, power) + 1.0).transpose(1, 2)


def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


def _bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=BN_EPS)


def low_rank(conv: nn.Conv1d | nn.Conv2d, tolerance: float) -> nn.Module:
    """`conv` as r filters followed by a 1x1 mix of them, when its weights are of rank r within `tolerance`
    (relative Frobenius error) and that costs fewer multiplications; otherwise `conv` itself."""
    if conv.groups != 1 or any(d != 1 for d in conv.dilation):
        return conv
    weight = conv.weight.detach().double()
    filters, taps = weight.shape[0], weight[0].numel()
    u, s, vt = torch.linalg.svd(weight.reshape(filters, taps), full_matrices=False)
    # error[r]: what keeping only the first r singular values loses, relative to the whole
    error = (s.square().flip(0).cumsum(0).flip(0) / s.square().sum()).sqrt()
    rank = next((r for r in range(1, len(s)) if error[r] <= tolerance), len(s))
    if rank * (taps + filters) >= filters * taps:
        return conv
    kind = type(conv)
    basis = kind(conv.in_channels, rank, conv.kernel_size, stride=conv.stride, padding=conv.padding, bias=False)
    basis.weight.data = vt[:rank].reshape(rank, *weight.shape[1:]).float().contiguous()
    mix = kind(rank, filters, 1, bias=conv.bias is not None)
    mix.weight.data = (u[:, :rank] * s[:rank]).reshape(filters, rank, *[1] * (weight.dim() - 2)).float().contiguous()
    if conv.bias is not None:
        mix.bias.data = conv.bias.detach().clone()
    return nn.Sequential(basis, mix)


class PooledBranch(nn.Module):
    """A front-end branch, bn(relu(conv(x))) max-pooled over frequency, computed pooling first.

    Max pooling commutes with ReLU and with a batch norm of positive scale, so pooling the conv's output
    first gives the same result while ReLU and batch norm run on a tensor 30-96 times smaller. A channel
    whose scale is negative needs the minimum instead: its filter is negated, as max(-z) = -min(z), and
    the sign is put back after pooling.
    """

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, time_pad: tuple[int, int], tolerance: float):
        super().__init__()
        sign = torch.where(bn.weight.detach() < 0, -1.0, 1.0)
        flipped = copy.deepcopy(conv)
        flipped.weight.data *= sign.view(-1, 1, 1, 1)
        flipped.bias.data *= sign
        self.conv = low_rank(flipped, tolerance)
        self.bn = bn
        self.pad = (0, 0, *time_pad)
        self.register_buffer("sign", sign.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, F) -> (B, filters, T)"""
        pooled = self.conv(F.pad(x, self.pad)).amax(dim=3, keepdim=True)
        return self.bn(F.relu(self.sign * pooled)).squeeze(3)


class Musicnn(nn.Module):
    """musicnn with 7x38/7x67 timbral and 128/64/32 temporal front-end filters, dense mid-end, pooled back end."""

    def __init__(self, n_mels: int = 96, num_classes: int = 50, mid_filters: int = 64, units: int = FEATURE_DIM):
        super().__init__()
        timbral, temporal = int(1.6 * 128), int(1.6 * 32)
        self.input_bn = _bn2d(1)
        self.timbral = nn.ModuleList(nn.Conv2d(1, timbral, (7, int(f * n_mels))) for f in (0.4, 0.7))
        self.timbral_bn = nn.ModuleList(_bn2d(timbral) for _ in range(2))
        self.temporal = nn.ModuleList(nn.Conv2d(1, temporal, (k, 1)) for k in (128, 64, 32))
        self.temporal_bn = nn.ModuleList(_bn2d(temporal) for _ in range(3))
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList(nn.Conv1d(cin, mid_filters, 7, padding=3) for cin in (front, mid_filters, mid_filters))
        self.mid_bn = nn.ModuleList(_bn1d(mid_filters) for _ in range(3))
        pooled = 2 * (front + 3 * mid_filters)
        self.pool_bn = _bn1d(pooled)
        self.dense = nn.Linear(pooled, units)
        self.dense_bn = _bn1d(units)
        self.classifier = nn.Linear(units, num_classes)
        self.pooled: nn.ModuleList | None = None  # the front end pooling first, once streamlined

    def streamline(self, tolerance: float = LOW_RANK_TOLERANCE) -> Musicnn:
        """Rewrite the trained network to compute the same outputs with fewer operations (see PooledBranch
        and low_rank); afterwards it can no longer load weights."""
        branches = [(conv, bn, (3, 3)) for conv, bn in zip(self.timbral, self.timbral_bn)]
        branches += [(c, bn, self._time_pad(c)) for c, bn in zip(self.temporal, self.temporal_bn)]
        self.pooled = nn.ModuleList(PooledBranch(conv, bn, pad, tolerance) for conv, bn, pad in branches)
        self.mid[0] = low_rank(self.mid[0], tolerance)
        return self

    @staticmethod
    def _time_pad(conv: nn.Conv2d) -> tuple[int, int]:
        k = conv.kernel_size[0]
        return (k - 1) // 2, k // 2

    def front_end(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, F) -> (B, 561, T): every branch's filters, max-pooled over frequency."""
        if self.pooled is not None:
            return torch.cat([branch(x) for branch in self.pooled], dim=1)
        front = []
        for conv, bn in zip(self.timbral, self.timbral_bn):
            front.append(bn(F.relu(conv(F.pad(x, (0, 0, 3, 3))))).amax(dim=3))
        for conv, bn in zip(self.temporal, self.temporal_bn):
            front.append(bn(F.relu(conv(F.pad(x, (0, 0, *self._time_pad(conv)))))).amax(dim=3))
        return torch.cat(front, dim=1)

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, frames, mels) -> (penultimate features (batch, 200), tag probabilities (batch, 50))."""
        x = self.input_bn(logmel[:, None])  # (B, 1, T, F): time is height, as in the TF graph
        front = self.front_end(x)  # (B, 561, T)
        layers = [front]
        y = self.mid_bn[0](F.relu(self.mid[0](front)))
        layers.append(y)
        for conv, bn in zip(self.mid[1:], self.mid_bn[1:]):
            y = bn(F.relu(conv(y))) + y
            layers.append(y)
        features = torch.cat(layers, dim=1)  # (B, 753, T)
        pooled = torch.stack([features.amax(dim=2), features.mean(dim=2)], dim=2).flatten(1)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return penultimate, torch.sigmoid(self.classifier(penultimate))

    def load_tf_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy TF variables in, by the order tf.compat.v1.layers created (and auto-named) them."""
        t = {k: torch.from_numpy(v) for k, v in weights.items()}
        used = set()

        def take(name: str) -> torch.Tensor:
            used.add(name)
            return t[name]

        def bn(module: nn.Module, i: int) -> None:
            name = "batch_normalization" + (f"_{i}" if i else "")
            module.weight.data = take(f"{name}/gamma")
            module.bias.data = take(f"{name}/beta")
            module.running_mean.data = take(f"{name}/moving_mean")
            module.running_var.data = take(f"{name}/moving_variance")

        def conv(module: nn.Module, i: int) -> None:
            name = "conv2d" + (f"_{i}" if i else "")
            kernel = take(f"{name}/kernel").permute(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
            if isinstance(module, nn.Conv1d):  # the mid-end's [7, C] kernels span all channels at once
                kernel = kernel[:, 0].permute(0, 2, 1)  # [out, 1, 7, C] -> [out, C, 7]
            module.weight.data = kernel.contiguous()
            module.bias.data = take(f"{name}/bias")

        def dense(module: nn.Linear, name: str) -> None:
            module.weight.data = take(f"{name}/kernel").T.contiguous()
            module.bias.data = take(f"{name}/bias")

        bn(self.input_bn, 0)
        convs = [*self.timbral, *self.temporal, *self.mid]
        bns = [*self.timbral_bn, *self.temporal_bn, *self.mid_bn]
        for i, (c, b) in enumerate(zip(convs, bns)):
            conv(c, i)
            bn(b, i + 1)
        bn(self.pool_bn, len(bns) + 1)
        dense(self.dense, "dense")
        bn(self.dense_bn, len(bns) + 2)
        dense(self.classifier, "dense_1")
        unused = set(t) - used
        if unused:
            raise ValueError(f"checkpoint variables not used by the port: {sorted(unused)}")


class MusicBackbone(nn.Module):
    """16 kHz mono patches (batch, samples) -> per model: 200-d penultimate features and 50 tag probabilities."""

    def __init__(self, frontend: LogMel, nets: dict[str, Musicnn]):
        super().__init__()
        self.frontend = frontend
        self.nets = nn.ModuleDict(nets)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logmel = self.frontend(wave)
        outputs = []
        for net in self.nets.values():
            outputs += net(logmel)
        return tuple(outputs)


def output_names(models: tuple[str, ...] = MODELS) -> list[str]:
    return [f"{m.lower()}_{kind}" for m in models for kind in ("features", "tags")]


def load_pretrained(
    wheel: Path, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, *, streamline: bool = False
) -> MusicBackbone:
    """The faithful port, or with `streamline` the same function computed the cheaper way the bundle exports."""
    nets = {}
    for model in MODELS:
        net = Musicnn(n_mels=n_mels, num_classes=len(LABELS[model]))
        net.load_tf_weights(read_weights(wheel, model))
        nets[model] = net.streamline() if streamline else net
    return MusicBackbone(LogMel(sample_rate, n_fft, hop_length, n_mels), nets).eval()
