"""Weak affect pairing: clips and music segments that agree in arousal and valence become pairs.

Arousal and valence are estimated from several cues each, so that no single cue decides a pair:
- clip arousal: motion energy, cut rate (and a little saturation); clip valence: brightness, warmth,
  saturation;
- music arousal: the energy the app measures (engine/affect.py: a fit of musicnn's tags), onset density,
  loudness; music valence: the mood the app measures (a fit of the same tags, with the mode read with
  the bass).
Each cue is rank-normalised over the corpus, cues are averaged with the weights below, and the result is
rank-normalised again, so both spaces spread evenly over [0, 1]². A clip is paired with segments drawn
with probability proportional to exp(-d² / 2σ²), d the distance in that square, and, with probability
`noise`, with a segment drawn uniformly: agreement is a tendency, not a rule the model could memorise.
"""

from __future__ import annotations

import numpy as np

from engine import affect

CLIP_AROUSAL = {"motion": 1.0, "cuts_per_second": 1.0, "saturation": 0.25}
CLIP_VALENCE = {"brightness": 1.0, "warmth": 0.7, "saturation": 0.5}


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1]; ties share their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # average ties
        same = values == v
        ranks[same] = ranks[same].mean()
    return ranks / max(len(values) - 1, 1)


def _combine(components: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = sum(weights[k] * rank(components[k]) for k in weights)
    return rank(total / sum(weights.values()))


def clip_affect(cues: list[dict[str, float]]) -> np.ndarray:
    """(clips, 2) arousal and valence from each clip's mean cues."""
    table = {k: np.array([c[k] for c in cues]) for k in cues[0]}
    return np.stack([_combine(table, CLIP_AROUSAL), _combine(table, CLIP_VALENCE)], axis=1)


def music_affect(summaries: list[dict]) -> np.ndarray:
    """(segments, 2) arousal and valence from text-synthesis summaries (tags, tempo, loudness, mode)."""
    measured = np.array([affect.of_tags(s["tags"], s["mode"]) for s in summaries])
    table = {
        "energy": measured[:, 0],  # the app's own measure (engine/affect.py), so pairs agree with queries
        "onsets": np.array([s["onset_rate"] for s in summaries]),
        "loudness": np.array([s["loudness_db"] for s in summaries]),
        "mood": measured[:, 1],
    }
    arousal = _combine(table, {"energy": 2.0, "onsets": 1.0, "loudness": 0.5})
    valence = _combine(table, {"mood": 1.0})
    return np.stack([arousal, valence], axis=1)


def pair(
    clips: np.ndarray,
    segments: np.ndarray,
    rng: np.random.Generator,
    *,
    per_clip: int = 3,
    sigma: float = 0.12,
    noise: float = 0.1,
    max_uses: int = 4,
) -> list[tuple[int, int]]:
    """(clip, segment) index pairs; each clip gets `per_clip` distinct segments, each segment few clips."""
    uses = np.zeros(len(segments), int)
    pairs = []
    for c in rng.permutation(len(clips)):
        d2 = ((segments - clips[c]) ** 2).sum(axis=1)
        weights = np.exp(-d2 / (2 * sigma**2)) * (uses < max_uses)
        chosen: set[int] = set()
        for _ in range(per_clip):
            available = weights.copy()
            available[list(chosen)] = 0
            if rng.random() < noise or available.sum() == 0:
                free = np.flatnonzero((uses < max_uses) & ~np.isin(np.arange(len(segments)), list(chosen)))
                if len(free) == 0:
                    break
                s = int(rng.choice(free))
            else:
                s = int(rng.choice(len(segments), p=available / available.sum()))
            chosen.add(s)
            uses[s] += 1
            pairs.append((int(c), s))
    return pairs
