"""The Annoy index over segment vectors, swapped in atomically, queried with an exact re-rank.

A build writes `<name>.ann`, `<name>.vectors` (the raw float32 vectors, row i = Annoy item i), `<name>.rows`
(per item: its segment, track, start, end and tempo), `<name>.tracks` (per track: the values prompt
filters test) and, for a large index, `<name>.cells` (coarse cells for filtered search, `cells.py`) under new
names, then replaces `index.json` (the pointer) with one rename: a reader sees the
old index or the new one, never half of either. A process that has the old files open keeps them (they are
memory-mapped, and POSIX keeps a removed file alive while it is mapped). Rows are in tempo order, so a
query's tempo range is one contiguous block that can be searched exactly. Annoy only proposes candidates;
their exact cosine similarity, read from the vectors file, decides the order.

Builds hold a file lock, so two processes never remove each other's files, and each removes what a killed
or failed build left behind. The pointer records the catalog's index revision (Catalog.index_revision):
whether the index is in step with the catalog is one comparison.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from engine import atomic
from engine.errors import NeedledropError
from engine.library.catalog import Catalog
from engine.library.cells import Cells, cells_bytes, read_cells, train_cells, write_cells
from engine.library.locks import build_lock
from engine.library.records import SEGMENT_ROW, track_row

log = logging.getLogger(__name__)

POINTER = "index.json"
# Chosen from measured recall on segment embeddings (make bench): with 400 candidates and search_k 80,000,
# recall@10 against exact search is 1.00 at 100k vectors and >= 0.98 at 1M; more trees barely help, a larger
# search_k does.
N_TREES = 48
CANDIDATES_PER_RESULT = 40  # Annoy proposes this many per wanted result; the exact re-rank picks the best
MIN_CANDIDATES = 400
SEARCH_K_PER_CANDIDATE = 200
# A wide pool (thousands of candidates, for filtered queries) needs far fewer leaves per candidate: Annoy
# ranks everything it gathers, and the best of a large pool is as good as the best of a small one.
POOL_SEARCH_K_PER_CANDIDATE = 4
MIN_SEARCH_K = MIN_CANDIDATES * SEARCH_K_PER_CANDIDATE
# Up to this many vectors, one matrix-vector product over all of them is faster than Annoy's search, and
# exact: 128-d vectors cross over between 125k and 220k from run to run on this 2-core machine
# (tests/bench/bench_recommend.py); this is the lower end.
EXACT_BELOW = 120_000
SAMPLE_ROWS = 20_000  # rows that estimate a filter's selectivity: within about 1% of the truth
# Of the files below; a pointer to another layout reads as "no index", and the next scan rebuilds. 9: coarse
# cells (`cells.py`) for filtered search in indexes too large to scan. 10: the track table's `drums_sfx`.
LAYOUT = 10
# Indexes larger than this get coarse cells: smaller ones are searched exactly whenever a filter is set.
CELLS_FROM = EXACT_BELOW


class IndexWriteError(NeedledropError):
    """The index could not be written (a full disk, a read-only folder); the previous one is kept."""


class IndexMissingError(NeedledropError):
    """No usable index (never built, made by another bundle, or damaged)."""


@dataclass(frozen=True)
class IndexInfo:
    bundle_id: str
    file: str
    vectors: str
    rows: str
    tracks: str
    count: int
    dim: int
    labels: int
    n_trees: int
    built_at: float
    layout: int
    revision: int  # the catalog's index revision the index was built from (Catalog.index_revision)
    cells: int = 0  # coarse cells in `cell_file` (none in small indexes)
    cell_file: str | None = None
    # The sizes of the files whose size their counts do not give, as written (None in pointers written
    # before December 2026): a file cut short is then found before it is read.
    file_bytes: int | None = None
    tracks_bytes: int | None = None


def write_annoy(vectors: np.ndarray, path: Path, n_trees: int = N_TREES) -> None:
    """An angular Annoy index of the rows of `vectors` (item i = row i), saved to `path`."""
    index = AnnoyIndex(vectors.shape[1], "angular")
    for i, v in enumerate(vectors):
        index.add_item(i, v)
    index.build(n_trees, n_jobs=-1)
    index.save(str(path))
    index.unload()


def nearest(
    annoy: AnnoyIndex,
    vectors: np.ndarray,
    vector: np.ndarray,
    n: int,
    candidates: int | None = None,
    search_k: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the `n` nearest items to `vector` and their exact cosine similarity, best first.

    Annoy proposes `candidates` items (by default `CANDIDATES_PER_RESULT` times more than wanted); their
    rows of `vectors` (the same unit vectors Annoy was built from) decide.
    """
    candidates = min(len(vectors), candidates or max(n * CANDIDATES_PER_RESULT, MIN_CANDIDATES))
    items = annoy.get_nns_by_vector(vector, candidates, search_k=search_k or candidates * SEARCH_K_PER_CANDIDATE)
    if not items:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    items = np.array(items, dtype=np.int64)
    exact = vectors[items] @ vector
    order = np.argsort(-exact, kind="stable")[:n]
    return items[order], exact[order]


def best(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` highest `scores`, best first; masked ones (-inf) are left out."""
    count = min(n, len(scores))
    if count <= 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, count - 1)[:count] if len(scores) > count else np.arange(len(scores))
    top = top[np.isfinite(scores[top])]
    return top[np.argsort(-scores[top], kind="stable")]


def top_rows(vectors: np.ndarray, rows: np.ndarray, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The `n` of `rows` nearest to `vector` by exact search, best first."""
    if not len(rows) or n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores = vectors[rows] @ vector
    top = best(scores, n)
    return rows[top], scores[top]


def build_index(catalog: Catalog, bundle_id: str, folder: Path, *, n_trees: int = N_TREES) -> IndexInfo:
    """Index every segment vector `bundle_id` produced, then make it the current index."""
    with build_lock(folder):
        _remove_leftovers(folder)
        with catalog.snapshot():  # one state of the catalog, whatever a scan writes meanwhile
            revision = catalog.index_revision()
            ids, vectors = catalog.segment_vectors(bundle_id)
            rows, tracks = catalog.segment_rows(bundle_id), catalog.track_table(bundle_id)
        name = f"segments-{int(time.time())}-{uuid.uuid4().hex[:8]}"
        try:
            return _write_index(folder, name, bundle_id, revision, ids, vectors, rows, tracks, n_trees)
        except OSError as exc:
            # The current index stays as it was; this generation's partial files go now, not at the next build.
            for path in folder.glob(f"*{name}*"):
                path.unlink(missing_ok=True)
            need = 2 * vectors.nbytes + rows.nbytes + tracks.nbytes
            # Annoy says "No space left" in its message without an errno: ask the file system instead.
            full = exc.errno == errno.ENOSPC or shutil.disk_usage(folder).free < need
            why = "the disk is full" if full else exc.strerror or str(exc)
            raise IndexWriteError(
                f"cannot write the library index in {folder}: {why} (it needs about {need / 1e6:.1f} MB); "
                "the previous index is still used"
            ) from exc


def _write_index(
    folder: Path,
    name: str,
    bundle_id: str,
    revision: int,
    ids: np.ndarray,
    vectors: np.ndarray,
    rows: np.ndarray,
    tracks: np.ndarray,
    n_trees: int,
) -> IndexInfo:
    # Rows in tempo order (unmeasured last): a query's tempo range is then one contiguous block.
    order = np.argsort(rows["tempo"], kind="stable")
    ids, vectors, rows = ids[order], vectors[order], rows[order]
    dim = vectors.shape[1] if len(vectors) else 0
    ann_path = folder / f"{name}.ann"
    if len(ids):
        with atomic.replacing(ann_path) as tmp:
            write_annoy(vectors, tmp, n_trees)
    else:
        ann_path.write_bytes(b"")
    # Raw arrays rather than .npy: np.load parses the .npy header with ast.literal_eval, and CPython 3.11's
    # AST constructor is not safe when two threads parse at once (gh-106905). Each is synced before the
    # pointer names it: after a power cut the pointer never names files shorter than it says.
    for suffix, array in (("vectors", np.ascontiguousarray(vectors, dtype="<f4")), ("rows", rows), ("tracks", tracks)):
        with atomic.replacing(folder / f"{name}.{suffix}") as tmp:
            array.tofile(tmp)
    cells = train_cells(vectors) if len(ids) > CELLS_FROM else None
    if cells is not None:
        with atomic.replacing(folder / f"{name}.cells") as tmp:
            write_cells(cells, tmp)
    labels = tracks.dtype["tag_peaks"].shape[0] if tracks.dtype["tag_peaks"].shape else 0
    info = IndexInfo(
        bundle_id=bundle_id,
        file=ann_path.name,
        vectors=f"{name}.vectors",
        rows=f"{name}.rows",
        tracks=f"{name}.tracks",
        count=len(ids),
        dim=dim,
        labels=labels,
        n_trees=n_trees,
        built_at=time.time(),
        layout=LAYOUT,
        revision=revision,
        cells=len(cells.centroids) if cells is not None else 0,
        cell_file=f"{name}.cells" if cells is not None else None,
        file_bytes=ann_path.stat().st_size,
        tracks_bytes=(folder / f"{name}.tracks").stat().st_size,
    )
    previous = read_index_info(folder)
    atomic.write_text(folder / POINTER, json.dumps(info.__dict__))
    # Keep the generation just replaced (a reader may have read the old pointer a moment ago); remove the
    # older ones. Readers that already opened them keep their memory mapping.
    keep = {POINTER, *_files(info), *(_files(previous) if previous else ())}
    for path in folder.glob("segments-*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
    log.info("indexed %d segments of bundle %s", len(ids), bundle_id)
    return info


def _remove_leftovers(folder: Path) -> None:
    """What a build that failed or was killed left behind: its temporary files (only a builder writes
    them, and this one holds the lock). Finished files that no pointer names go at the end of the build."""
    for path in [*folder.glob(".segments-*.tmp"), *folder.glob(f".{POINTER}.*")]:
        log.info("removing %s, left by an index build that did not finish", path.name)
        path.unlink(missing_ok=True)


def index_damage(folder: Path, info: IndexInfo) -> str | None:
    """Why the files `info` names cannot be read as that index (missing, or of the wrong size), or None."""
    sizes = {
        info.file: info.file_bytes,
        info.vectors: info.count * info.dim * 4,
        info.rows: info.count * SEGMENT_ROW.itemsize,
        info.tracks: info.tracks_bytes,
    }
    if info.cell_file:
        sizes[info.cell_file] = cells_bytes(info.cells, info.count, info.dim)
    for name, size in sizes.items():
        try:
            actual = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if size is not None and actual != size:
            return f"{name} holds {actual} bytes instead of {size}"
    return None


def _files(info: IndexInfo) -> tuple[str, ...]:
    return (info.file, info.vectors, info.rows, info.tracks) + ((info.cell_file,) if info.cell_file else ())


def _read_table(path: Path, dtype: np.dtype, count: int | None = None) -> np.ndarray:
    table = np.fromfile(path, dtype=dtype)
    if count is not None and len(table) != count:
        raise OSError(f"{path} holds {len(table)} rows, its index {count}: a rebuild replaced it mid-read")
    return table


def read_index_info(folder: Path) -> IndexInfo | None:
    try:
        data = json.loads((folder / POINTER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("layout") != LAYOUT:
        return None  # an older layout: the next scan (or `Library.open_index`) rebuilds it
    try:
        return IndexInfo(**data)
    except TypeError:
        return None


class SegmentIndex:
    """A loaded index: nearest segments to a query, exactly re-ranked."""

    def __init__(self, folder: Path, bundle_id: str):
        for attempt in range(3):  # a rebuild may replace the files between reading the pointer and opening them
            try:
                self._open(folder, bundle_id)
                return
            except OSError as exc:
                if attempt == 2:
                    what = f"{exc.strerror}: {Path(os.fsdecode(exc.filename)).name}" if exc.filename else str(exc)
                    raise IndexMissingError(
                        f"the library index in {folder} is damaged ({what}): scan the library "
                        "(`needledrop library scan`) to rebuild it"
                    ) from exc

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
        self.vectors = np.zeros((0, info.dim), np.float32)
        self.annoy = None
        self.cells: Cells | None = None
        if info.cell_file:
            self.cells = read_cells(folder / info.cell_file, info.cells, info.count, info.dim)
        if info.count:
            path = folder / info.vectors
            if path.stat().st_size != info.count * info.dim * 4:
                raise OSError(f"{path} does not hold {info.count} vectors: a rebuild replaced it mid-read")
            # A plain array over the mapping: np.memmap's subclass makes every fancy index slow.
            self.vectors = np.memmap(path, dtype="<f4", mode="r", shape=(info.count, info.dim)).view(np.ndarray)
            self.annoy = AnnoyIndex(info.dim, "angular")
            self.annoy.load(str(folder / info.file))  # memory-mapped: instant, shared between processes

    def __len__(self) -> int:
        return self.info.count

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `n` (segment id, cosine similarity) pairs, best first."""
        if self.annoy is None or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(self) <= EXACT_BELOW:
            rows, scores = self.scan(vector, n)
        else:
            rows, scores = nearest(self.annoy, self.vectors, vector, n)
        return self.ids[rows], scores

    def nearest_rows(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to `n` (row of `rows`, cosine similarity) pairs, best first, for a wide candidate pool.

        A pool of hundreds does not need the oversampling that makes the first ten exact: Annoy proposes
        `n` (at least `MIN_CANDIDATES`), so the best of them are as good as `query`'s.
        """
        if self.annoy is None or n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(self) <= EXACT_BELOW:
            return self.scan(vector, n)
        candidates = max(n, MIN_CANDIDATES)
        search_k = max(MIN_SEARCH_K, candidates * POOL_SEARCH_K_PER_CANDIDATE)
        return nearest(self.annoy, self.vectors, vector, n, candidates=candidates, search_k=search_k)

    def scan(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The `n` rows nearest to `vector` among all, by exact search, best first."""
        scores = self.vectors @ vector
        top = best(scores, n)
        return top, scores[top]

    def exact_rows(self, vector: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The `n` of `rows` nearest to `vector`, by exact search over just those rows."""
        return top_rows(self.vectors, rows, vector, n)

    def prepare(self) -> None:
        """Compute the tables queries use (they are made on first use), so that the first query is not slow."""
        tables = [self.row_tracks, self.row_tempo, self.sample_rows, self._rows_by_track]
        if self.cells is not None:
            tables.append(self.cells.keys)
        for table in tables:
            log.debug("index table ready: %d entries", len(table))

    @cached_property
    def row_tracks(self) -> np.ndarray:
        """Per row of `rows`, its row in `tracks` (computed on first use)."""
        return self.track_rows(self.rows["track"])

    @cached_property
    def row_tempo(self) -> np.ndarray:
        """Per row, the segment's tempo (NaN where none was measured), contiguous for fast filtering."""
        return np.ascontiguousarray(self.rows["tempo"], dtype=np.float32)

    def tempo_block(self, low: float, high: float) -> slice:
        """The rows whose tempo is within [low, high] (rows are in tempo order, unmeasured ones last)."""
        tempo = self.row_tempo  # float32: bounds of another type would make numpy convert the whole column
        return slice(
            int(np.searchsorted(tempo, np.float32(low), "left")), int(np.searchsorted(tempo, np.float32(high), "right"))
        )

    @cached_property
    def sample_rows(self) -> np.ndarray:
        """A fixed sample of rows (all of them in a small index) for estimating how much a filter keeps."""
        if len(self) <= SAMPLE_ROWS:
            return np.arange(len(self))
        return np.sort(np.random.default_rng(0).choice(len(self), SAMPLE_ROWS, replace=False))

    @cached_property
    def _rows_by_track(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.row_tracks, kind="stable")
        bounds = np.searchsorted(self.row_tracks[order], np.arange(len(self.tracks) + 1))
        return order, bounds

    def rows_of_tracks(self, track_rows: np.ndarray) -> np.ndarray:
        """Every row of `rows` that belongs to one of `track_rows` (rows of `tracks`), track by track."""
        order, bounds = self._rows_by_track
        track_rows = np.asarray(track_rows, np.int64)
        starts, sizes = bounds[track_rows], bounds[track_rows + 1] - bounds[track_rows]
        # The runs order[start : start + size] of all tracks at once, without a Python loop over tracks.
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return order[np.repeat(starts, sizes) + within]

    def row_count(self, track_rows: np.ndarray) -> int:
        """How many rows `track_rows` (rows of `tracks`) have between them."""
        _, bounds = self._rows_by_track
        track_rows = np.asarray(track_rows, np.int64)
        return int((bounds[track_rows + 1] - bounds[track_rows]).sum())

    def track_rows(self, track_ids: np.ndarray) -> np.ndarray:
        """Rows of `tracks` for each of `track_ids` (all are in the table: it was built with the index)."""
        return np.searchsorted(self.tracks["track"], track_ids)
