"""The Annoy index over segment vectors, swapped in atomically, queried with an exact re-rank.

A build writes `<name>.ann` and `<name>.ids` (raw segment ids) under new names, then replaces `index.json`
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
from engine.library.catalog import Catalog

log = logging.getLogger(__name__)

POINTER = "index.json"
# Chosen from measured recall on segment embeddings (make bench): with 400 candidates and search_k 80,000,
# recall@10 against exact search is 1.00 at 100k vectors and >= 0.98 at 1M; more trees barely help, a larger
# search_k does.
N_TREES = 48
CANDIDATES_PER_RESULT = 40  # Annoy proposes this many per wanted result; the exact re-rank picks the best
MIN_CANDIDATES = 400
SEARCH_K_PER_CANDIDATE = 200
IDS_DTYPE = np.dtype("<i8")


class IndexMissingError(NeedledropError):
    """No usable index (never built, or made by another bundle)."""


@dataclass(frozen=True)
class IndexInfo:
    bundle_id: str
    file: str
    ids: str
    count: int
    dim: int
    n_trees: int
    built_at: float
    ids_dtype: str  # absent from pointers written before ids were raw, so those read as "no index"


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


def nearest(annoy: AnnoyIndex, count: int, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the `n` nearest items to `vector` and their exact cosine similarity, best first.

    Annoy proposes `CANDIDATES_PER_RESULT` times more items than wanted; their stored vectors decide.
    """
    candidates = min(count, max(n * CANDIDATES_PER_RESULT, MIN_CANDIDATES))
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
    dim = vectors.shape[1] if len(vectors) else 0
    name = f"segments-{int(time.time())}-{uuid.uuid4().hex[:8]}"
    ann_path, ids_path = folder / f"{name}.ann", folder / f"{name}.ids"
    if len(ids):
        tmp = folder / f".{name}.ann.tmp"
        write_annoy(vectors, tmp, n_trees)
        os.replace(tmp, ann_path)
    else:
        ann_path.write_bytes(b"")
    _write_ids(ids, ids_path)
    info = IndexInfo(bundle_id, ann_path.name, ids_path.name, len(ids), dim, n_trees, time.time(), IDS_DTYPE.str)
    previous = read_index_info(folder)
    _write_json_atomically(folder / POINTER, info.__dict__)
    # Keep the generation just replaced (a reader may have read the old pointer a moment ago); remove the
    # older ones. Readers that already opened them keep their memory mapping.
    keep = {POINTER, info.file, info.ids} | ({previous.file, previous.ids} if previous else set())
    for path in folder.glob("segments-*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    log.info("indexed %d segments of bundle %s", len(ids), bundle_id)
    return info


def _write_ids(ids: np.ndarray, path: Path) -> None:
    # Raw little-endian int64 rather than .npy: np.load parses the .npy header with ast.literal_eval, and
    # CPython 3.11's AST constructor is not safe when two threads parse at once (gh-106905).
    np.ascontiguousarray(ids, dtype=IDS_DTYPE).tofile(path)


def _read_ids(path: Path, count: int, dtype: str) -> np.ndarray:
    ids = np.fromfile(path, dtype=np.dtype(dtype))
    if len(ids) != count:
        raise OSError(f"{path} holds {len(ids)} segment ids, its index {count}: a rebuild replaced it mid-read")
    return ids


def read_index_info(folder: Path) -> IndexInfo | None:
    try:
        return IndexInfo(**json.loads((folder / POINTER).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


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
        self.ids = _read_ids(folder / info.ids, info.count, info.ids_dtype)
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
