"""The scoring and grouping stages: each candidate segment's score, then each track's best segment.

A segment scores its exact similarity to the query, minus what it misses of the prompt's preferences (soft
tempo words, an explicit BPM's closeness, a voice's gender, a key), plus the track's tag match, plus how well
its measured energy and mood (engine/affect.py) go with the feel of the words (feel.py). A track is then
represented by its best-scoring candidate segment: its start is where the needle drops. The score has no
scale outside its query, so results show a match percentage (`MatchScale`) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.instruments import DRUM_TAGS, absent
from engine.library.index import SegmentIndex
from engine.recommend.candidates import Candidates
from engine.recommend.feel import Feel
from engine.recommend.filters import SUNG, sung
from engine.recommend.keys import key_miss
from engine.recommend.prompt import Constraint, Exclude, Key, Tempo, Vocals
from engine.tags import TAG_PRESENT, TagIndex

SOFT_TEMPO_WEIGHT = 0.3  # score lost by a segment a quarter or more outside a tempo word's range ("slow")
# Score lost by a segment a quarter or more outside an explicit tempo's range ("90 BPM"), and by one whose
# half or double is in it, the share of that: as much as a sure, perfect tag match (recommender.TAG_WEIGHT),
# since a number typed is the most concrete thing a prompt asks. Those the scan reads in range come first,
# then those read an octave off, the estimator's common error (6 of 36 held-out renders read at the double
# or the half, 5 of 29 OpenMSX pieces at the half), then the rest. Never a filter: a tempo read in range is
# truly there for 66 % of held-out pieces (prompt.Tempo).
EXPLICIT_TEMPO_WEIGHT = 8.0
OCTAVE_SHARE = 0.5
TARGET_WEIGHT = 0.05  # score lost at the edge of an explicit BPM's tolerance: the closest tempo first
GENDER_WEIGHT = 0.1
# Score lost by a track in the key farthest from the one asked (keys.py): as much as a missed tempo word, as
# a key is a preference of the same kind, and no more, since the key estimate is often wrong (mode AUC 0.87).
KEY_WEIGHT = 0.3
# Score lost by a track that surely has what a preferred exclusion ("no drums (preference)", "no piano
# (preference)") names; drums are read by their detectors (engine/instruments.py), other tags by musicnn. Half
# an explicit tempo's, since no detector is sure enough to filter, yet enough to outweigh the feel and half a
# sure tag match: words that favour what is excluded ("energetic", "rock") must not bring it back first.
# (With the mood weighing 2 a full feel match can reach 4 too; on test that let one more drummed render
# into the feel prompts' top 10s: docs/quality.md, *Exclusions through the query*.)
# Chosen on the dev renders of tests/bench/bench_exclusions.py, where "<style>, no drums" reaches precision@5
# 0.42 at 4 (0.31 at 0.3, 0.38 at 2, 0.42 at 6, 0.40 at 8) and feel prompts ("energetic music, no guitar")
# let through 3 drummed and 1 guitar track of 60 (14 and 13 at 0.3); "no strings", whose tag is the weakest
# measure (bench_instruments.py), lets 4-7 through at every weight.
EXCLUDE_WEIGHT = 4.0
# The same for "no vocals (preference)" (and a voice preferred), by how surely a voice was heard
# (filters.sung). Chosen on the same dev renders with 40 of them sung over (bench_exclusions.py --vocals):
# the smallest weight from which "<style>, no vocals" gains no more precision@5, as the vocal score is
# doubtful on many instrumental renders, which a heavier weight would push down with the sung ones. With
# the ramp ending at filters.SUNG 0.7 that was 1 (0.60; 0.56 at 0.3); since SUNG is 0.77 (a longer ramp,
# each doubtful score costing less) it is 2 (0.53 at 0.3, 0.56 at 1, 0.58 from 2 to 8); on test 1 and 2
# score the same (0.49, one sung track in 45 top-5 places). A track called sung (filters.SUNG, the verdict
# "vocals" filters on: no instrumental test render reaches it) loses EXCLUDE_WEIGHT, as a sure drum kit
# does for "no drums".
VOICE_WEIGHT = 2.0
# What a full match of feel adds, per axis, chosen on two dev splits: the feel renders of
# tests/bench/bench_feel.py, where the energy AUC rises from 0.60 (no feel match) to 0.87 at 1.0 and mood
# P@5 from 0.47 to 0.77 at 0.3, and the real recordings of tests/bench/eval_feel_real.py, where the
# learned similarity knows little of feel: there energy AUC goes 0.66 -> 0.71 and mood P@5 0.22 -> 0.30
# from (1.0, 0.3) to (2.0, 1.0), and no further at 4.0. A full match is then worth more than what
# separates the similarities of most tracks, but a feel the words only half speak of adds half of it.
# The mood's weight was chosen again with its fit (engine/affect.py; tests/bench/fit_mood.py, on three dev
# sets: 1 and 2 tried at each mode share, 2 best at the share chosen).
ENERGY_WEIGHT = 2.0
MOOD_WEIGHT = 2.0
# How much of a segment's feel is its whole track's: a cue often runs past one 12-s segment, and a battle
# theme's quiet bar is not a calm track. On the real dev split the whole track's alone ranks best (energy
# AUC 0.71 against 0.65 at half), so a segment is chosen within its track by the rest of the score.
TRACK_FEEL = 1.0
# Score lost by a track with no music under any of the clip, in proportion to the share of the clip its
# whole length leaves without music: a 5-s sting under a 15-s clip loses two thirds of it. Under a clip the
# music should last it (the placing stage starts every longer track where it does), so a track too short
# for it ranks below one that lasts, unless it matches much better: half of a full energy match. A rule
# of the product, not a fit: no judged data says how editors trade a better match for a shorter one.
COVER_WEIGHT = 1.0


@dataclass(frozen=True)
class Picks:
    """One row (segment) per track with its score, best track first."""

    rows: np.ndarray  # rows of the index
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Parts:
    """Per candidate segment, the terms its score is the sum of."""

    similarity: np.ndarray  # weighted by the query's similarity weight
    preferences: np.ndarray  # minus what it misses of the preferences
    tags: np.ndarray
    feel: np.ndarray
    # The most any candidate loses for being too short for the clip (COVER_WEIGHT); within `preferences`.
    worst_cover: float = 0.0

    @property
    def total(self) -> np.ndarray:
        return self.similarity + self.preferences + self.tags + self.feel


def score_parts(
    index: SegmentIndex,
    candidates: Candidates,
    constraints: Sequence[Constraint],
    tags: TagIndex,
    tag_scores: np.ndarray | None,
    feels: tuple[Feel, ...] = (),
    similarity_weight: float = 1.0,
    clip_seconds: float | None = None,
) -> Parts:
    """Per candidate segment, term by term: similarity, less missed preferences (and, under a clip
    `clip_seconds` long, the share of it the track is too short for), plus its track's tag match and the
    match of its energy and mood with the words' feel (`Parts.total` is the score)."""
    zeros = np.zeros(len(candidates.rows), np.float32)
    if not len(candidates.rows):
        return Parts(zeros, zeros, zeros, zeros)
    track_rows = index.row_tracks[candidates.rows]
    segments = index.rows[candidates.rows]
    penalty = soft_penalty(constraints, segments, index.tracks[track_rows], tags)
    cover = np.zeros_like(penalty)
    if clip_seconds:
        cover = COVER_WEIGHT * uncovered(index.tracks["duration"][track_rows], clip_seconds)
    tag_part = zeros if tag_scores is None else tag_scores[track_rows]
    feel_part = zeros
    if feels:
        whole = index.tracks[track_rows]
        energy, mood = judged(segments["energy"], whole["energy"]), judged(segments["mood"], whole["mood"])
        feel_part = sum((feel_match(feel, energy, mood) for feel in feels), zeros)
    return Parts(similarity_weight * candidates.similarity, -(penalty + cover), tag_part, feel_part, float(cover.max()))


@dataclass(frozen=True)
class MatchScale:
    """A query's scores as a match percentage, 0–100, that a person can read.

    A score adds parts on scales of their own (similarity, tag match, feel, missed preferences), so its value
    (−0.507) means nothing outside its query. The match measures it against two scores of the same query:
    100 % is a track as good on every part as the best candidate is on that part (the nearest segment's
    similarity, the strongest tag match, the best feel, the fewest preferences missed), 0 % one that matches
    nothing asked (similarity 0, the cosine of an unrelated embedding; no tag or feel match; every preference
    missed in full). An increasing affine map of the score within a query, it orders results exactly as the
    score does; below 0 % is clipped (no match at all). It is relative to the library, not a calibrated
    probability (that would need judged pairs we do not have): 100 % means no track does better on any part.
    """

    floor: float
    best: float
    full_when_flat: bool = False  # nothing but filters asked: every result that passed them matches fully

    def percent(self, scores: np.ndarray | float) -> np.ndarray:
        span = self.best - self.floor
        if span <= 1e-9:
            return np.full(np.shape(scores), 100.0 if self.full_when_flat else 0.0)
        return np.clip(100.0 * (np.asarray(scores, np.float64) - self.floor) / span, 0.0, 100.0)


def match_scale(parts: Parts, constraints: Sequence[Constraint], similarity_asked: bool = True) -> MatchScale:
    """The scale of one query's scores (`MatchScale`). `similarity_asked` is False when the query vector is
    only a neutral stand-in for a prompt of constraints alone: its similarity then only breaks ties, so
    nothing is measured against it; the best score takes the top candidate's, whatever it is. Under a clip,
    matching nothing includes being as short for it as the shortest candidate (`Parts.worst_cover`), not
    a track of no length, which would lift every match."""
    if not len(parts.similarity):
        return MatchScale(0.0, 0.0)
    bests = {name: float(getattr(parts, name).max()) for name in ("similarity", "tags", "feel", "preferences")}
    # How far the best is above matching nothing. A part no candidate gets above zero (every track against
    # the words' feel) adds nothing to it: it lowers the best and the floor alike.
    worst = worst_penalty(constraints) + parts.worst_cover
    reach = max(bests["tags"], 0.0) + max(bests["feel"], 0.0) + bests["preferences"] + worst
    if similarity_asked:
        reach += max(bests["similarity"], 0.0)
    else:
        bests["similarity"] = float(parts.similarity[np.argmax(parts.total)])
    best = sum(bests.values())
    return MatchScale(best - reach, best, full_when_flat=not similarity_asked)


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


def worst_penalty(constraints: Sequence[Constraint]) -> float:
    """The most `soft_penalty` can subtract for these constraints: every preference missed in full."""
    worst = 0.0
    for c in constraints:
        if isinstance(c, Tempo) and c.explicit:
            worst += EXPLICIT_TEMPO_WEIGHT + TARGET_WEIGHT * (c.target_bpm is not None)
        elif isinstance(c, Tempo):
            worst += SOFT_TEMPO_WEIGHT
        elif isinstance(c, Vocals):
            worst += GENDER_WEIGHT * (c.want in ("female", "male"))
            worst += (EXCLUDE_WEIGHT if c.want == "none" else VOICE_WEIGHT) * (not c.hard)
        elif isinstance(c, Key):
            worst += KEY_WEIGHT
        elif isinstance(c, Exclude) and not c.hard:
            worst += EXCLUDE_WEIGHT
    return worst


def soft_penalty(
    constraints: Sequence[Constraint], segments: np.ndarray, tracks: np.ndarray, tags: TagIndex
) -> np.ndarray:
    """Score to subtract per candidate for the preferences it misses (`worst_penalty` at most)."""
    penalty = np.zeros(len(segments), np.float32)
    tempo = segments["tempo"].astype(np.float32)
    for c in constraints:
        if isinstance(c, Tempo) and c.explicit:
            # Unmeasured (a drone, a quick track) is not vouched for: the whole penalty.
            miss = tempo_miss(c, tempo)
            if c.octaves_count:
                octave = np.minimum(tempo_miss(c, tempo / 2), tempo_miss(c, tempo * 2))
                miss = np.minimum(miss, OCTAVE_SHARE + (1 - OCTAVE_SHARE) * octave)
            penalty += EXPLICIT_TEMPO_WEIGHT * np.where(np.isfinite(tempo), miss, 1.0)
            if c.target_bpm:
                lo, hi = c.min_bpm or c.target_bpm, c.max_bpm or c.target_bpm
                tolerance = max(c.target_bpm - lo, hi - c.target_bpm, 1.0)
                off = np.abs(tempo - c.target_bpm) / tolerance
                penalty += TARGET_WEIGHT * np.where(np.isfinite(off), np.minimum(off, 1.0), 1.0)
        elif isinstance(c, Tempo):
            penalty += SOFT_TEMPO_WEIGHT * np.where(np.isfinite(tempo), tempo_miss(c, tempo), 0.5)
        elif isinstance(c, Vocals):
            if c.want in ("female", "male"):
                other = "male" if c.want == "female" else "female"
                lead = tags.strength(tracks["tag_peaks"], f"{c.want} vocals") - tags.strength(
                    tracks["tag_peaks"], f"{other} vocals"
                )
                penalty -= GENDER_WEIGHT * np.clip(np.nan_to_num(lead), -1, 1)
            if not c.hard:  # a voice preferred or preferred absent, by how surely one was heard
                heard = sung(tracks["vocal_peak"]).astype(np.float32)
                penalty += VOICE_WEIGHT * (heard if c.want == "none" else 1 - heard)
                if c.want == "none":
                    penalty += (EXCLUDE_WEIGHT - VOICE_WEIGHT) * (tracks["vocal_peak"] >= SUNG)
        elif isinstance(c, Key):
            penalty += KEY_WEIGHT * key_miss(c, tracks["tonic"], tracks["mode"]).astype(np.float32)
        elif isinstance(c, Exclude) and not c.hard:
            penalty += EXCLUDE_WEIGHT * present(c.tag, tracks, tags).astype(np.float32)
    return penalty


def uncovered(duration: np.ndarray, clip_seconds: float) -> np.ndarray:
    """The share of a clip that tracks this long leave without music, 0 (they last it) to 1."""
    return np.clip(1.0 - np.asarray(duration, np.float32) / clip_seconds, 0.0, 1.0)


def tempo_miss(c: Tempo, tempo: np.ndarray) -> np.ndarray:
    """How far tempi are outside a tempo constraint's range, 0 (within) to 1 (a quarter or more outside)."""
    low = c.min_bpm if c.min_bpm is not None else 0.0
    high = c.max_bpm if c.max_bpm is not None else np.inf
    with np.errstate(invalid="ignore"):
        miss = np.maximum(low - tempo, 0) / max(low, 1) + np.maximum(tempo - high, 0) / high
    return np.minimum(miss / 0.25, 1.0)


def present(tag: str, tracks: np.ndarray, tags: TagIndex) -> np.ndarray:
    """Per track, how surely it has `tag`, 0..1 (0.5 where nothing was measured): drums by their detector,
    other tags by musicnn's strongest segment, in full from TAG_PRESENT."""
    if tag in DRUM_TAGS:
        sure = 1.0 - absent(tracks["drums"], tracks["drums_sfx"])
    else:
        sure = np.clip(tags.strength(tracks["tag_peaks"], tag) / TAG_PRESENT, 0.0, 1.0)
    return np.where(np.isfinite(sure), sure, 0.5)
