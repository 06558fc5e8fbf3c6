"""The scoring and grouping stages: each candidate segment's score, then each track's best segment.

A segment scores its exact similarity to the query, minus what it misses of the prompt's preferences (soft
tempo words, an explicit BPM's closeness, a voice's gender), plus the track's tag match, plus how well its
measured energy and mood (engine/affect.py) go with the feel of the words (feel.py). A track is then
represented by its best-scoring candidate segment: its start is where the needle drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.library.index import SegmentIndex
from engine.recommend.candidates import Candidates
from engine.recommend.feel import Feel
from engine.recommend.prompt import Constraint, Tempo, Vocals
from engine.tags import TagIndex

SOFT_TEMPO_WEIGHT = 0.3  # score lost by a segment a quarter or more outside a soft tempo range
TARGET_WEIGHT = 0.05  # score lost at the edge of an explicit BPM's tolerance: the closest tempo first
GENDER_WEIGHT = 0.1
# What a full match of feel adds, per axis, chosen on two dev splits: the feel renders of
# tests/bench/bench_feel.py, where the energy AUC rises from 0.60 (no feel match) to 0.87 at 1.0 and mood
# P@5 from 0.47 to 0.77 at 0.3, and the real recordings of tests/bench/eval_feel_real.py, where the
# learned similarity knows little of feel: there energy AUC goes 0.66 -> 0.71 and mood P@5 0.22 -> 0.30
# from (1.0, 0.3) to (2.0, 1.0), and no further at 4.0. A full match is then worth more than what
# separates the similarities of most tracks, but a feel the words only half speak of adds half of it.
ENERGY_WEIGHT = 2.0
MOOD_WEIGHT = 1.0
# How much of a segment's feel is its whole track's: a cue often runs past one 12-s segment, and a battle
# theme's quiet bar is not a calm track. On the real dev split the whole track's alone ranks best (energy
# AUC 0.71 against 0.65 at half), so a segment is chosen within its track by the rest of the score.
TRACK_FEEL = 1.0


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
    feels: tuple[Feel, ...] = (),
    similarity_weight: float = 1.0,
) -> np.ndarray:
    """Per candidate segment: similarity, less missed preferences, plus its track's tag match and the match
    of its energy and mood with the words' feel."""
    if not len(candidates.rows):
        return np.zeros(0, np.float32)
    track_rows = index.row_tracks[candidates.rows]
    segments = index.rows[candidates.rows]
    penalty = soft_penalty(constraints, segments, index.tracks[track_rows], tags)
    scores = similarity_weight * candidates.similarity - penalty
    if tag_scores is not None:
        scores = scores + tag_scores[track_rows]
    if feels:
        whole = index.tracks[track_rows]
        energy, mood = judged(segments["energy"], whole["energy"]), judged(segments["mood"], whole["mood"])
        for feel in feels:
            scores = scores + feel_match(feel, energy, mood)
    return scores


def judged(segment: np.ndarray | float, track: np.ndarray | float) -> np.ndarray:
    """The energy (or mood) a segment is judged by: its own, mixed with its whole track's (TRACK_FEEL);
    either alone where the other is not measured (NaN)."""
    own, whole = np.asarray(segment, np.float32), np.asarray(track, np.float32)
    mixed = (1 - TRACK_FEEL) * own + TRACK_FEEL * whole
    return np.where(np.isnan(own), whole, np.where(np.isnan(whole), own, mixed))


def feel_match(feel: Feel, energy: np.ndarray, mood: np.ndarray) -> np.ndarray:
    """Score for segments' (or tracks') measured energy and mood against the words' feel: towards the end
    of each axis the words point to, as surely as they speak of it (NaN, not measured: no change)."""
    match = np.zeros(len(energy), np.float32)
    for z, strength, weight, values in (
        (feel.energy, feel.energy_strength, ENERGY_WEIGHT, energy),
        (feel.mood, feel.mood_strength, MOOD_WEIGHT, mood),
    ):
        if strength > 0:
            match += weight * strength * np.sign(z) * np.nan_to_num(np.asarray(values, np.float32))
    return match


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
