"""Whether a track has drums, measured well enough to filter on: "no drums", "with drums".

musicnn's `drums` tag alone misses most kits (the demo's rock band and latin percussion passed "no drums").
Two cues are combined by a logistic fit: the drum hits the scan counts (engine/media/dsp.py: broadband jumps
of the treble, per second, in the track's busiest segment, so drums in one part count) and musicnn's
strongest `drums` reading over the track's segments.

Fitted on the dev renders of tests/bench/bench_drums.py (General MIDI kits, TimGM6mb) and measured on its
test renders (other works, the FluidR3 SoundFont, half of the drummed ones with recorded breakbeat, tabla
and hand-percussion loops instead of a kit). A filter is hard only where the measurement behind it is
reliable on held-out data (precision at least 0.95); `DRUMS_FILTER_IS_HARD` records whether "no drums"
met that there, and the README gives the figures. Instruments other than drums are read from musicnn's tags
alone, which are not that reliable: they only re-rank (prompt.py makes them preferences).
"""

from __future__ import annotations

import numpy as np

from engine.tags import TagIndex

# Bump when the inputs or the fit change: stored probabilities are then measured again from stored values.
VERSION = 1
DRUM_WEIGHTS = (4.2, 5.26)  # on log1p(hits per second), musicnn's drums strength
DRUM_BIAS = -4.04
NO_DRUMS_BELOW = 0.4  # "no drums" lets through tracks under this probability (every drummed dev render is above)
DRUMS_FROM = 0.5  # where a track counts as drummed ("with drums", the why)
# On the bench_drums.py test split "no drums" at NO_DRUMS_BELOW has precision 0.74, recall 0.85 (musicnn's
# tag alone: 0.59, 1.0): a General MIDI kit of an unseen SoundFont is often missed (recall of kits 0.4,
# of recorded loops 0.9). Short of 0.95, so "no drums" re-ranks rather than filters.
DRUMS_FILTER_IS_HARD = False
DRUM_TAGS = ("drums",)  # the exclusions this detector answers (engine.tags canonical names)


def drum_inputs(segment_hits: np.ndarray, tag_peaks: np.ndarray, tags: TagIndex) -> np.ndarray:
    """The detector's inputs for one track: its segments' drum hits per second and its tag peaks."""
    busiest = float(np.max(segment_hits)) if len(segment_hits) else 0.0
    return np.array([np.log1p(busiest), float(tags.strength(tag_peaks, "drums"))], np.float32)


def absent(probability: np.ndarray) -> np.ndarray:
    """How surely each track has no drums, 0..1: 1 under NO_DRUMS_BELOW, 0 from DRUMS_FROM (NaN: unmeasured)."""
    p = np.asarray(probability, np.float64)
    return np.clip((DRUMS_FROM - p) / (DRUMS_FROM - NO_DRUMS_BELOW), 0.0, 1.0)


def drum_probability(inputs: np.ndarray) -> np.ndarray:
    """P(drums) of one track's inputs (a vector) or of many (rows)."""
    z = np.asarray(inputs, np.float64) @ np.asarray(DRUM_WEIGHTS) + DRUM_BIAS
    return 1.0 / (1.0 + np.exp(-z))
