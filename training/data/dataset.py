"""Pairs as tensors: padding, masks, and the text and video dropout that make one model serve all queries."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.featureset import FeatureSet


class PairDataset(Dataset):
    """`text_method` names one text source, or several separated by commas: a pair then offers one text per
    source, and the collate step picks one per example (training) or the first (evaluation)."""

    def __init__(self, data: FeatureSet, indices: np.ndarray, text_method: str | None):
        self.data = data
        self.indices = np.asarray(indices)
        methods = text_method.split(",") if text_method else []
        self.pair_texts = [data.pair_text(m) for m in methods]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict[str, np.ndarray | int]:
        i = int(self.indices[k])
        arrays = self.data.arrays
        frames, cues = self.data.clip(int(arrays["pair_clip"][i]))
        patches, descriptors = self.data.music(int(arrays["pair_music"][i]))
        texts = [self.data.text(int(t[i])) for t in self.pair_texts if t[i] >= 0]
        return {
            "pair": i,
            "music_id": int(arrays["pair_music"][i]),
            "frames": frames,
            "cues": cues,
            "texts": texts or [np.zeros((0, self.data.dims.token), np.float32)],
            "patches": patches,
            "descriptors": descriptors,
        }


def _pad(sequences: list[np.ndarray], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(1, max(len(s) for s in sequences))
    out = torch.zeros(len(sequences), length, width)
    mask = torch.zeros(len(sequences), length, dtype=torch.bool)
    for row, s in enumerate(sequences):
        out[row, : len(s)] = torch.as_tensor(np.array(s, dtype=np.float32))
        mask[row, : len(s)] = True
    return out, mask


class Collate:
    """Batches pairs; drops whole modalities at the configured rates (recorded in the masks).

    `text_dropout`: the fraction of examples whose text is removed (ViML's regulariser).
    `video_dropout`: the fraction whose video is removed instead, for text-only queries; never both.
    """

    def __init__(self, text_dropout: float = 0.0, video_dropout: float = 0.0, seed: int = 0, mix_texts: bool = False):
        self.text_dropout, self.video_dropout = text_dropout, video_dropout
        self.mix_texts = mix_texts
        self.generator = torch.Generator().manual_seed(seed)

    def _text(self, options: list[np.ndarray]) -> np.ndarray:
        if not self.mix_texts or len(options) == 1:
            return options[0]
        return options[int(torch.randint(len(options), (1,), generator=self.generator))]

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        frames, video_mask = _pad([x["frames"] for x in items], items[0]["frames"].shape[1])
        cues, _ = _pad([x["cues"] for x in items], items[0]["cues"].shape[1])
        texts = [self._text(x["texts"]) for x in items]
        tokens, text_mask = _pad(texts, texts[0].shape[1])
        patches, patch_mask = _pad([x["patches"] for x in items], items[0]["patches"].shape[1])
        if self.text_dropout or self.video_dropout:
            draw = torch.rand(len(items), generator=self.generator)
            drop_text = draw < self.text_dropout
            has_text = text_mask.any(dim=1)
            drop_video = (draw >= 1 - self.video_dropout) & has_text & ~drop_text
            text_mask[drop_text] = False
            video_mask[drop_video] = False
        return {
            "pair": torch.tensor([x["pair"] for x in items]),
            "music_id": torch.tensor([x["music_id"] for x in items]),
            "frames": frames,
            "cues": cues,
            "video_mask": video_mask,
            "tokens": tokens,
            "text_mask": text_mask,
            "patches": patches,
            "patch_mask": patch_mask,
            "descriptors": torch.from_numpy(np.stack([x["descriptors"] for x in items])),
        }
