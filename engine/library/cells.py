"""Coarse cells over the segment vectors: nearest-neighbour search that a filter cannot starve.

Annoy only proposes the query's nearest items; when a filter removes that whole neighbourhood ("around 90
bpm" for a query that sits among 120 BPM tracks) nothing it proposes passes, and the only other way was an
exact scan of the passing rows, which costs 25 ms per million at memory speed. Here the vectors are
clustered once, at index build, into cells of about `CELL_ROWS` (k-means on a sample, cosine), and a query
visits the cells nearest to it, best first, taking only their passing rows, until enough passing rows have
been scored: the inverted-file search of FAISS's IndexIVFFlat, with the filter applied inside each cell.
FAISS itself would keep a second copy of every vector in memory (its lists hold them); these cells hold only
row numbers into the index's one memory-mapped vectors file.

Within a cell, rows are kept in index order, which is tempo order: a tempo range is one contiguous run of
each cell, found by binary search over all cells at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

CELL_ROWS = 1_600  # rows per cell on average: 2,000 cells at 100,000 tracks
MAX_CELLS = 4_096
TRAIN_ROWS_PER_CELL = 48  # k-means sees this many sample rows per cell
TRAIN_ROUNDS = 8
# Rows of the block scored for a pool of n: at 100,000 tracks (3.4 million rows, 2,000 cells) 160 n (64k
# for the first pool of 400) found 94-97 % of the exact ten nearest passing segments in 11 ms; 240 n finds
# 97.5-98 % in 15 ms, against 40-128 ms for an exact scan of a 0.8-2.3-million-row tempo block
# (tests/bench/bench_recommend.py).
ROWS_PER_CANDIDATE = 240
ASSIGN_CHUNK = 16_384


def cell_count(rows: int) -> int:
    return int(np.clip(rows // CELL_ROWS, 1, MAX_CELLS))


@dataclass(frozen=True)
class Cells:
    centroids: np.ndarray  # (C, dim) float32, unit length
    rows: np.ndarray  # (count,) int64: index rows, cell by cell, ascending within each cell
    bounds: np.ndarray  # (C + 1,) int64: cell c holds rows[bounds[c]:bounds[c + 1]]

    @cached_property
    def keys(self) -> np.ndarray:
        """cell * count + row for `rows`: ascending overall, so one search finds a row range in every cell
        (made on first use, in memory: 8 bytes a row, 27 MB at 100,000 tracks)."""
        cells = np.repeat(np.arange(len(self.centroids), dtype=np.int64), np.diff(self.bounds))
        return cells * len(self.rows) + self.rows

    def probe(
        self,
        vectors: np.ndarray,
        query: np.ndarray,
        n: int,
        block: slice,
        passing: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """About the `n` nearest rows within `block` (a row range) that `passing` accepts, best first, with
        their exact similarity, and whether these are all the rows that pass (every cell was visited and
        no more than `n` passed).

        Cells are visited nearest first until `ROWS_PER_CANDIDATE * n` rows of the block have been looked
        at, and further while fewer than `n` of them pass.
        """
        total = len(self.rows)
        base = np.arange(len(self.centroids), dtype=np.int64) * total
        starts = np.searchsorted(self.keys, base + block.start)
        sizes = np.searchsorted(self.keys, base + block.stop) - starts
        order = np.argsort(-(self.centroids @ query))
        order = order[sizes[order] > 0]
        budget = ROWS_PER_CANDIDATE * n
        found_rows, found_scores = [], []
        kept = visited = 0
        while visited < len(order) and kept < n:
            reach = np.cumsum(sizes[order[visited:]])
            take = min(int(np.searchsorted(reach, budget)) + 1, len(reach))
            cells = order[visited : visited + take]
            visited += take
            rows = self.rows[_runs(starts[cells], sizes[cells])]
            if passing is not None:
                rows = rows[passing(rows)]
            kept += len(rows)
            found_rows.append(rows)
            found_scores.append(vectors[rows] @ query)
            budget *= 2  # the filter passes little here: look twice as far
        rows = np.concatenate(found_rows or [np.zeros(0, np.int64)])
        scores = np.concatenate(found_scores or [np.zeros(0, np.float32)])
        if len(scores) > n:  # a partial sort: the scored rows are tens of thousands, the pool hundreds
            part = np.argpartition(-scores, n - 1)[:n]
            rows, scores = rows[part], scores[part]
        top = np.argsort(-scores, kind="stable")
        return rows[top], scores[top], visited >= len(order) and kept <= n


def _runs(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Positions starts[i] .. starts[i] + sizes[i] - 1 of every run, run after run, without a Python loop."""
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.repeat(starts, sizes) + within


def train_cells(vectors: np.ndarray, count: int | None = None, seed: int = 0) -> Cells:
    """`count` cells (by default `cell_count`) for unit `vectors`: spherical k-means on a sample, then every
    row to its nearest centroid."""
    rng = np.random.default_rng(seed)
    count = min(count or cell_count(len(vectors)), len(vectors))
    size = min(len(vectors), TRAIN_ROWS_PER_CELL * count)
    sample = np.asarray(vectors[np.sort(rng.choice(len(vectors), size, replace=False))], np.float32)
    centroids = sample[rng.choice(len(sample), count, replace=False)].copy()
    for _ in range(TRAIN_ROUNDS):
        nearest = _nearest_centroid(sample, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        empty = np.bincount(nearest, minlength=count) == 0
        # An empty cell restarts at a random sample row rather than staying dead.
        sums[empty] = sample[rng.choice(len(sample), int(empty.sum()))]
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    assigned = _nearest_centroid(vectors, centroids)
    rows = np.argsort(assigned, kind="stable")  # stable: ascending rows (tempo order) within each cell
    bounds = np.searchsorted(assigned[rows], np.arange(count + 1))
    return Cells(centroids.astype(np.float32), rows.astype(np.int64), bounds.astype(np.int64))


def _nearest_centroid(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Per row, its most similar centroid, a chunk of rows at a time (a chunk's similarities take
    `ASSIGN_CHUNK` x cells x 4 bytes: 140 MB at 2,000 cells)."""
    out = np.empty(len(vectors), np.int64)
    for start in range(0, len(vectors), ASSIGN_CHUNK):
        out[start : start + ASSIGN_CHUNK] = np.argmax(vectors[start : start + ASSIGN_CHUNK] @ centroids.T, axis=1)
    return out


def cells_bytes(count: int, rows: int, dim: int) -> int:
    return count * dim * 4 + rows * 8 + (count + 1) * 8


def write_cells(cells: Cells, path: Path) -> None:
    """Raw little-endian arrays, one after another: centroids, rows, bounds (sizes are in the index pointer)."""
    with open(path, "wb") as out:
        for array, dtype in ((cells.centroids, "<f4"), (cells.rows, "<i8"), (cells.bounds, "<i8")):
            np.ascontiguousarray(array, dtype=dtype).tofile(out)


def read_cells(path: Path, count: int, rows: int, dim: int) -> Cells:
    """The cells of an index of `rows` rows, memory-mapped."""
    if path.stat().st_size != cells_bytes(count, rows, dim):
        raise OSError(f"{path} does not hold {count} cells of {rows} rows: a rebuild replaced it mid-read")
    data = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)
    split = count * dim * 4
    centroids = data[:split].view("<f4").reshape(count, dim)
    order = data[split : split + rows * 8].view("<i8")
    bounds = np.array(data[split + rows * 8 :].view("<i8"))
    if bounds[0] != 0 or bounds[-1] != rows or np.any(np.diff(bounds) < 0):
        raise OSError(f"{path} is damaged: its cell bounds do not cover its {rows} rows")
    return Cells(centroids, order, bounds)
