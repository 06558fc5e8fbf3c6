"""The candidates stage: the segments nearest to the query that pass the hard filters.

How to search is decided once per query from the index's size and how much the filters leave: every
vector exactly (an index small enough that this is faster than Annoy), everything through Annoy (no
filter), the passing rows exactly (a narrow filter: scattered rows are gathered, a tempo range is one
contiguous block of the index), the coarse cells nearest to the query (`engine/library/cells.py`: a
filter that removes much of a large index), or Annoy's pool widened by what the filter removes (one that
removes little). When the survivors are too few for k tracks the pool grows (`wider`), and a widened
Annoy search that lost the query's whole neighbourhood to the filter turns to the passing rows, exactly or
through the cells. Tracks with explicit evidence for the words (their stored tags or their measured feel
match) join the candidates whatever their similarity, and so do the nearest segments read within an
explicit tempo (`joined`: a preference, searched as a filter would be, so that its range is never missed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.library.index import EXACT_BELOW, SegmentIndex
from engine.recommend.filters import RowFilter

FIRST_POOL = 400  # candidate segments looked at first; grown fourfold while fewer than k tracks survive
MAX_POOL = 102_400
# Exact search instead of Annoy when a filter leaves few segments: scattered ones are gathered (a few ms for
# this many), a tempo range is a contiguous block of the index (its rows are in tempo order: 10 ms per 340k).
EXACT_ROWS = 60_000
EXACT_BLOCK = 400_000
# A filter that removes more than this share of a large index's rows may remove the query's whole
# neighbourhood, which costs a wasted Annoy search (10 ms at 100,000 tracks) before the cells are probed:
# such filters go to the cells straight away (they find 97.5-98 % of the exact nearest in 15 ms).
PROBE_FROM_REMOVED = 0.1
EVIDENCE_CANDIDATES = 64  # tracks drawn by their tags or feel alone, beside the embedding's nearest segments


@dataclass(frozen=True)
class Candidates:
    rows: np.ndarray  # rows of the index, all passing the hard filters
    similarity: np.ndarray  # exact cosine similarity to the query
    searched: int  # segments the search looked at (for "only N satisfy the constraints among ...")
    exhausted: bool  # nothing beyond these can pass: a larger pool would find no more

    def joined(self, other: Candidates) -> Candidates:
        """These and `other`'s rows (a search of fewer rows, such as an explicit tempo's range)."""
        extra = ~np.isin(other.rows, self.rows)
        return Candidates(
            np.concatenate([self.rows, other.rows[extra]]),
            np.concatenate([self.similarity, other.similarity[extra]]),
            max(self.searched, other.searched),
            self.exhausted,
        )


class CandidateSearch:
    """One query's search, from the first pool to wider ones."""

    def __init__(
        self,
        index: SegmentIndex,
        query: np.ndarray,
        rule: RowFilter | None,
        evidence: np.ndarray | None = None,
        pool: int | None = None,
    ):
        """`evidence`: per track of the index, how much explicit evidence it has for the words (0: none);
        `pool`: the segments looked at first (FIRST_POOL by default)."""
        self.index = index
        self.query = query
        self.rule = rule
        self.evidence = evidence
        self.pool = pool or FIRST_POOL
        self.passing = len(index)
        self.exact = False  # search the passing rows exactly rather than Annoy's proposals
        if rule is not None:
            self.passing = round(rule.fraction() * len(index))
            block = rule.block
            self.exact = (
                len(index) <= EXACT_BELOW
                or self.passing <= EXACT_ROWS
                or (block is not None and block.stop - block.start <= EXACT_BLOCK)
                or (index.cells is not None and self.passing < (1 - PROBE_FROM_REMOVED) * len(index))
            )

    def find(self) -> Candidates:
        """About `pool` nearest passing segments, and the tag-matched tracks' segments."""
        rows, similarity, exhausted = self._nearest()
        if self.evidence is not None:
            rows, similarity = self._with_evidence(rows, similarity)
        return Candidates(rows, similarity, min(self.pool, self.passing), exhausted)

    def wider(self) -> None:
        """Look further next time: exactly, if a widened Annoy search was filtered away, else a larger pool."""
        if self.rule is not None and not self.exact:
            self.exact = True  # the filter removes the query's neighbourhood: search what passes exactly
        else:
            self.pool *= 4

    def _nearest(self) -> tuple[np.ndarray, np.ndarray, bool]:
        index, rule, pool = self.index, self.rule, self.pool
        if rule is None:
            rows, similarity = index.nearest_rows(self.query, pool)
            return rows, similarity, pool >= len(index) or pool >= MAX_POOL
        if self.exact:
            rows, similarity, complete = rule.exact(self.query, pool, EXACT_ROWS, EXACT_BLOCK)
            return rows, similarity, complete or pool >= MAX_POOL
        # Widen the pool by how much the filters remove, so that about `pool` candidates survive them.
        wide = min(len(index), int(np.ceil(pool / max(rule.fraction(), 1e-9))))
        rows, similarity = index.nearest_rows(self.query, wide)
        keep = rule.rows(rows)
        return rows[keep], similarity[keep], wide >= len(index)

    def _with_evidence(self, rows: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the `EVIDENCE_CANDIDATES` allowed tracks with the most evidence, merged into the
        candidates."""
        index, rule, scores = self.index, self.rule, self.evidence
        if rule is not None and rule.tracks_ok is not None:
            scores = np.where(rule.tracks_ok, scores, -np.inf)
        count = min(EVIDENCE_CANDIDATES, len(scores))
        if count <= 0:
            return rows, similarity
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.isfinite(scores[best]) & (scores[best] > 0)]
        extra = index.rows_of_tracks(best)
        if rule is not None:
            extra = extra[rule.rows(extra)]
        extra = np.setdiff1d(extra, rows)
        if not len(extra):
            return rows, similarity
        return np.concatenate([rows, extra]), np.concatenate([similarity, index.vectors[extra] @ self.query])
