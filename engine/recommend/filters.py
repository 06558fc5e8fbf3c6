"""The hard-filter stage: a query's hard constraints (and excluded tracks) as a test on index rows.

Everything here reads the values the scan stored (segment tempo, track duration, vocal score, tag peaks),
never the embedding, so "at least 2 minutes" means that however the text encoder feels about numbers. A value
the scan could not measure (a tempo-less drone) fails a hard constraint on it: a filter only passes what it
can vouch for. Soft constraints (preferences) are the scoring stage's (`scoring.py`); `sung` is here beside
SUNG, the one threshold both read. An explicit tempo is a preference too, but its range is also searched
as if it were a filter here (`pipeline.tempo_filter`), so that its nearest tracks are never missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from engine.instruments import DRUM_TAGS, heard_none
from engine.library.index import SegmentIndex, best
from engine.recommend.prompt import Constraint, Exclude, Length, Tempo, Vocals
from engine.tags import TAG_PRESENT, TagIndex

# A segment is sung when voice tags outweigh instrumental tags (vocal score 0..1) this clearly; a track is
# sung when any of its segments is. First chosen, at 0.7, above every instrumental dev render of
# tests/bench/bench_vocals.py (0.5 called 18 % of them sung). Real produced music reads higher: at 0.7, 13 of
# 130 Kevin MacLeod recordings whose catalogue lists no voice were called sung (flutes, organs, synth and horn
# leads). Chosen again on a seeded half of them (the smallest step at which none of its 64 is called sung)
# and tested on the other half: 0 of 66 called sung (4 at 0.7); 9 of 12 real songs still heard, and 37 of 40
# renders with people's sung phrases over them (docs/quality.md, *Vocals*). "no vocals" re-ranks
# (instruments.vocals_filter_is_hard).
SUNG = 0.77
# Where a vocal score starts to suggest a voice, for "no vocals" as a preference: the sung test renders'
# median is 0.60, the instrumental ones' 0.33, and 0.5 called 18 % of the instrumental dev renders sung.
VOICE_DOUBT = 0.5


def sung(vocal_peak: np.ndarray) -> np.ndarray:
    """Per track, how surely a voice was heard, 0..1: 0 up to VOICE_DOUBT, 1 from SUNG (0.5 unmeasured)."""
    sure = np.clip((np.asarray(vocal_peak, np.float64) - VOICE_DOUBT) / (SUNG - VOICE_DOUBT), 0.0, 1.0)
    return np.where(np.isfinite(sure), sure, 0.5)


def _within(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    ok = np.isfinite(values)
    if low is not None:
        ok &= values >= low
    if high is not None:
        ok &= values <= high
    return ok


def track_mask(constraints: Sequence[Constraint], tracks: np.ndarray, tags: TagIndex) -> np.ndarray:
    """Which rows of a track table satisfy every hard constraint on whole tracks (length, vocals, exclusions)."""
    keep = np.ones(len(tracks), bool)
    for c in constraints:
        if not c.hard:
            continue
        if isinstance(c, Length):
            keep &= _within(tracks["duration"], c.min_seconds, c.max_seconds)
        elif isinstance(c, Vocals):
            peak = tracks["vocal_peak"]
            keep &= np.isfinite(peak) & ((peak < SUNG) if c.want == "none" else (peak >= SUNG))
        elif isinstance(c, Exclude) and c.tag in DRUM_TAGS:
            keep &= heard_none(tracks["drums"], tracks["drums_sfx"])
        elif isinstance(c, Exclude):
            strength = tags.strength(tracks["tag_peaks"], c.tag)
            keep &= np.isfinite(strength) & (strength < TAG_PRESENT)
    return keep


def segment_mask(constraints: Sequence[Constraint], tempo: np.ndarray) -> np.ndarray | None:
    """Which segments, given their tempo, satisfy every hard tempo constraint; None when there is none."""
    keep = None
    for c in constraints:
        if c.hard and isinstance(c, Tempo):
            within = _within(tempo, c.min_bpm, c.max_bpm)
            keep = within if keep is None else keep & within
    return keep


class RowFilter:
    """One query's hard constraints, testable on any rows of the index without touching the others.

    Track-level constraints (length, vocals, exclusions) are decided once per track; tempo per segment.
    The index keeps its rows in tempo order, so a tempo range is one contiguous block (`block`). Loose
    filters only test the candidates Annoy proposes; `fraction` (from a fixed sample of rows) says how loose.
    """

    def __init__(self, index: SegmentIndex, tracks_ok: np.ndarray | None, hard: list[Constraint]):
        self.index = index
        self.tracks_ok = tracks_ok
        self.hard = hard
        self._fraction: float | None = None
        tempos = [c for c in hard if isinstance(c, Tempo)]
        self.tempo: tuple[float, float] | None = None
        if tempos:
            low = max((c.min_bpm for c in tempos if c.min_bpm is not None), default=-np.inf)
            high = min((c.max_bpm for c in tempos if c.max_bpm is not None), default=np.inf)
            self.tempo = (low, high)

    @cached_property
    def block(self) -> slice | None:
        """The rows whose tempo is in range (None without a tempo constraint)."""
        return None if self.tempo is None else self.index.tempo_block(*self.tempo)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        ok = np.ones(len(rows), bool) if self.tracks_ok is None else self.tracks_ok[self.index.row_tracks[rows]]
        tempo_ok = segment_mask(self.hard, self.index.row_tempo[rows])
        return ok if tempo_ok is None else ok & tempo_ok

    def fraction(self) -> float:
        """The share of rows that pass, estimated on the index's sample (exact for small libraries)."""
        if self._fraction is None:
            sample = self.index.sample_rows
            self._fraction = float(self.rows(sample).mean()) if len(sample) else 0.0
        return self._fraction

    def exact(
        self, query: np.ndarray, n: int, gather_limit: int, scan_limit: int
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """The `n` nearest passing rows, and whether no other row passes: gathered when at most
        `gather_limit` rows pass the track filters (within the tempo block, if any); else a scan of the tempo
        block (or of every row) with the rest masked, when it holds at most `scan_limit` rows; else a visit
        of the index's coarse cells nearest to the query, taking only passing rows (`cells.py`)."""
        index = self.index
        block = self.block or slice(0, len(index))
        if self.tracks_ok is not None and self.fraction() * len(index) <= gather_limit:
            tracks = np.flatnonzero(self.tracks_ok)
            # Few rows pass, scattered across the index or across a large tempo block: gather them from
            # the passing tracks' rows (a scan of millions of vectors costs 100 ms and more), unless those
            # rows far outnumber a small block's: listing a row costs about a sixteenth of scoring one.
            if index.row_count(tracks) <= GATHER_PER_SCANNED * (block.stop - block.start):
                passing = index.rows_of_tracks(tracks)
                passing = passing[(passing >= block.start) & (passing < block.stop)]
                rows, scores = index.exact_rows(query, passing, n)
                return rows, scores, len(rows) < n
        if index.cells is not None and block.stop - block.start > scan_limit:
            tracks_ok, row_tracks = self.tracks_ok, index.row_tracks
            # The block is the tempo range: within it only the track filters remain to be tested.
            passing = None if tracks_ok is None else (lambda rows: tracks_ok[row_tracks[rows]])
            return index.cells.probe(index.vectors, query, n, block, passing)
        scores = index.vectors[block] @ query
        if self.tracks_ok is not None:
            scores[~self.tracks_ok[index.row_tracks[block]]] = -np.inf
        top = best(scores, n)
        return top + block.start, scores[top], len(top) < n


GATHER_PER_SCANNED = 16


def hard_filter(
    index: SegmentIndex, constraints: Sequence[Constraint], exclude_tracks: Sequence[int], tags: TagIndex
) -> RowFilter | None:
    """The hard constraints and excluded tracks as a test on index rows (None when nothing is excluded)."""
    hard = [c for c in constraints if c.hard]
    if not hard and not exclude_tracks:
        return None
    tracks_ok = None
    if any(not isinstance(c, Tempo) for c in hard) or exclude_tracks:
        tracks_ok = track_mask(hard, index.tracks, tags)
        if exclude_tracks:
            tracks_ok &= ~np.isin(index.tracks["track"], exclude_tracks)
    return RowFilter(index, tracks_ok, hard)
