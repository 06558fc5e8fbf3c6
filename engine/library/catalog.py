"""The music library catalog: one SQLite file (WAL) with roots, tracks, segments and their vectors.

Paths are stored as bytes (os.fsencode), so a file name that is not valid UTF-8 is kept exactly. Every
write happens in a transaction; the scanner commits one track at a time, so a scan killed at any moment
loses at most the track in flight. Each vector records the bundle that produced it: a track embedded by
another bundle is re-embedded, never mixed into the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import NeedledropError
from engine.media.beats import Beats

CATALOG_NAME = "catalog.sqlite"
SCHEMA_VERSION = 3
# Tag probabilities are stored per segment (uint8, p * 255) and per track (float16 means and peaks over
# segments), in the order of the bundle's tag labels: filters and explanations read them, not the JSON.
TAG_SCALE = 255.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS roots (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    added_at REAL NOT NULL,
    online INTEGER NOT NULL DEFAULT 1,
    last_scan REAL
);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    path BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    bundle_id TEXT NOT NULL,
    title TEXT, artist TEXT, album TEXT,
    duration REAL NOT NULL,
    tempo_bpm REAL, musical_key TEXT, mode REAL, loudness_db REAL, vocal_score REAL,
    tags TEXT NOT NULL,
    scanned_at REAL NOT NULL,
    tag_means BLOB, tag_peaks BLOB, vocal_peak REAL
);
CREATE INDEX IF NOT EXISTS tracks_root ON tracks(root_id);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    start REAL NOT NULL,
    end REAL NOT NULL,
    tempo_bpm REAL,
    bundle_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    tags BLOB, vocal_score REAL
);
CREATE INDEX IF NOT EXISTS segments_track ON segments(track_id);
CREATE INDEX IF NOT EXISTS segments_bundle ON segments(bundle_id);
CREATE TABLE IF NOT EXISTS beats (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    bpm REAL NOT NULL,
    times BLOB NOT NULL,
    downbeats BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS scan_errors (
    path BLOB PRIMARY KEY,
    root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
    size INTEGER,
    mtime_ns INTEGER,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


SEGMENT_ROW = np.dtype([("segment", "<i8"), ("track", "<i8"), ("start", "<f4"), ("end", "<f4"), ("tempo", "<f4")])


def track_row(labels: int) -> np.dtype:
    return np.dtype(
        [
            ("track", "<i8"),
            ("duration", "<f4"),
            ("tempo", "<f4"),
            ("vocal", "<f4"),
            ("vocal_peak", "<f4"),
            ("artist", "<u8"),
            ("album", "<u8"),
            ("tag_peaks", "<f2", (labels,)),
        ]
    )


def _group_key(name: str | None, within: str | None = None) -> int:
    """A stable 64-bit key for an artist or album name (0: unknown); an album is keyed within its artist."""
    if not name or not name.strip():
        return 0
    text = f"{(within or '').casefold().strip()}\x00{name.casefold().strip()}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") or 1


def _half(values: np.ndarray | None) -> bytes | None:
    return None if values is None else np.asarray(values, dtype="<f2").tobytes()


def _bytes_of_probabilities(values: np.ndarray | None) -> bytes | None:
    if values is None:
        return None
    return np.round(np.clip(np.asarray(values, np.float32), 0, 1) * TAG_SCALE).astype(np.uint8).tobytes()


def probabilities_of_bytes(raw: bytes | None) -> np.ndarray | None:
    return None if raw is None else np.frombuffer(raw, np.uint8).astype(np.float32) / TAG_SCALE


def _insert_beats(conn: sqlite3.Connection, track_id: int, beats: Beats) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO beats(track_id, bpm, times, downbeats) VALUES (?, ?, ?, ?)",
        (
            track_id,
            float(beats.bpm),
            np.asarray(beats.times, "<f8").tobytes(),
            np.asarray(beats.downbeats, "<f8").tobytes(),
        ),
    )


class CatalogError(NeedledropError):
    """The catalog file cannot be opened, read or written."""


def display(path: bytes | str) -> str:
    """A path for people: undecodable bytes shown as U+FFFD instead of failing."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Root:
    id: int
    path: bytes
    online: bool
    last_scan: float | None

    @property
    def display(self) -> str:
        return display(self.path)


@dataclass(frozen=True)
class TrackRecord:
    path: bytes
    size: int
    mtime_ns: int
    bundle_id: str
    duration: float
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    tempo_bpm: float | None = None
    musical_key: str | None = None
    mode: float | None = None
    loudness_db: float | None = None
    vocal_score: float | None = None
    tags: dict | None = None  # {"genres": {name: p}, "moods": ..., "instruments": ...}
    tag_means: np.ndarray | None = None  # (labels,) mean tag probabilities over the track
    tag_peaks: np.ndarray | None = None  # (labels,) the highest segment's probability per tag
    vocal_peak: float | None = None  # the most sung segment's vocal score
    beats: Beats | None = None  # beat and downbeat times (schema 3; older tracks get them on demand)


@dataclass(frozen=True)
class SegmentRecord:
    start: float
    end: float
    tempo_bpm: float | None
    vector: np.ndarray  # float32 (embedding_dim,)
    tags: np.ndarray | None = None  # (labels,) tag probabilities over the segment
    vocal_score: float | None = None


class Catalog:
    """Thread-safe: each thread gets its own connection; writes are serialised by SQLite's lock."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate(self._connection())
        except (sqlite3.Error, OSError) as exc:
            raise CatalogError(
                f"cannot open the library catalog {self.path}: {exc}. Check that the folder exists, is writable, "
                "and that no other program holds the file locked."
            ) from exc

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Catalog:
        return cls(data_dir / CATALOG_NAME)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit mode: transactions are opened explicitly by `transaction()`.
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, safe against corruption
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer Needledrop (catalog schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade Needledrop or use another --data-dir"
            )
        # Schema 2 -> 3 adds the beats table (created below); tracks without beats get them when asked for.
        if version == 1:
            # Schema 1 had no per-segment tags: add the columns and mark every track as analysed by no
            # bundle, so the next scan re-analyses it (records are kept until then).
            conn.executescript(
                "ALTER TABLE tracks ADD COLUMN tag_means BLOB; ALTER TABLE tracks ADD COLUMN tag_peaks BLOB; "
                "ALTER TABLE tracks ADD COLUMN vocal_peak REAL; ALTER TABLE segments ADD COLUMN tags BLOB; "
                "ALTER TABLE segments ADD COLUMN vocal_score REAL; UPDATE tracks SET bundle_id = '';"
            )
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise CatalogError(f"reading the library catalog {self.path} failed: {exc}") from exc

    # ---- roots ----

    def add_root(self, path: str | os.PathLike[str]) -> Root:
        raw = os.fsencode(os.path.abspath(path))
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (raw, time.time()))
        return next(r for r in self.roots() if r.path == raw)

    def remove_root(self, path: str | os.PathLike[str]) -> bool:
        """Forget a root and everything scanned under it (the files themselves are untouched)."""
        raw = os.fsencode(os.path.abspath(path))
        with self.transaction() as conn:
            return conn.execute("DELETE FROM roots WHERE path = ?", (raw,)).rowcount > 0

    def roots(self) -> list[Root]:
        rows = self._query("SELECT id, path, online, last_scan FROM roots ORDER BY path")
        return [Root(i, bytes(p), bool(o), s) for i, p, o, s in rows]

    def set_root_state(self, root_id: int, *, online: bool, scanned: bool) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE roots SET online = ? WHERE id = ?", (int(online), root_id))
            if scanned:
                conn.execute("UPDATE roots SET last_scan = ? WHERE id = ?", (time.time(), root_id))

    # ---- what a scan needs to decide ----

    def known_files(self, root_id: int) -> dict[bytes, tuple[int, int, str]]:
        rows = self._query("SELECT path, size, mtime_ns, bundle_id FROM tracks WHERE root_id = ?", (root_id,))
        return {bytes(p): (s, m, b) for p, s, m, b in rows}

    def known_errors(self, root_id: int) -> dict[bytes, tuple[int | None, int | None]]:
        rows = self._query("SELECT path, size, mtime_ns FROM scan_errors WHERE root_id = ?", (root_id,))
        return {bytes(p): (s, m) for p, s, m in rows}

    # ---- writes, one track per transaction ----

    def put_track(self, root_id: int, track: TrackRecord, segments: list[SegmentRecord]) -> int:
        """Insert or replace a track with its segments, atomically; clears any earlier error for the path."""
        tags = json.dumps(track.tags or {})
        with self.transaction() as conn:
            conn.execute("DELETE FROM tracks WHERE path = ?", (track.path,))
            conn.execute("DELETE FROM scan_errors WHERE path = ?", (track.path,))
            cursor = conn.execute(
                "INSERT INTO tracks(root_id, path, size, mtime_ns, bundle_id, title, artist, album, duration, "
                "tempo_bpm, musical_key, mode, loudness_db, vocal_score, tags, scanned_at, tag_means, tag_peaks, "
                "vocal_peak) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    root_id,
                    track.path,
                    track.size,
                    track.mtime_ns,
                    track.bundle_id,
                    track.title,
                    track.artist,
                    track.album,
                    track.duration,
                    track.tempo_bpm,
                    track.musical_key,
                    track.mode,
                    track.loudness_db,
                    track.vocal_score,
                    tags,
                    time.time(),
                    _half(track.tag_means),
                    _half(track.tag_peaks),
                    track.vocal_peak,
                ),
            )
            track_id = cursor.lastrowid
            if track.beats is not None:
                _insert_beats(conn, track_id, track.beats)
            conn.executemany(
                "INSERT INTO segments(track_id, start, end, tempo_bpm, bundle_id, vector, tags, vocal_score) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        track_id,
                        s.start,
                        s.end,
                        s.tempo_bpm,
                        track.bundle_id,
                        np.asarray(s.vector, dtype="<f4").tobytes(),
                        _bytes_of_probabilities(s.tags),
                        s.vocal_score,
                    )
                    for s in segments
                ],
            )
        return track_id

    def put_error(self, root_id: int, path: bytes, size: int | None, mtime_ns: int | None, reason: str) -> None:
        """Record why a file was skipped; what the catalog already had for it is kept."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scan_errors(path, root_id, size, mtime_ns, reason, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (path, root_id, size, mtime_ns, reason, time.time()),
            )

    def remove_tracks(self, paths: list[bytes]) -> int:
        with self.transaction() as conn:
            removed = 0
            for path in paths:
                removed += conn.execute("DELETE FROM tracks WHERE path = ?", (path,)).rowcount
                conn.execute("DELETE FROM scan_errors WHERE path = ?", (path,))
            return removed

    # ---- reading ----

    def segment_count(self, bundle_id: str) -> int:
        ((count,),) = self._query("SELECT COUNT(*) FROM segments WHERE bundle_id = ?", (bundle_id,))
        return count

    def segment_track_ids(self, bundle_id: str) -> np.ndarray:
        """The track of each segment, in the order of `segment_vectors`."""
        rows = self._query("SELECT track_id FROM segments WHERE bundle_id = ? ORDER BY id", (bundle_id,))
        return np.array([r[0] for r in rows], dtype=np.int64)

    def segment_vectors(self, bundle_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Segment ids and their vectors (float32 matrix) produced by `bundle_id`."""
        rows = self._query("SELECT id, vector FROM segments WHERE bundle_id = ? ORDER BY id", (bundle_id,))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        return ids, matrix

    def segment_rows(self, bundle_id: str) -> np.ndarray:
        """Per segment of `bundle_id`, in the order of `segment_vectors`: id, track, start, end, tempo."""
        rows = self._query(
            "SELECT id, track_id, start, end, COALESCE(tempo_bpm, 'nan') FROM segments WHERE bundle_id = ? ORDER BY id",
            (bundle_id,),
        )
        return np.array(rows, dtype=SEGMENT_ROW).reshape(len(rows))

    def track_table(self, bundle_id: str) -> np.ndarray:
        """Per track with segments of `bundle_id`, sorted by id: the values that prompt filters test."""
        rows = self._query(
            "SELECT id, duration, tempo_bpm, vocal_score, vocal_peak, artist, album, tag_peaks FROM tracks t "
            "WHERE EXISTS (SELECT 1 FROM segments s WHERE s.track_id = t.id AND s.bundle_id = ?) ORDER BY id",
            (bundle_id,),
        )
        labels = next((len(r[-1]) // 2 for r in rows if r[-1] is not None), 0)
        table = np.zeros(len(rows), dtype=track_row(labels))
        for i, (track_id, duration, tempo, vocal, vocal_peak, artist, album, peaks) in enumerate(rows):
            table[i] = (
                track_id,
                duration,
                np.nan if tempo is None else tempo,
                np.nan if vocal is None else vocal,
                np.nan if vocal_peak is None else vocal_peak,
                _group_key(artist),
                _group_key(album, artist),
                np.full(labels, np.nan) if peaks is None else np.frombuffer(peaks, "<f2"),
            )
        return table

    def track_details(self, track_ids: list[int]) -> dict[int, dict]:
        """What a result shows, for each of `track_ids` that still exists."""
        if not track_ids:
            return {}
        marks = ",".join("?" * len(track_ids))
        rows = self._query(
            "SELECT t.id, t.path, t.title, t.artist, t.album, t.duration, t.tempo_bpm, t.musical_key, "
            f"t.vocal_score, t.tags, r.online FROM tracks t JOIN roots r ON r.id = t.root_id WHERE t.id IN ({marks})",
            tuple(int(i) for i in track_ids),
        )
        names = ("id", "path", "title", "artist", "album", "duration", "tempo_bpm", "key", "vocal_score", "tags")
        out = {}
        for row in rows:
            record = dict(zip(names, row[:-1]))
            record["path"] = display(bytes(record["path"]))
            record["tags"] = json.loads(record["tags"])
            record["online"] = bool(row[-1])
            out[record["id"]] = record
        return out

    def segment_details(self, segment_ids: list[int]) -> dict[int, dict]:
        """Start, end, tempo, vocal score and tag probabilities of each segment."""
        if not segment_ids:
            return {}
        marks = ",".join("?" * len(segment_ids))
        rows = self._query(
            f"SELECT id, start, end, tempo_bpm, vocal_score, tags FROM segments WHERE id IN ({marks})",
            tuple(int(i) for i in segment_ids),
        )
        return {
            i: {"start": a, "end": b, "tempo_bpm": t, "vocal_score": v, "tags": probabilities_of_bytes(tags)}
            for i, a, b, t, v, tags in rows
        }

    def track_id(self, path: str | os.PathLike[str]) -> int | None:
        rows = self._query("SELECT id FROM tracks WHERE path = ?", (os.fsencode(os.path.abspath(path)),))
        return rows[0][0] if rows else None

    def track_segments(self, track_id: int, bundle_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A track's segment starts, ends and vectors (embedded by `bundle_id`), in time order."""
        rows = self._query(
            "SELECT start, end, vector FROM segments WHERE track_id = ? AND bundle_id = ? ORDER BY start",
            (track_id, bundle_id),
        )
        if not rows:
            return np.zeros(0), np.zeros(0), np.zeros((0, 0), np.float32)
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), vectors

    def beats(self, track_id: int) -> Beats | None:
        """The stored beats of a track, or None when it was scanned before beats were (see `put_beats`)."""
        rows = self._query("SELECT bpm, times, downbeats FROM beats WHERE track_id = ?", (int(track_id),))
        if not rows:
            return None
        bpm, times, downbeats = rows[0]
        return Beats(np.frombuffer(times, "<f8").copy(), np.frombuffer(downbeats, "<f8").copy(), bpm)

    def put_beats(self, track_id: int, beats: Beats) -> None:
        with self.transaction() as conn:
            _insert_beats(conn, track_id, beats)

    def track_file(self, track_id: int) -> str | None:
        """The path of a track (as the filesystem wants it), or None if there is no such track."""
        rows = self._query("SELECT path FROM tracks WHERE id = ?", (int(track_id),))
        return os.fsdecode(bytes(rows[0][0])) if rows else None

    def errors(self) -> list[tuple[str, str, float]]:
        rows = self._query("SELECT path, reason, at FROM scan_errors ORDER BY path")
        return [(display(bytes(p)), r, a) for p, r, a in rows]

    def tracks(self, limit: int | None = None) -> list[dict]:
        sql = (
            "SELECT t.id, t.path, t.title, t.artist, t.album, t.duration, t.tempo_bpm, t.musical_key, "
            "t.vocal_score, t.loudness_db, t.tags, t.bundle_id, r.online, "
            "(SELECT COUNT(*) FROM segments s WHERE s.track_id = t.id) FROM tracks t JOIN roots r ON r.id = t.root_id "
            "ORDER BY t.path" + (f" LIMIT {int(limit)}" if limit else "")
        )
        names = (
            "id",
            "path",
            "title",
            "artist",
            "album",
            "duration",
            "tempo_bpm",
            "key",
            "vocal_score",
            "loudness_db",
            "tags",
            "bundle_id",
            "online",
            "segments",
        )
        out = []
        for row in self._query(sql):
            record = dict(zip(names, row))
            record["path"] = display(bytes(record["path"]))
            record["tags"] = json.loads(record["tags"])
            record["online"] = bool(record["online"])
            out.append(record)
        return out

    def status(self, bundle_id: str | None = None) -> dict:
        ((tracks, seconds),) = self._query("SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM tracks")
        ((segments,),) = self._query("SELECT COUNT(*) FROM segments")
        ((errors,),) = self._query("SELECT COUNT(*) FROM scan_errors")
        stale = 0
        if bundle_id is not None:
            ((stale,),) = self._query("SELECT COUNT(*) FROM tracks WHERE bundle_id != ?", (bundle_id,))
        counts = dict(self._query("SELECT root_id, COUNT(*) FROM tracks GROUP BY root_id"))
        return {
            "roots": [
                {"path": r.display, "online": r.online, "last_scan": r.last_scan, "tracks": counts.get(r.id, 0)}
                for r in self.roots()
            ],
            "tracks": tracks,
            "audio_hours": seconds / 3600,
            "segments": segments,
            "errors": errors,
            "stale_tracks": stale,
        }
