"""The trained ViML heads: clips, prompts and music segments into one embedding space.

A clip and a prompt are encoded separately (and can be cached separately); `query` fuses whichever are
present into one unit vector that is compared with music segment embeddings by dot product.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from engine.bundle import Bundle, create_session
from engine.errors import BundleError
from engine.features import ClipFeatures, FeatureExtractor, MusicFeatures, Segment

HEADS = ("video_head", "text_head", "fusion_head", "music_head")


@dataclass(frozen=True)
class Encoded:
    """One modality after its head: per-step tokens and their pooled vector."""

    tokens: np.ndarray  # (steps, width)
    pooled: np.ndarray  # (width,)


def _pad(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    length = max(1, max(len(r) for r in rows))
    out = np.zeros((len(rows), length, rows[0].shape[1]), np.float32)
    mask = np.zeros((len(rows), length), bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = True
    return out, mask


class Embedder:
    def __init__(self, bundle: Bundle, extractor: FeatureExtractor | None = None, *, threads: int | None = None):
        missing = [role for role in HEADS if role not in bundle.manifest.graphs]
        if missing:
            raise BundleError(
                f"bundle {bundle.id} has no trained heads ({', '.join(missing)} missing): build it with "
                "`needledrop models build --heads CHECKPOINT`, or with the default heads"
            )
        self.bundle = bundle
        self.extractor = extractor or FeatureExtractor(bundle, threads=threads)
        self.sessions = {}
        for role in HEADS:
            self.sessions[role], self.execution = create_session(bundle.graph_path(role), threads=threads)
        self.width = next(t.shape[1] for t in bundle.manifest.graphs["fusion_head"].inputs if t.name == "video")
        self.dim = bundle.manifest.embedding_dim

    def _run(self, role: str, **feeds: np.ndarray) -> list[np.ndarray]:
        return self.sessions[role].run(None, feeds)

    def encode_clip_features(self, clip: ClipFeatures) -> Encoded:
        tokens, pooled = self._run(
            "video_head",
            frames=clip.frames[None].astype(np.float32),
            cues=clip.cues[None].astype(np.float32),
            video_mask=np.ones((1, len(clip.frames)), bool),
        )
        return Encoded(tokens[0], pooled[0])

    def encode_clip(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> Encoded:
        return self.encode_clip_features(self.extractor.clip(path, start, end))

    def encode_prompt(self, text: str) -> Encoded:
        (tokens,) = self.extractor.text([text])
        return self.encode_prompt_tokens(tokens)

    def encode_prompt_tokens(self, tokens: np.ndarray) -> Encoded:
        """A prompt's MiniLM token features (tokens, 384) through the text head."""
        out_tokens, pooled = self._run(
            "text_head", tokens=tokens[None].astype(np.float32), text_mask=np.ones((1, len(tokens)), bool)
        )
        return Encoded(out_tokens[0], pooled[0])

    def query(self, clip: Encoded | None = None, text: Encoded | None = None) -> np.ndarray:
        """The fused query: clip and prompt, either one alone, as a unit vector of `embedding_dim`."""
        if clip is None and text is None:
            raise ValueError("a query needs a clip, a prompt, or both")
        absent = Encoded(np.zeros((1, self.width), np.float32), np.zeros(self.width, np.float32))
        video, words = clip or absent, text or absent
        (query,) = self._run(
            "fusion_head",
            video_tokens=video.tokens[None],
            video_mask=np.full((1, len(video.tokens)), clip is not None),
            video=video.pooled[None],
            text_tokens=words.tokens[None],
            text_mask=np.full((1, len(words.tokens)), text is not None),
            text=words.pooled[None],
        )
        return query[0]

    def embed_segments(self, music: MusicFeatures, segments: list[Segment] | None = None) -> np.ndarray:
        """(segments, embedding_dim) unit vectors, one per music segment (all of the track's by default)."""
        segments = music.segments() if segments is None else segments
        names = self.bundle.manifest.preprocessing.audio.descriptors
        out = []
        for start in range(0, len(segments), 64):  # bounded batches: a three-hour mix has 1,800 segments
            batch = segments[start : start + 64]
            patches, mask = _pad([music.patches[s.patches] for s in batch])
            descriptors = np.stack([music.descriptors(s).vector(names) for s in batch])
            out += self._run("music_head", patches=patches, patch_mask=mask, descriptors=descriptors)
        return np.concatenate(out)
