"""The encoding stage: a clip, the prompt's words, or both become one query vector.

The clip goes through the frame backbone and the video head (cached per file, range and bundle, so moving
the balance slider or editing the prompt never re-decodes video); the words through the text backbone and
head (cached per text), and also against the tag names (`tagmatch.py`). The fusion head joins them, and the
balance slides the query from the picture alone (0) through the fused query (0.5) to the words alone (1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.bundle import Bundle
from engine.embedder import Embedder, Encoded
from engine.errors import EmptyRangeError, NeedledropError
from engine.recommend.clip_cache import ClipCache, ClipEmbedding, clip_key
from engine.recommend.feel import Feel, FeelReader
from engine.recommend.tagmatch import TagMatcher, TagQuery

NEUTRAL_TEXT = "music"  # embedded when a prompt holds only constraints and there is no clip


class QueryError(NeedledropError):
    """A recommendation request that cannot be answered as asked (the message says why)."""


@dataclass(frozen=True)
class EncodedQuery:
    vector: np.ndarray  # unit length, the embedding space's
    clip: ClipEmbedding | None
    words: TagQuery | None  # the tags the prompt's own words name (None without words)
    feel: Feel | None  # where the prompt's own words point on energy and mood (None without words)
    neutral: bool = False  # neither words nor a clip: the vector only gathers candidates (NEUTRAL_TEXT)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return unit((1 - t) * a + t * b)


class QueryEncoder:
    def __init__(self, bundle: Bundle, embedder: Embedder, cache: ClipCache, matcher: TagMatcher):
        self.bundle = bundle
        self.embedder = embedder
        self.cache = cache
        self.matcher = matcher
        self.feel = FeelReader(embedder.extractor)
        self.words = lru_cache(maxsize=256)(self._words)

    def encode(
        self,
        video: str | os.PathLike[str] | None,
        start: float,
        end: float | None,
        text: str | None,
        balance: float,
    ) -> EncodedQuery:
        """The query for a clip range and the prompt's free text (constraints already parsed out)."""
        clip = self.clip(video, start, end) if video is not None else None
        own_words = text
        if text is None and clip is None:
            text = NEUTRAL_TEXT  # only constraints were given: they do the choosing
        encoded, named, feel = self.words(text) if text else (None, None, None)
        vector = self.vector(clip.encoded if clip else None, encoded, balance)
        if not own_words:
            named = feel = None
        return EncodedQuery(vector, clip, named, feel, neutral=not own_words and clip is None)

    def _words(self, text: str) -> tuple[Encoded, TagQuery, Feel]:
        """Words through the text head, the tags they name and their feel (cached: a prompt is re-asked as it is
        edited)."""
        (tokens,), sentences = self.embedder.extractor.text_with_sentences([text])
        sentence = sentences[0]
        return self.embedder.encode_prompt_tokens(tokens), self.matcher.query(sentence), self.feel.read(sentence)

    def clip(self, path: str | os.PathLike[str], start: float = 0.0, end: float | None = None) -> ClipEmbedding:
        """The clip between `start` and `end` seconds through the video head, from the cache when it can be."""
        if start < 0 or (end is not None and end <= start):
            raise QueryError(f"clip range {start}–{end} s is empty or negative: the out point must follow the in point")
        if not Path(path).is_file():
            there = "a folder, a device or a pipe, not a video file" if Path(path).exists() else "no such video file"
            raise QueryError(f"{there}: {path}")
        key = clip_key(path, start, end, self.bundle.id)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            features = self.embedder.extractor.clip(path, start, end)
        except EmptyRangeError as exc:  # an in point past a file of known length: a bad query, not a bad file
            if not exc.duration:
                raise
            raise QueryError(
                f"{Path(path).name} is {exc.duration:.2f} s long: the in point {start:g} s is past its end"
            ) from exc
        names = self.bundle.manifest.preprocessing.video.cues
        cues = {name: float(v) for name, v in zip(names, features.cues.mean(axis=0))}
        stop = features.duration if end is None else min(end, features.duration)
        clip = ClipEmbedding(self.embedder.encode_clip_features(features), cues, stop - start, features.duration)
        self.cache.put(key, clip)
        return clip

    def vector(self, clip: Encoded | None, text: Encoded | None, balance: float = 0.5) -> np.ndarray:
        """The fused query; with both inputs, `balance` slides from the picture alone (0) to the words alone (1)."""
        if not 0.0 <= balance <= 1.0:
            raise QueryError(f"balance must be between 0 (picture only) and 1 (words only), not {balance}")
        if clip is None or text is None:
            return unit(self.embedder.query(clip, text))
        both = unit(self.embedder.query(clip, text))
        if balance < 0.5:
            return _blend(unit(self.embedder.query(clip, None)), both, balance / 0.5)
        return _blend(both, unit(self.embedder.query(None, text)), (balance - 0.5) / 0.5)
