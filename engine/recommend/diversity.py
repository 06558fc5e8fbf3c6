"""The diversity stage: at most N tracks per artist or album, when the user asks for it."""

from __future__ import annotations

from collections import Counter

from engine.library.index import SegmentIndex
from engine.recommend.scoring import Picks


def capped(index: SegmentIndex, picks: Picks, per_artist: int | None, per_album: int | None) -> Picks:
    """`picks` in order, skipping tracks over a cap (unknown artists and albums are never capped)."""
    if per_artist is None and per_album is None:
        return picks
    counts: Counter = Counter()
    keep = []
    for i, row in enumerate(picks.rows):
        track = index.tracks[index.row_tracks[row]]
        keys = [(f, int(track[f]), cap) for f, cap in (("artist", per_artist), ("album", per_album)) if cap]
        if any(key and counts[(f, key)] >= cap for f, key, cap in keys):
            continue
        counts.update((f, key) for f, key, _ in keys if key)
        keep.append(i)
    return Picks(picks.rows[keep], picks.scores[keep])
