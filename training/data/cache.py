"""Base features computed once per media range and kept on disk, so reruns and other experiments reuse them.

Entries are content-addressed by (file path, size, mtime, range, bundle id): touching a file or changing
the bundle computes afresh, never mixes. Each entry is written to a temporary file and renamed, so a
killed run leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from engine.features import FEATURES_VERSION, FeatureExtractor
from training.textsynth import summarize


class FeatureCache:
    def __init__(self, root: str | Path, extractor: FeatureExtractor):
        self.root = Path(root) / extractor.bundle.id
        self.extractor = extractor
        self.pre = extractor.pre

    def _key(self, kind: str, *parts) -> Path:
        digest = hashlib.sha256(json.dumps([kind, FEATURES_VERSION, *parts]).encode()).hexdigest()
        return self.root / kind / digest[:2] / f"{digest}.npz"

    def _file_identity(self, path: str) -> list:
        stat = os.stat(path)
        return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]

    def _load_or(self, key: Path, compute) -> dict[str, np.ndarray]:
        if key.is_file():
            with np.load(key) as data:
                return dict(data)
        arrays = compute()
        key.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=key.parent, suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return arrays

    def clip(self, path: str, start: float, end: float | None) -> dict[str, np.ndarray]:
        def compute():
            clip = self.extractor.clip(path, start, end)
            return {"frames": clip.frames.astype(np.float16), "cues": clip.cues, "times": clip.times}

        return self._load_or(self._key("clip", *self._file_identity(path), start, end), compute)

    def music(self, path: str, start: float, end: float | None) -> dict[str, np.ndarray]:
        """One music segment: its first `segment_seconds` from `start` (a longer range is cut there)."""
        limit = start + self.pre.audio.segment_seconds
        end = limit if end is None else min(end, limit)

        def compute():
            music = self.extractor.music_file(path, start, end)
            segment = music.segments()[0]
            return {
                "patches": music.patches[segment.patches].astype(np.float16),
                "tags": music.tags[segment.patches].mean(axis=0),
                "descriptors": music.descriptors(segment).vector(self.pre.audio.descriptors),
                # What text synthesis works from (tags by name, tempo, key), as JSON.
                "summary": np.array(json.dumps(summarize(music, segment, self.extractor.tag_names))),
            }

        return self._load_or(self._key("music", *self._file_identity(path), start, end), compute)

    def texts(self, texts: list[str]) -> list[np.ndarray]:
        """Token features per text; the backbone runs in batches over the ones not cached yet."""
        keys = [self._key("text", t) for t in texts]
        missing = sorted({t for t, k in zip(texts, keys) if not k.is_file()})
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            for text, tokens in zip(batch, self.extractor.text(batch)):
                self._load_or(self._key("text", text), lambda tokens=tokens: {"tokens": tokens.astype(np.float16)})
        return [self._load_or(k, lambda: None)["tokens"] for k in keys]
