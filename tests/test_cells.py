"""Coarse cells (engine/library/cells.py): a filtered nearest-neighbour search that visits the cells nearest
to the query and scores only the rows that pass, on clustered vectors whose exact answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from engine.library.cells import cells_bytes, read_cells, train_cells, write_cells

ROWS, DIM, CLUSTERS = 12_000, 32, 60


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    """Unit vectors in clusters, rows in random cluster order (as an index's rows are in tempo order)."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((CLUSTERS, DIM))
    v = centres[rng.integers(0, CLUSTERS, ROWS)] + 0.35 * rng.standard_normal((ROWS, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def cells(vectors):
    return train_cells(vectors, count=48)


def exact(vectors, query, n, block, ok):
    rows = np.arange(block.start, block.stop)
    rows = rows[ok[rows]]
    scores = vectors[rows] @ query
    return rows[np.argsort(-scores, kind="stable")[:n]]


def test_every_row_is_in_exactly_one_cell_in_index_order(cells):
    assert sorted(cells.rows.tolist()) == list(range(ROWS))
    assert cells.bounds[0] == 0 and cells.bounds[-1] == ROWS and np.all(np.diff(cells.bounds) >= 0)
    for c in range(len(cells.centroids)):
        assert np.all(np.diff(cells.rows[cells.bounds[c] : cells.bounds[c + 1]]) > 0)  # a block is one run
    assert np.allclose(np.linalg.norm(cells.centroids, axis=1), 1, atol=1e-5)


def test_a_filtered_probe_finds_the_exact_nearest_passing_rows(vectors, cells):
    rng = np.random.default_rng(1)
    ok = rng.random(ROWS) > 0.3  # a track filter
    recall = []
    for _ in range(40):
        query = vectors[rng.integers(ROWS)]
        block = slice(int(rng.integers(0, ROWS // 2)), int(rng.integers(ROWS // 2, ROWS)))
        rows, scores, complete = cells.probe(vectors, query, 10, block, lambda r: ok[r])
        assert len(rows) == 10
        assert np.all((rows >= block.start) & (rows < block.stop)) and ok[rows].all()  # only passing rows
        assert np.allclose(scores, vectors[rows] @ query) and np.all(np.diff(scores) <= 0)  # exact, best first
        truth = set(exact(vectors, query, 10, block, ok))
        if complete:  # every cell was visited: the answer is the exact one
            assert set(rows) == truth
        recall.append(len(set(rows) & truth) / 10)
    assert np.mean(recall) >= 0.95


def test_a_filter_that_removes_the_neighbourhood_sends_the_probe_further(vectors, cells):
    query = vectors[0]
    near = vectors @ query > 0.5  # the query's whole cluster and its neighbours
    ok = ~near
    rows, _, _ = cells.probe(vectors, query, 10, slice(0, ROWS), lambda r: ok[r])
    assert len(rows) == 10 and ok[rows].all()
    assert set(rows) == set(exact(vectors, query, 10, slice(0, ROWS), ok))


def test_asking_for_more_than_passes_returns_all_of_it_and_says_so(vectors, cells):
    ok = np.zeros(ROWS, bool)
    ok[np.random.default_rng(2).choice(ROWS, 25, replace=False)] = True
    block = slice(0, ROWS)
    rows, _, complete = cells.probe(vectors, vectors[3], 100, block, lambda r: ok[r])
    assert complete and set(rows) == set(np.flatnonzero(ok))
    rows, _, complete = cells.probe(vectors, vectors[3], 10, slice(5, 5), None)  # an empty block
    assert complete and len(rows) == 0


def test_cells_round_trip_through_their_file_and_a_short_file_is_refused(vectors, cells, tmp_path):
    path = tmp_path / "x.cells"
    write_cells(cells, path)
    assert path.stat().st_size == cells_bytes(len(cells.centroids), ROWS, DIM)
    back = read_cells(path, len(cells.centroids), ROWS, DIM)
    for a, b in ((cells.centroids, back.centroids), (cells.rows, back.rows), (cells.bounds, back.bounds)):
        assert np.array_equal(a, b)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 8)
    with pytest.raises(OSError, match="does not hold"):
        read_cells(path, len(cells.centroids), ROWS, DIM)


def test_a_probe_cut_short_by_its_budget_or_by_n_is_not_complete(vectors, cells, monkeypatch):
    import engine.library.cells as module

    everything = slice(0, ROWS)
    rows, _, complete = cells.probe(vectors, vectors[5], 50, everything)  # every row passes: 50 of 12,000
    assert len(rows) == 50 and not complete
    monkeypatch.setattr(module, "ROWS_PER_CANDIDATE", 1)  # a budget of n rows: a cell or two
    rows, _, complete = cells.probe(vectors, vectors[5], 50, everything)
    assert len(rows) == 50 and not complete
    rows, _, complete = cells.probe(vectors, vectors[5], ROWS + 1, everything)  # more than there is
    assert len(rows) == ROWS and complete
