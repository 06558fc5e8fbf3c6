"""The bundle's three frozen backbones behind plain numpy calls.

Each class owns one ONNX Runtime session, takes its constants from the bundle's manifest, and runs in
bounded batches so a long clip or track never needs one giant tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from engine.bundle import Bundle, create_session


def _batched(session, feeds: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    total = len(next(iter(feeds.values())))
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for start in range(0, total, batch):
        outputs = session.run(names, {k: v[start : start + batch] for k, v in feeds.items()})
        for name, out in zip(names, outputs):
            parts[name].append(out)
    return {n: np.concatenate(p) for n, p in parts.items()}


class _Backbone:
    role: str
    batch_size: int
    bf16 = False  # whether the heads' inputs were shown to hold when the graph runs in bfloat16

    def __init__(self, bundle: Bundle, *, threads: int | None = None, bf16: bool | None = None):
        """`bf16=False` keeps a graph that allows bfloat16 in float32 (the parity checks do)."""
        self.bundle = bundle
        bf16 = self.bf16 if bf16 is None else bf16 and self.bf16
        self.session, self.execution = create_session(bundle.graph_path(self.role), threads=threads, bf16=bf16)


@dataclass(frozen=True)
class FrameFeatures:
    features: np.ndarray  # (N, 1280) float32
    probabilities: np.ndarray  # (N, 1000) ImageNet class probabilities


class FrameBackbone(_Backbone):
    role = "frame_backbone"
    batch_size = 16

    def __call__(self, frames: np.ndarray) -> FrameFeatures:
        """Frames already fitted by `engine.media.frames.fit_frame`: (N, size, size, 3) uint8."""
        size = self.bundle.manifest.preprocessing.video.frame_size
        if frames.ndim != 4 or frames.shape[1:] != (size, size, 3) or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (N, {size}, {size}, 3), got {frames.dtype} {frames.shape}")
        out = _batched(self.session, {"frames": frames}, self.batch_size)
        return FrameFeatures(out["features"], out["probabilities"])


@dataclass(frozen=True)
class TextFeatures:
    token_features: np.ndarray  # (N, tokens, 384); padding rows are meaningless, see attention_mask
    attention_mask: np.ndarray  # (N, tokens) int64
    sentence_embedding: np.ndarray  # (N, 384), unit length


class TextBackbone(_Backbone):
    role = "text_backbone"
    batch_size = 64

    def __init__(self, bundle: Bundle, *, threads: int | None = None):
        super().__init__(bundle, threads=threads)
        self.tokenizer = Tokenizer.from_file(str(bundle.file_path("tokenizer")))
        self.tokenizer.enable_truncation(bundle.manifest.preprocessing.text.max_tokens)
        self.tokenizer.enable_padding()  # to the longest text in the batch, not the file's fixed 128

    def __call__(self, texts: Sequence[str]) -> TextFeatures:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        out = _batched(self.session, {"input_ids": ids, "attention_mask": mask}, self.batch_size)
        return TextFeatures(out["token_features"], mask, out["sentence_embedding"])

    def knows(self, word: str) -> bool:
        """Whether `word` is a whole token of the vocabulary (the tokenizer lower-cases as MiniLM does): a word
        it must spell out in pieces ("asdkjh", "synthwave") is one the model learned little about."""
        normalizer = self.tokenizer.normalizer
        return self.tokenizer.token_to_id(normalizer.normalize_str(word) if normalizer else word) is not None


class MusicBackbone(_Backbone):
    role = "music_backbone"
    # One patch per call is both the fastest (the convolutions' working set stays in cache) and the
    # leanest: 34 ms per patch on one core, against 36 ms in batches of 8 (memory grows with the batch).
    batch_size = 1
    # A scan's main cost. In bfloat16 (where the CPU computes it) features keep a cosine of 0.999 and tags
    # stay within 0.02 of float32's, and the real recordings' figures do not move (docs/quality.md,
    # Scanning in bfloat16).
    bf16 = True

    def patches(self, wave: np.ndarray) -> np.ndarray:
        """A mono waveform -> (N, patch_samples) patches at the manifest's hop; the tail is zero-padded."""
        audio = self.bundle.manifest.preprocessing.audio
        size, hop = audio.patch_samples, audio.patch_hop_samples
        count = max(1, -(-max(len(wave) - size, 0) // hop) + 1)
        # Patches further apart than they are long (one heard in every hop) start inside the wave only.
        count = min(count, max(1, -(-len(wave) // hop)))
        padded = np.zeros((count - 1) * hop + size, dtype=np.float32)
        padded[: len(wave)] = wave[: len(padded)]
        return np.lib.stride_tricks.sliding_window_view(padded, size)[::hop].copy()

    def __call__(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """(N, samples) float32 at the manifest's sample rate -> {mtt,msd}_{features,tags} arrays."""
        if patches.ndim != 2 or patches.dtype != np.float32:
            raise ValueError(f"expected float32 patches (N, samples), got {patches.dtype} {patches.shape}")
        return _batched(self.session, {"wave": patches}, self.batch_size)
