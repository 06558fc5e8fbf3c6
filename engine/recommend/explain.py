"""The short "why" beside each result: which asked-for things the segment has, in the words people use."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from engine.recommend.filters import TAG_PRESENT, TagIndex
from engine.recommend.prompt import Constraint, Exclude, Length, Tempo, Vocals

# The clip's mean motion (mean absolute change of a grey thumbnail between frames, 0..1) and cut rate,
# in the words an editor would use for the picture.
CALM_MOTION, BUSY_MOTION = 0.01, 0.04
QUICK_CUTS = 0.3  # per second


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def picture_words(cues: dict[str, float]) -> str:
    motion, cuts = cues.get("motion", 0.0), cues.get("cuts_per_second", 0.0)
    pace = "calm" if motion < CALM_MOTION else "busy" if motion >= BUSY_MOTION else "moving"
    return f"{pace} picture" + (", quick cuts" if cuts >= QUICK_CUTS else "")


def segment_tags(probabilities: np.ndarray | None, tags: TagIndex, limit: int = 3) -> list[str]:
    """The segment's clearest tags, strongest first (voice tags left to the vocals wording)."""
    if probabilities is None:
        return []
    skip = {"vocals", "female vocals", "male vocals", "instrumental"}
    strengths = dict(zip(tags.names, tags.strengths(probabilities).tolist()))
    ranked = sorted(((t, p) for t, p in strengths.items() if t not in skip), key=lambda kv: -kv[1])
    return [t for t, p in ranked[:limit] if p >= TAG_PRESENT]


def named_tags(text: str | None, tags: TagIndex) -> list[str]:
    """The tags a prompt names word for word ("piano" in "calm piano"), for the explanations."""
    if not text:
        return []
    lowered = text.lower()
    return [t for t in tags.names if re.search(rf"\b{re.escape(t.lower())}\b", lowered)]


def why(
    *,
    asked: Sequence[str],
    constraints: Sequence[Constraint],
    segment: dict,
    track: dict,
    tags: TagIndex,
    clip_cues: dict[str, float] | None,
) -> str:
    parts: list[str] = []
    probabilities = segment.get("tags")
    if probabilities is not None and asked:
        parts += [t for t in asked if tags.strength(probabilities, t) >= TAG_PRESENT]
    if not parts:
        parts += segment_tags(probabilities, tags, 2)
    bpm = segment.get("tempo_bpm") or track.get("tempo_bpm")
    for c in constraints:
        if isinstance(c, Tempo) and bpm:
            # A tempo word only prefers: say that the track meets it only when it does.
            met = (c.min_bpm is None or bpm >= c.min_bpm) and (c.max_bpm is None or bpm <= c.max_bpm)
            parts.append(f"{bpm:.0f} BPM ({c.label})" if met else f"{bpm:.0f} BPM")
        elif isinstance(c, (Vocals, Exclude)):
            parts.append(c.label)
        elif isinstance(c, Length):
            parts.append(f"{_clock(track['duration'])} long")
    if clip_cues is not None:
        if bpm and not any(isinstance(c, Tempo) for c in constraints):
            parts.append(f"{bpm:.0f} BPM")
        parts.append(f"for a {picture_words(clip_cues)}")
    return " · ".join(dict.fromkeys(parts))
