"""The scoring and grouping stages: each candidate segment's score, then each track's best segment.

A segment scores its exact similarity to the query, minus what it misses of the prompt's preferences (soft
tempo words, an explicit BPM's closeness, a voice's gender), plus the track's tag match. A track is then
represented by its best-scoring candidate segment: its start is where the needle drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.library.index import SegmentIndex
from engine.recommend.candidates import Candidates
from engine.recommend.prompt import Constraint, Tempo, Vocals
from engine.recommend.tagindex import TagIndex

SOFT_TEMPO_WEIGHT = 0.3  # score lost by a segment a quarter or more outside a soft tempo range
TARGET_WEIGHT = 0.05  # score lost at the edge of an explicit BPM's tolerance: the closest tempo first
GENDER_WEIGHT = 0.1


@dataclass(frozen=True)
class Picks:
    """One row (segment) per track with its score, best track first."""

    rows: np.ndarray  # rows of the index
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def score(
    index: SegmentIndex,
    candidates: Candidates,
    constraints: Sequence[Constraint],
    tags: TagIndex,
    tag_scores: np.ndarray | None,
) -> np.ndarray:
    """Per candidate segment: similarity, less missed preferences, plus its track's tag match."""
    if not len(candidates.rows):
        return np.zeros(0, np.float32)
    track_rows = index.row_tracks[candidates.rows]
    penalty = soft_penalty(constraints, index.rows[candidates.rows], index.tracks[track_rows], tags)
    scores = candidates.similarity - penalty
    if tag_scores is not None:
        scores = scores + tag_scores[track_rows]
    return scores


def best_per_track(index: SegmentIndex, rows: np.ndarray, scores: np.ndarray) -> Picks:
    """Each track's best-scoring segment, best track first."""
    if not len(rows):
        return Picks(np.zeros(0, np.int64), np.zeros(0, np.float32))
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(index.rows["track"][rows][order], return_index=True)  # each track's best, by position
    best = order[np.sort(first)]
    return Picks(rows[best], scores[best])


def soft_penalty(
    constraints: Sequence[Constraint], segments: np.ndarray, tracks: np.ndarray, tags: TagIndex
) -> np.ndarray:
    """Score to subtract per candidate for the preferences it misses."""
    penalty = np.zeros(len(segments), np.float32)
    tempo = segments["tempo"].astype(np.float32)
    for c in constraints:
        if isinstance(c, Tempo) and not c.hard:
            low = c.min_bpm if c.min_bpm is not None else 0.0
            high = c.max_bpm if c.max_bpm is not None else np.inf
            miss = np.maximum(low - tempo, 0) / max(low, 1) + np.maximum(tempo - high, 0) / high
            penalty += SOFT_TEMPO_WEIGHT * np.where(np.isfinite(tempo), np.minimum(miss / 0.25, 1.0), 0.5)
        elif isinstance(c, Tempo) and c.target_bpm:
            lo, hi = c.min_bpm or c.target_bpm, c.max_bpm or c.target_bpm
            tolerance = max(c.target_bpm - lo, hi - c.target_bpm, 1.0)
            off = np.abs(tempo - c.target_bpm) / tolerance
            penalty += TARGET_WEIGHT * np.where(np.isfinite(off), np.minimum(off, 1.0), 1.0)
        elif isinstance(c, Vocals) and c.want in ("female", "male"):
            other = "male" if c.want == "female" else "female"
            lead = tags.strength(tracks["tag_peaks"], f"{c.want} vocals") - tags.strength(
                tracks["tag_peaks"], f"{other} vocals"
            )
            penalty -= GENDER_WEIGHT * np.clip(np.nan_to_num(lead), -1, 1)
    return penalty
