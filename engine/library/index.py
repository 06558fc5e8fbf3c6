"""The Annoy index over segment vectors, swapped in atomically, queried with an exact re-rank.

A build writes `<name>.ann`, `<name>.rows` (per Annoy item: its segment, track, start, end and tempo) and
`<name>.tracks` (per track: the values prompt filters test) under new names, then replaces `index.json`
(the pointer) with one rename: a reader sees the old index or the new one, never half of either. A process that has
the old files open keeps them (Annoy memory-maps the file, and POSIX keeps a removed file alive while it
is mapped). Annoy only proposes candidates; their exact cosine similarity decides the order.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from engine.errors import NeedledropError
from engine.library.catalog import SEGMENT_ROW, Catalog, track_row

log = logging.getLogger(__name__)

POINTER = "index.json"
# Chosen from measured recall on segment embeddings (make bench): with 400 candidates and search_k 80,000,
# recall@10 against exact search is 1.00 at 100k vectors and >= 0.98 at 1M; more trees barely help, a larger
# search_k does.
N_TREES = 48
CANDIDATES_PER_RESULT = 40  # Annoy proposes this many per wanted result; the exact re-rank picks the best
MIN_CANDIDATES = 400
SEARCH_K_PER_CANDIDATE = 200
LAYOUT = 2  # of the files below; a pointer to another layout reads as "no index", and the next scan rebuilds


class IndexMissingError(NeedledropError):
    """No usable index (never built, or made by another bundle)."""


@dataclass(frozen=True)
class IndexInfo:
    bundle_id: str
    file: str
    rows: str
    tracks: str
    count: int
    dim: int
    labels: int
    n_trees: int
    built_at: float
    layout: int


def _write_json_atomically(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_annoy(vectors: np.ndarray, path: Path, n_trees: int = N_TREES) -> None:
    """An angular Annoy index of the rows of `vectors` (item i = row i), saved to `path`."""
    index = AnnoyIndex(vectors.shape[1], "angular")
    for i, v in enumerate(vectors):
        index.add_item(i, v)
    index.build(n_trees, n_jobs=-1)
    index.save(str(path))
    index.unload()


def nearest(
    annoy: AnnoyIndex, count: int, vector: np.ndarray, n: int, candidates: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the `n` nearest items to `vector` and their exact cosine similarity, best first.

    Annoy proposes `candidates` items (by default `CANDIDATES_PER_RESULT` times more than wanted); their
    stored vectors decide.
    """
    candidates = min(count, candidates or max(n * CANDIDATES_PER_RESULT, MIN_CANDIDATES))
    items = annoy.get_nns_by_vector(vector, candidates, search_k=candidates * SEARCH_K_PER_CANDIDATE)
    if not items:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    exact = np.array([annoy.get_item_vector(i) for i in items], dtype=np.float32) @ vector
    order = np.argsort(-exact)[:n]
    return np.array(items)[order], exact[order]


def build_index(catalog: Catalog, bundle_id: str, folder: Path, *, n_trees: int = N_TREES) -> IndexInfo:
    """Index every segment vector `bundle_id` produced, then make it the current index."""
    folder.mkdir(parents=True, exist_ok=True)
    ids, vectors = catalog.segment_vectors(bundle_id)
    rows, tracks = catalog.segment_rows(bundle_id), catalog.track_table(bundle_id)
    if not np.array_equal(rows["segment"], ids):
        raise IndexMissingError("the catalog changed while the index was being built: build it again")
    dim = vectors.shape[1] if len(vectors) else 0
    name = f"segments-{int(time.time())}-{uuid.uuid4().hex[:8]}"
    ann_path = folder / f"{name}.ann"
    if len(ids):
        tmp = folder / f".{name}.ann.tmp"
        write_annoy(vectors, tmp, n_trees)
        os.replace(tmp, ann_path)
    else:
        ann_path.write_bytes(b"")
    # Raw arrays rather than .npy: np.load parses the .npy header with ast.literal_eval, and CPython 3.11's
    # AST constructor is not safe when two threads parse at once (gh-106905).
    rows.tofile(folder / f"{name}.rows")
    tracks.tofile(folder / f"{name}.tracks")
    labels = tracks.dtype["tag_peaks"].shape[0] if tracks.dtype["tag_peaks"].shape else 0
    info = IndexInfo(
        bundle_id, ann_path.name, f"{name}.rows", f"{name}.tracks", len(ids), dim, labels, n_trees, time.time(), LAYOUT
    )
    previous = read_index_info(folder)
    _write_json_atomically(folder / POINTER, info.__dict__)
    # Keep the generation just replaced (a reader may have read the old pointer a moment ago); remove the
    # older ones. Readers that already opened them keep their memory mapping.
    keep = {POINTER, *_files(info), *(_files(previous) if previous else ())}
    for path in folder.glob("segments-*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    log.info("indexed %d segments of bundle %s", len(ids), bundle_id)
    return info


def _files(info: IndexInfo) -> tuple[str, str, str]:
    return info.file, info.rows, info.tracks


def _read_table(path: Path, dtype: np.dtype, count: int | None = None) -> np.ndarray:
    table = np.fromfile(path, dtype=dtype)
    if count is not None and len(table) != count:
        raise OSError(f"{path} holds {len(table)} rows, its index {count}: a rebuild replaced it mid-read")
    return table


def read_index_info(folder: Path) -> IndexInfo | None:
    try:
        info = IndexInfo(**json.loads((folder / POINTER).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    return info if info.layout == LAYOUT else None


class SegmentIndex:
    """A loaded index: nearest segments to a query, exactly re-ranked."""

    def __init__(self, folder: Path, bundle_id: str):
        for attempt in range(3):  # a rebuild may replace the files between reading the pointer and opening them
            try:
                self._open(folder, bundle_id)
                return
            except OSError:
                if attempt == 2:
                    raise

    def _open(self, folder: Path, bundle_id: str) -> None:
        info = read_index_info(folder)
        if info is None:
            raise IndexMissingError(f"no library index in {folder}: scan the library first (`needledrop library scan`)")
        if info.bundle_id != bundle_id:
            raise IndexMissingError(
                f"the library index was built with bundle {info.bundle_id}, not the current {bundle_id}: "
                "rescan the library (`needledrop library scan`) to re-embed it"
            )
        self.info = info
        self.rows = _read_table(folder / info.rows, SEGMENT_ROW, info.count)
        self.tracks = _read_table(folder / info.tracks, track_row(info.labels))
        self.ids = self.rows["segment"]
        self.annoy = None
        if info.count:
            self.annoy = AnnoyIndex(info.dim, "angular")
            self.annoy.load(str(folder / info.file))  # memory-mapped: instant, shared between processes

    def __len__(self) -> int:
        return self.info.count

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `n` (segment id, cosine similarity) pairs, best first."""
        if self.annoy is None or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, scores = nearest(self.annoy, len(self), vector, n)
        return self.ids[rows], scores

    def nearest_rows(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `n` (row of `rows`, cosine similarity) pairs, best first, for a wide candidate pool.

        A pool of hundreds does not need the oversampling that makes the first ten exact: Annoy proposes
        `n` (at least `MIN_CANDIDATES`), so the best of them are as good as `query`'s.
        """
        if self.annoy is None or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return nearest(self.annoy, len(self), vector, n, candidates=max(n, MIN_CANDIDATES))

    def track_rows(self, track_ids: np.ndarray) -> np.ndarray:
        """Rows of `tracks` for each of `track_ids` (all are in the table: it was built with the index)."""
        return np.searchsorted(self.tracks["track"], track_ids)
