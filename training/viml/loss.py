"""Symmetric InfoNCE between fused queries and their paired music, as open_clip's ClipLoss does it."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows, with this rank's own rows kept as the autograd-tracked local tensor."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    gathered = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, x)
    gathered[dist.get_rank()] = x
    return torch.cat(gathered)


class ContrastiveLoss(nn.Module):
    def get_logits(
        self, query: torch.Tensor, music: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's queries against every rank's music, and this rank's music against every query."""
        all_query, all_music = gather_with_grad(query), gather_with_grad(music)
        return scale * query @ all_music.T, scale * music @ all_query.T

    def get_labels(self, local_batch: int, device: torch.device) -> torch.Tensor:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        return torch.arange(local_batch, device=device) + rank * local_batch

    def forward(self, query: torch.Tensor, music: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
        """`scale` is exp(logit_scale), the inverse temperature."""
        logits_q, logits_m = self.get_logits(query, music, scale)
        labels = self.get_labels(query.shape[0], query.device)
        loss = (F.cross_entropy(logits_q, labels) + F.cross_entropy(logits_m, labels)) / 2
        return {"contrastive_loss": loss}
