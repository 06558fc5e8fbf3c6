"""The last stage: picks become results, each with a short "why" in the words people use.

The why names what the segment was measured to have of what was asked (tags, tempo, vocals, length) and
the clip's pace. Tracks on drives that are not plugged in are left out here, with the catalog's word on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.library.catalog import Catalog
from engine.library.index import SegmentIndex
from engine.recommend.feel import BUSY_MOTION, CALM_MOTION, QUICK_CUTS, Feel
from engine.recommend.prompt import Constraint, Exclude, Length, Tempo, Vocals
from engine.recommend.result import Result
from engine.recommend.scoring import Picks, judged
from engine.tags import TAG_PRESENT, TagIndex

FEEL_SAID = 0.25  # measured energy or mood (-1..+1) clear enough to name in a why


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def picture_words(cues: dict[str, float]) -> str:
    motion, cuts = cues.get("motion", 0.0), cues.get("cuts_per_second", 0.0)
    pace = "calm" if motion < CALM_MOTION else "busy" if motion >= BUSY_MOTION else "moving"
    return f"{pace} picture" + (", quick cuts" if cuts >= QUICK_CUTS else "")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _judged(segment: dict, track: dict) -> tuple[float | None, float | None]:
    """The energy and mood a result was scored by (its track's, in part: scoring.TRACK_FEEL)."""
    values = []
    for key in ("energy", "mood"):
        own, whole = segment.get(key), track.get(key)
        values.append(own if own is None or whole is None else float(judged(own, whole)))
    return values[0], values[1]


def _feel_words(feel: Feel, energy: float | None, mood: float | None) -> list[str]:
    """The measured energy and mood the words asked about, said only where they go the asked way."""
    out = []
    for value, z, strength, high, low in (
        (energy, feel.energy, feel.energy_strength, "high energy", "low energy"),
        (mood, feel.mood, feel.mood_strength, "bright mood", "dark mood"),
    ):
        if strength > 0 and value is not None and value * z > 0 and abs(value) >= FEEL_SAID:
            out.append(f"{high if value > 0 else low} ({value:+.1f})")
    return out


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
    feel: Feel | None = None,
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
    if feel is not None:
        parts += _feel_words(feel, *_judged(segment, track))
    if clip_cues is not None:
        if bpm and not any(isinstance(c, Tempo) for c in constraints):
            parts.append(f"{bpm:.0f} BPM")
        parts.append(f"for a {picture_words(clip_cues)}")
    return " · ".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class Asked:
    """What the explanations speak to: the prompt's words and constraints, and the clip's cues."""

    text: str | None = None
    constraints: Sequence[Constraint] = ()
    clip_cues: dict[str, float] | None = None
    feel: Feel | None = None


def explained(
    picks: Picks, k: int, index: SegmentIndex, catalog: Catalog, tags: TagIndex, asked: Asked
) -> list[Result]:
    """Results for the picks in order, skipping tracks that are offline, until there are `k`."""
    named = named_tags(asked.text, tags)
    out: list[Result] = []
    for begin in range(0, len(picks), 2 * k):
        rows = picks.rows[begin : begin + 2 * k]
        segment_ids = [int(i) for i in index.rows["segment"][rows]]
        track_ids = [int(i) for i in index.rows["track"][rows]]
        tracks = catalog.track_details(track_ids)
        segments = catalog.segment_details(segment_ids)
        for score, segment_id, track_id in zip(picks.scores[begin : begin + 2 * k], segment_ids, track_ids):
            track, segment = tracks.get(track_id), segments.get(segment_id)
            if track is None or segment is None or not track["online"]:
                continue
            judged_energy, judged_mood = _judged(segment, track)
            reason = why(
                asked=named,
                constraints=asked.constraints,
                segment=segment,
                track=track,
                tags=tags,
                clip_cues=asked.clip_cues,
                feel=asked.feel,
            )
            out.append(
                Result(
                    track_id=track_id,
                    path=track["path"],
                    title=track["title"],
                    artist=track["artist"],
                    album=track["album"],
                    score=round(float(score), 4),
                    start=round(segment["start"], 2),
                    end=round(segment["end"], 2),
                    duration=round(track["duration"], 2),
                    bpm=segment["tempo_bpm"] or track["tempo_bpm"],
                    tags=segment_tags(segment["tags"], tags),
                    why=reason,
                    energy=_rounded(judged_energy),
                    mood=_rounded(judged_mood),
                )
            )
            if len(out) == k:
                return out
    return out
