"""The bundle's tag labels grouped under the canonical tag names people use (engine.tags), as array lookups.

Filters, scores, explanations and the tag match all ask "how strongly does this have drums?" of the tag
probabilities the scan stored; this answers it for one row or a whole table at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.tags import TAG_GROUPS, THRESHOLD

TAG_PRESENT = THRESHOLD  # the same "clearly there" as in the tags a result shows


class TagIndex:
    """Rows of the bundle's tag labels behind each canonical tag name (synonyms merge by their maximum)."""

    def __init__(self, labels: Sequence[str]):
        self.rows: dict[str, list[int]] = {}
        for i, name in enumerate(labels):
            if name in TAG_GROUPS:
                self.rows.setdefault(TAG_GROUPS[name][1], []).append(i)
        self.names = list(self.rows)
        # The labels of every tag laid end to end, and where each tag's run starts: all strengths in one pass.
        self._order = np.array([i for tag in self.names for i in self.rows[tag]], dtype=np.int64)
        self._starts = np.cumsum([0] + [len(self.rows[tag]) for tag in self.names[:-1]])

    def strengths(self, probabilities: np.ndarray) -> np.ndarray:
        """Every tag's strength (`names` order) along the last axis."""
        gathered = np.asarray(probabilities[..., self._order], np.float32)
        return np.maximum.reduceat(gathered, self._starts, axis=-1)

    def strength(self, probabilities: np.ndarray, tag: str) -> np.ndarray:
        """Max probability over the tag's labels, along the last axis (0 for a tag the bundle lacks)."""
        rows = self.rows.get(tag)
        if not rows:
            return np.zeros(probabilities.shape[:-1], np.float32)
        return np.asarray(probabilities[..., rows], np.float32).max(axis=-1)
