"""The trained ViML heads as four ONNX graphs, rebuilt from a training checkpoint alone.

- video_head:  frame features, cues, mask      -> video tokens, pooled video
- text_head:   token features, mask            -> text tokens, pooled text
- fusion_head: both encoders' outputs (a modality is absent when its mask is all False) -> query embedding
- music_head:  patch features, mask, descriptors -> music embedding
Clip and prompt encodings are cached separately by the engine, so changing the prompt re-runs only the
text and fusion heads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.checkpoint import load_model
from training.viml.model import ViML

ROLES = ("video_head", "text_head", "fusion_head", "music_head")


class VideoHead(nn.Module):
    def __init__(self, model: ViML):
        super().__init__()
        self.model = model

    def forward(self, frames, cues, video_mask):
        return self.model.encode_video(frames, cues, video_mask)


class TextHead(nn.Module):
    def __init__(self, model: ViML):
        super().__init__()
        self.model = model

    def forward(self, tokens, text_mask):
        return self.model.encode_text(tokens, text_mask)


class FusionHead(nn.Module):
    def __init__(self, model: ViML):
        super().__init__()
        self.model = model

    def forward(self, video_tokens, video_mask, video, text_tokens, text_mask, text):
        return self.model.fuse(video_tokens, video_mask, video, text_tokens, text_mask, text)


class MusicHead(nn.Module):
    def __init__(self, model: ViML):
        super().__init__()
        self.model = model

    def forward(self, patches, patch_mask, descriptors):
        return self.model.encode_music(patches, patch_mask, descriptors)


def _mask(rng, batch: int, length: int, empty_rows: tuple[int, ...] = ()) -> np.ndarray:
    lengths = rng.integers(1, length + 1, batch)
    mask = np.arange(length)[None] < lengths[:, None]
    mask[list(empty_rows)] = False
    return mask


def head_specs(checkpoint: Path):
    """(role, module, example inputs, input names, output names, dynamic shapes, parity cases) per head."""
    model, _ = load_model(checkpoint)
    dims, width = model.dims, model.cfg.width
    rng = np.random.default_rng(0)
    dim = torch.export.Dim
    batch = dim("batch", min=1, max=4096)
    frames_axis, tokens_axis = dim("frames", min=1, max=dims.max_frames), dim("tokens", min=1, max=dims.max_tokens)
    patches_axis = dim("patches", min=1, max=dims.max_patches)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def video_case(b, t, empty=()):
        return {
            "frames": np.abs(f32(b, t, dims.frame)),
            "cues": f32(b, t, dims.cues),
            "video_mask": _mask(rng, b, t, empty),
        }

    def text_case(b, n, empty=()):
        return {"tokens": f32(b, n, dims.token), "text_mask": _mask(rng, b, n, empty)}

    def fusion_case(b, t, n, empty_video=(), empty_text=()):
        return {
            "video_tokens": f32(b, t, width),
            "video_mask": _mask(rng, b, t, empty_video),
            "video": f32(b, width),
            "text_tokens": f32(b, n, width),
            "text_mask": _mask(rng, b, n, empty_text),
            "text": f32(b, width),
        }

    def music_case(b, p):
        return {
            "patches": f32(b, p, dims.patch),
            "patch_mask": _mask(rng, b, p),
            "descriptors": f32(b, dims.descriptors),
        }

    def torch_args(case):
        return tuple(torch.from_numpy(v) for v in case.values())

    specs = []
    for role, module, cases, axes, outputs in (
        (
            "video_head",
            VideoHead(model),
            [video_case(3, 7, (1,)), video_case(1, dims.max_frames)],
            [{0: batch, 1: frames_axis}] * 3,
            ["video_tokens", "video"],
        ),
        (
            "text_head",
            TextHead(model),
            [text_case(3, 9, (2,)), text_case(1, 1)],
            [{0: batch, 1: tokens_axis}] * 2,
            ["text_tokens", "text"],
        ),
        (
            "fusion_head",
            FusionHead(model),
            [fusion_case(4, 6, 5, (1,), (2,)), fusion_case(1, 2, 3)],
            [
                {0: batch, 1: frames_axis},
                {0: batch, 1: frames_axis},
                {0: batch},
                {0: batch, 1: tokens_axis},
                {0: batch, 1: tokens_axis},
                {0: batch},
            ],
            ["query"],
        ),
        (
            "music_head",
            MusicHead(model),
            [music_case(3, dims.max_patches), music_case(2, 1)],
            [{0: batch, 1: patches_axis}, {0: batch, 1: patches_axis}, {0: batch}],
            ["music"],
        ),
    ):
        example = cases[0]
        specs.append((role, module.eval(), torch_args(example), list(example), outputs, axes, cases))
    return specs
