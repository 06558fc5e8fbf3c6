"""musicnn's tags grouped the way people talk about music: genres, moods, instruments and voice.

Used by explanations and filters in the app and by text synthesis in training, so both describe a track
with the same words. `TagIndex` answers "how strongly does this have drums?" of stored tag probabilities,
for one row or a whole table at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.errors import BundleError

# The catalog stores a segment's tag probabilities in steps of 1/TAG_SCALE (one byte each).
TAG_SCALE = 255.0


def as_stored(probabilities: np.ndarray) -> np.ndarray:
    """Tag probabilities in the steps the catalog stores them in: what is measured from them at scan
    (energy, mood) then equals what is measured again later from the stored bytes."""
    return np.round(np.clip(np.asarray(probabilities, np.float32), 0, 1) * TAG_SCALE) / TAG_SCALE


# musicnn's 100 tag names (MTT + MSD) -> (group, canonical name). Synonyms merge by their maximum;
# decades are left out: they describe a recording's era, not what a scene needs.
TAG_GROUPS: dict[str, tuple[str, str]] = {
    **{
        t: ("genres", t)
        for t in (
            "techno",
            "rock",
            "ambient",
            "opera",
            "pop",
            "new age",
            "dance",
            "country",
            "metal",
            "alternative",
            "indie",
            "alternative rock",
            "jazz",
            "classic rock",
            "soul",
            "indie rock",
            "folk",
            "punk",
            "oldies",
            "blues",
            "hard rock",
            "experimental",
            "easy listening",
            "funk",
            "heavy metal",
            "indie pop",
        )
    },
    "classical": ("genres", "classical"),
    "classic": ("genres", "classical"),
    "indian": ("genres", "indian"),
    "electronic": ("genres", "electronic"),
    "electronica": ("genres", "electronic"),
    "electro": ("genres", "electronic"),
    "chillout": ("genres", "chillout"),
    "Hip-Hop": ("genres", "hip-hop"),
    "Progressive rock": ("genres", "progressive rock"),
    "rnb": ("genres", "R&B"),
    "House": ("genres", "house"),
    **{
        t: ("moods", t)
        for t in ("loud", "quiet", "soft", "weird", "beautiful", "chill", "party", "sexy", "catchy", "sad", "happy")
    },
    "Mellow": ("moods", "mellow"),
    "slow": ("moods", "slow"),
    "fast": ("moods", "fast"),
    **{
        t: ("instruments", t)
        for t in (
            "guitar",
            "strings",
            "drums",
            "piano",
            "violin",
            "synth",
            "harpsichord",
            "flute",
            "sitar",
            "harp",
            "cello",
            "choir",
            "acoustic",
        )
    },
    "choral": ("instruments", "choir"),
    "beat": ("instruments", "beat"),
    "beats": ("instruments", "beat"),
    "solo": ("instruments", "solo"),
    **{t: ("instruments", "vocals") for t in ("vocal", "vocals", "singing", "voice")},
    **{
        t: ("instruments", "female vocals")
        for t in ("female", "woman", "female vocal", "female voice", "female vocalists", "female vocalist")
    },
    **{t: ("instruments", "male vocals") for t in ("male", "man", "male vocal", "male voice", "male vocalists")},
    **{t: ("instruments", "instrumental") for t in ("no vocals", "no vocal", "no voice", "instrumental")},
}
GROUPS = ("genres", "moods", "instruments")
VOICE_TAGS = ("vocals", "female vocals", "male vocals", "instrumental")  # a voice's tags, which contradict
THRESHOLD = 0.2  # musicnn's probabilities are low-contrast: 0.2 already means "clearly there"
TAG_PRESENT = THRESHOLD  # the same "clearly there" in filters, explanations and the tags a result shows
PER_GROUP = 3


def group_tags(summary: dict) -> dict[str, dict[str, float]]:
    """Confident tags by group, synonyms merged, strongest first, from {"tags": {name: probability}}."""
    merged: dict[str, dict[str, float]] = {g: {} for g in GROUPS}
    for name, p in summary["tags"].items():
        if name in TAG_GROUPS:
            group, canonical = TAG_GROUPS[name]
            merged[group][canonical] = max(p, merged[group].get(canonical, 0.0))
    vocal = {k: merged["instruments"].pop(k, 0.0) for k in VOICE_TAGS}
    # Voice tags contradict each other; keep the instrumental or the strongest voice, not both.
    if vocal["instrumental"] >= max(vocal["vocals"], vocal["female vocals"], vocal["male vocals"]):
        merged["instruments"]["instrumental"] = vocal["instrumental"]
    else:
        voice = max(("female vocals", "male vocals", "vocals"), key=lambda k: vocal[k])
        merged["instruments"][voice] = vocal[voice]
    chosen = {}
    for group in GROUPS:
        ranked = sorted(merged[group].items(), key=lambda kv: -kv[1])
        chosen[group] = {k: v for k, v in ranked[:PER_GROUP] if v >= THRESHOLD}
    if not any(chosen.values()):  # never say nothing: fall back to the two strongest tags
        everything = sorted(((g, k, v) for g in GROUPS for k, v in merged[g].items()), key=lambda x: -x[2])
        for g, k, v in everything[:2]:
            chosen[g][k] = v
    return chosen


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

    def weights(self, fitted: dict[str, float], fit: str) -> np.ndarray:
        """A fit's weights per tag ({canonical name: weight}) in `names` order, 0 for tags it does not read;
        BundleError naming the `fit` when it reads a tag this bundle lacks."""
        missing = sorted(set(fitted) - set(self.names))
        if missing:
            raise BundleError(f"{fit} reads tags this bundle lacks ({', '.join(missing)}): refit it")
        return np.array([fitted.get(name, 0.0) for name in self.names], np.float64)

    def strength(self, probabilities: np.ndarray, tag: str) -> np.ndarray:
        """Max probability over the tag's labels, along the last axis (0 for a tag the bundle lacks)."""
        rows = self.rows.get(tag)
        if not rows:
            return np.zeros(probabilities.shape[:-1], np.float32)
        return np.asarray(probabilities[..., rows], np.float32).max(axis=-1)
