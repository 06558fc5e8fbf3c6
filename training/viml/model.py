"""The ViML model: per-modality Transformer encoders over frozen base features, a fusion module that turns
video and text into one query, and a music encoder into the same space.

Every part is written so it exports to ONNX as one of four head graphs (export_onnx/heads.py):
video head, text head, fusion head, music head. A modality is "absent" when its mask is all False; the
encoders then output nothing usable and the fusion puts a learned null vector in its place, which is how
one model answers video-only, text-only and video+text queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.viml.config import ModelConfig


@dataclass(frozen=True)
class InputDims:
    """Sizes of the base features, fixed by the bundle's backbones and manifest."""

    frame: int  # frame backbone features
    cues: int  # low-level video cues per frame
    token: int  # text backbone token features
    patch: int  # music backbone features per patch
    descriptors: int  # model-free music descriptors per segment
    max_frames: int
    max_tokens: int
    max_patches: int


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class Standardize(nn.Module):
    """Fixed per-feature centring and scaling, fitted on the training split and exported with the graph."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, values: np.ndarray) -> None:
        self.mean.copy_(torch.from_numpy(values.mean(axis=0)).float())
        self.std.copy_(torch.from_numpy(values.std(axis=0) + 1e-3).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class SequenceEncoder(nn.Module):
    """Project base features, add positions, run a pre-norm Transformer; tokens plus their masked mean."""

    def __init__(self, in_dim: int, cfg: ModelConfig, max_len: int, extra_dim: int = 0):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, cfg.width)
        self.extra = nn.Linear(extra_dim, cfg.width) if extra_dim else None
        self.pos = nn.Parameter(torch.randn(max_len, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 2 * cfg.width, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(cfg.width)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.proj(self.norm(x))
        if self.extra is not None and extra is not None:
            h = h + self.extra(extra)
        h = h + self.pos[: h.shape[1]]
        # A fully padded row would make attention divide by zero: let it see its first token, then
        # discard the result through the real mask.
        safe = mask.clone()
        safe[:, 0] = safe[:, 0] | ~mask.any(dim=1)
        h = self.out_norm(self.encoder(h, src_key_padding_mask=~safe))
        return h, masked_mean(h, mask)


class AddFusion(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.out = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.width))

    def forward(self, video: torch.Tensor, text: torch.Tensor, **_) -> torch.Tensor:
        return self.out(video + text)


class MLPFusion(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(2 * cfg.width),
            nn.Linear(2 * cfg.width, 2 * cfg.width),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(2 * cfg.width, cfg.width),
        )

    def forward(self, video: torch.Tensor, text: torch.Tensor, **_) -> torch.Tensor:
        return self.mlp(torch.cat([video, text], dim=-1))


class TransformerFusion(nn.Module):
    """A small Transformer over [query token, video tokens, text tokens]; the query token is the output."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, cfg.width) * 0.02)
        self.types = nn.Parameter(torch.randn(2, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 2 * cfg.width, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.fusion_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(
        self,
        video: torch.Tensor,
        text: torch.Tensor,
        *,
        video_tokens: torch.Tensor,
        video_mask: torch.Tensor,
        text_tokens: torch.Tensor,
        text_mask: torch.Tensor,
    ) -> torch.Tensor:
        batch = video.shape[0]
        # The pooled (or null) vectors ride along as tokens, so an absent modality still says "absent".
        tokens = torch.cat(
            [
                self.query.expand(batch, -1, -1),
                (video + self.types[0]).unsqueeze(1),
                (text + self.types[1]).unsqueeze(1),
                video_tokens + self.types[0],
                text_tokens + self.types[1],
            ],
            dim=1,
        )
        always = torch.ones(batch, 3, dtype=torch.bool, device=video.device)
        mask = torch.cat([always, video_mask, text_mask], dim=1)
        return self.norm(self.encoder(tokens, src_key_padding_mask=~mask)[:, 0])


FUSION_MODULES = {"add": AddFusion, "mlp": MLPFusion, "transformer": TransformerFusion}


class ViML(nn.Module):
    def __init__(self, cfg: ModelConfig, dims: InputDims):
        super().__init__()
        self.cfg, self.dims = cfg, dims
        self.cue_norm = Standardize(dims.cues)
        self.descriptor_norm = Standardize(dims.descriptors)
        self.video = SequenceEncoder(dims.frame, cfg, dims.max_frames, extra_dim=dims.cues)
        self.text = SequenceEncoder(dims.token, cfg, dims.max_tokens)
        # One extra position for the descriptor token that leads the patch sequence.
        self.music = SequenceEncoder(dims.patch, cfg, dims.max_patches + 1)
        self.descriptor_token = nn.Linear(dims.descriptors, dims.patch)
        self.null_video = nn.Parameter(torch.randn(cfg.width) * 0.02)
        self.null_text = nn.Parameter(torch.randn(cfg.width) * 0.02)
        self.fusion = FUSION_MODULES[cfg.fusion](cfg)
        self.query_proj = nn.Linear(cfg.width, cfg.embed_dim)
        self.music_proj = nn.Linear(cfg.width, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))

    def encode_video(self, frames, cues, mask) -> tuple[torch.Tensor, torch.Tensor]:
        return self.video(frames, mask, extra=self.cue_norm(cues))

    def encode_text(self, tokens, mask) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text(tokens, mask)

    def fuse(self, video_tokens, video_mask, video, text_tokens, text_mask, text) -> torch.Tensor:
        """Pooled and token outputs of both encoders -> unit-length query embeddings."""
        video = torch.where(video_mask.any(dim=1, keepdim=True), video, self.null_video)
        text = torch.where(text_mask.any(dim=1, keepdim=True), text, self.null_text)
        fused = self.fusion(
            video, text, video_tokens=video_tokens, video_mask=video_mask, text_tokens=text_tokens, text_mask=text_mask
        )
        return F.normalize(self.query_proj(fused), dim=-1)

    def encode_query(self, frames, cues, video_mask, tokens, text_mask) -> torch.Tensor:
        video_tokens, video = self.encode_video(frames, cues, video_mask)
        text_tokens, text = self.encode_text(tokens, text_mask)
        return self.fuse(video_tokens, video_mask, video, text_tokens, text_mask, text)

    def encode_music(self, patches, patch_mask, descriptors) -> torch.Tensor:
        lead = self.descriptor_token(self.descriptor_norm(descriptors)).unsqueeze(1)
        sequence = torch.cat([lead, patches], dim=1)
        mask = torch.cat([torch.ones_like(patch_mask[:, :1]), patch_mask], dim=1)
        _, pooled = self.music(sequence, mask)
        return F.normalize(self.music_proj(pooled), dim=-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Query and music embeddings, and the temperature's scale (returned from here so DDP sees it used)."""
        query = self.encode_query(
            batch["frames"], batch["cues"], batch["video_mask"], batch["tokens"], batch["text_mask"]
        )
        music = self.encode_music(batch["patches"], batch["patch_mask"], batch["descriptors"])
        return query, music, self.logit_scale.exp()

    def clamp_logit_scale(self) -> None:
        with torch.no_grad():
            self.logit_scale.clamp_(0, float(np.log(100)))
