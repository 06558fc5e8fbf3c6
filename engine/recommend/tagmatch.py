"""The prompt's words against the tags the scan stored: explicit evidence beside the learned embedding.

The default model learned words from synthesised descriptions of a small corpus, and names of instruments
and genres are where it is weakest (`make eval`: a training-free tag baseline beat it there). The scan
already stored musicnn's tag probabilities for every track, so a prompt that names a tag, or something
close to one ("acoustic guitar ballad" -> guitar, acoustic, mellow), can be matched against them directly:
prompt and tag names go through the same MiniLM sentence encoder, the nearest few tags above a floor of
similarity are weighted by it, and a track scores the weighted mean of its strongest segment's
probabilities for them. The recommender adds this to the embedding's similarity and also draws candidates
from it, so a track the embedding ranks low but whose tags match the words can still be found.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.features import FeatureExtractor
from engine.instruments import DRUM_TAGS, may_say
from engine.tags import VOICE_TAGS, TagIndex

TOP_TAGS = 4  # a prompt rarely names more things than this
FLOOR = 0.45  # MiniLM similarity below which a tag is not what the words mean (tuned on the dev split)
VOICE = set(VOICE_TAGS)  # parsed as constraints instead
# A weight from which the words name a tag clearly (MiniLM similarity 0.615): "string quartet" names strings
# (0.47), "orchestral" comes near violin (0.29) and "warm acoustic" near guitar (0.10) without naming them.
CLEARLY_NAMED = 0.3


@dataclass(frozen=True)
class TagQuery:
    """The tags a prompt names, with weights in (0, 1]: how surely it names each."""

    tags: tuple[str, ...]
    weights: np.ndarray

    @property
    def strength(self) -> float:
        """How much the prompt is about tags at all: the largest weight (0 for none)."""
        return float(self.weights.max()) if len(self.weights) else 0.0

    def sayable(self) -> tuple[str, ...]:
        """The tags a why may name as asked for: each the words name clearly, and any other that may be said
        of a track unasked (instruments.may_say). An instrument musicnn names often wrongly, which the words
        only came near, is left out: "warm acoustic" weighs guitar a little, and musicnn calls a piano trio
        "guitar", which its why then said."""
        return tuple(t for t, w in zip(self.tags, self.weights) if w >= CLEARLY_NAMED or may_say(t))


class TagMatcher:
    def __init__(self, extractor: FeatureExtractor, tags: TagIndex, floor: float = FLOOR):
        self.extractor = extractor
        self.tags = tags
        self.floor = floor
        self.names = [t for t in tags.rows if t not in VOICE]

    @cached_property
    def _name_vectors(self) -> np.ndarray:
        return self.extractor.text_backbone(self.names).sentence_embedding

    def query(self, sentence: np.ndarray) -> TagQuery:
        """The tags named by a prompt, given its MiniLM sentence embedding (unit length)."""
        similarity = self._name_vectors @ sentence
        top = np.argsort(-similarity)[:TOP_TAGS]
        top = top[similarity[top] > self.floor]
        weights = (similarity[top] - self.floor) / (1.0 - self.floor)
        return TagQuery(tuple(self.names[i] for i in top), weights.astype(np.float32))

    def scores(self, query: TagQuery, peaks: np.ndarray, drums: np.ndarray | None = None) -> np.ndarray:
        """Per row of `peaks` (tag probabilities of tracks), how well its tags match the words, 0..1. Drums
        are read from the drum detectors' strength (`drums`, engine/instruments.py `drum_strength`) where
        measured: musicnn's tag misses most kits."""
        if not query.tags:
            return np.zeros(len(peaks), np.float32)
        strengths = np.stack([self._strength(peaks, drums, t) for t in query.tags], axis=-1)
        match = strengths @ query.weights / query.weights.sum()
        # Scaled by how surely the words name tags at all: "guitar" counts fully, "sunset" barely.
        return np.nan_to_num(query.strength * match).astype(np.float32)

    def _strength(self, peaks: np.ndarray, drums: np.ndarray | None, tag: str) -> np.ndarray:
        tagged = self.tags.strength(peaks, tag)
        if tag in DRUM_TAGS and drums is not None:
            return np.where(np.isfinite(drums), drums, tagged)
        return tagged
