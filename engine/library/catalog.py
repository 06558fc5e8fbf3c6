"""The music library catalog: one SQLite file (WAL) with roots, tracks, segments and their vectors.

Every write happens in a transaction; the scanner commits one track at a time, so a scan killed at any
moment loses at most the tracks in flight. Each vector records the bundle that produced it: a track embedded
by another bundle is re-embedded, never mixed into the index. A track keeps its id for good: a rescan updates
it in place, a moved file keeps it, and a removed track's id is never given to another.

The tables are in migrations.py; connections, transactions and errors in engine/sqlite.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.library.errors import CatalogError
from engine.library.migrations import LEGACY_VERSIONS, MIGRATIONS
from engine.library.records import (
    SEGMENT_ROW,
    KnownTrack,
    Root,
    SegmentRecord,
    TrackRecord,
    display,
    track_row,
)
from engine.media.beats import Beats
from engine.media.dsp import tonic_of
from engine.sqlite import Database
from engine.tags import TAG_SCALE, as_stored

__all__ = ["CATALOG_NAME", "Catalog", "CatalogError", "Root", "SegmentRecord", "TrackRecord", "display"]

CATALOG_NAME = "catalog.sqlite"
# Tag probabilities are stored per segment (uint8, in steps of 1/TAG_SCALE: engine/tags.py) and per track
# (float16 means and peaks over segments), in the order of the bundle's tag labels: filters and
# explanations read them, not the JSON.
# What one window misjudges in a quick track (bench_quick.py: its tempo agrees with the full analysis (within 4 %) on
# 57 % of 30 recordings, its key on 20 %; a sung chorus or a drum break may lie outside it). The index leaves them
# unmeasured for quick tracks, so hard filters pass only what was measured on the whole track.
QUICK_UNMEASURED = ("tempo_bpm", "vocal_peak", "musical_key", "drums", "drums_sfx")
# The tempo a track shows and is filtered on: the one a person set (Library.set_tempo), else the scan's.
TEMPO = "COALESCE(t.tempo_set, t.tempo_bpm)"
# The tracks (t) a bundle's index holds: those with segments of it (the parameter), even when marked for
# re-analysis, since they stay searchable until the scan analyses them again.
IN_INDEX = "EXISTS (SELECT 1 FROM segments s WHERE s.track_id = t.id AND s.bundle_id = ?)"
# What a track shows (track_details and tracks); "online" means its file can be opened now.
TRACK_FIELDS = (
    f"t.id, t.path, t.title, t.artist, t.album, t.duration, {TEMPO}, t.musical_key, t.vocal_score, "
    "t.loudness_lufs, t.tags, t.bundle_id, t.energy, t.mood, t.drums, t.drums_sfx, t.vocal_peak, t.quick, "
    "t.tempo_set IS NOT NULL, t.tempo_bpm, r.online AND t.missing_since IS NULL"
)
TRACK_KEYS = (
    "id",
    "path",
    "title",
    "artist",
    "album",
    "duration",
    "tempo_bpm",
    "key",
    "vocal_score",
    "loudness_lufs",
    "tags",
    "bundle_id",
    "energy",
    "mood",
    "drums",
    "drums_sfx",
    "vocal_peak",
    "quick",
    "tempo_set",  # the tempo is one a person set
    "tempo_measured",  # the scan's
    "online",
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
    return None if values is None else np.round(as_stored(values) * TAG_SCALE).astype(np.uint8).tobytes()


def probabilities_of_bytes(raw: bytes | None) -> np.ndarray | None:
    return None if raw is None else np.frombuffer(raw, np.uint8).astype(np.float32) / TAG_SCALE


def _insert_beats(conn: sqlite3.Connection, track_id: int, beats: Beats, table: str = "beats") -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO {table}(track_id, bpm, times, downbeats, fade_at) VALUES (?, ?, ?, ?, ?)",
        (
            track_id,
            float(beats.bpm),
            np.asarray(beats.times, "<f8").tobytes(),
            np.asarray(beats.downbeats, "<f8").tobytes(),
            beats.fade_at,
        ),
    )


def _put_segments(conn: sqlite3.Connection, track_id: int, bundle_id: str, segments: list[SegmentRecord]) -> None:
    """A track's segments. When the spans are those already stored (a rescan of an unchanged file), the rows
    are updated in place: their ids stay valid in the current index, so queries during a full rescan keep
    finding the track."""
    values = [
        (
            s.tempo_bpm,
            bundle_id,
            np.asarray(s.vector, dtype="<f4").tobytes(),
            _bytes_of_probabilities(s.tags),
            s.vocal_score,
            s.energy,
            s.mood,
            s.brightness,
        )
        for s in segments
    ]
    stored = conn.execute("SELECT id, start, end FROM segments WHERE track_id = ? ORDER BY id", (track_id,)).fetchall()
    if [(start, end) for _, start, end in stored] == [(s.start, s.end) for s in segments]:
        conn.executemany(
            "UPDATE segments SET tempo_bpm = ?, bundle_id = ?, vector = ?, tags = ?, vocal_score = ?, energy = ?, "
            "mood = ?, brightness = ? WHERE id = ?",
            [(*v, segment_id) for v, (segment_id, _, _) in zip(values, stored)],
        )
        return
    conn.execute("DELETE FROM segments WHERE track_id = ?", (track_id,))
    conn.executemany(
        "INSERT INTO segments(track_id, start, end, tempo_bpm, bundle_id, vector, tags, vocal_score, energy, mood, "
        "brightness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(track_id, s.start, s.end, *v) for s, v in zip(segments, values)],
    )


def _track(row: tuple) -> dict:
    """A row of TRACK_FIELDS (plus any extra columns, named by the caller) as a record."""
    record = dict(zip(TRACK_KEYS, row))
    raw = bytes(record["path"])
    record["path"] = os.fsdecode(raw)  # as the filesystem wants it: undecodable bytes survive
    record["display"] = display(raw)
    record["tags"] = json.loads(record["tags"])
    record["online"] = bool(record["online"])
    record["quick"] = bool(record["quick"])
    record["tempo_set"] = bool(record["tempo_set"])
    return record


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


class Catalog:
    """Thread-safe: each thread gets its own connection; writes are serialised by SQLite's lock."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.db = Database(
            self.path, MIGRATIONS, what="library catalog", error=CatalogError, legacy_versions=LEGACY_VERSIONS
        )

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Catalog:
        return cls(data_dir / CATALOG_NAME)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (for tests and benchmarks that read the tables directly)."""
        return self.db.connection()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db.transaction() as conn:
            yield conn

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.db.query(sql, args)

    # ---- roots ----

    def add_root(self, path: str | os.PathLike[str]) -> Root:
        """Record a folder (Library.add_root checks it first)."""
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

    def known_files(self, root_id: int) -> dict[bytes, KnownTrack]:
        rows = self._query(
            "SELECT id, path, size, mtime_ns, bundle_id, fingerprint, missing_since IS NOT NULL, quick, scanned_at "
            "FROM tracks WHERE root_id = ?",
            (root_id,),
        )
        return {
            bytes(p): KnownTrack(i, bytes(p), s, m, b, f, bool(gone), bool(quick), at)
            for i, p, s, m, b, f, gone, quick, at in rows
        }

    def known_errors(self, root_id: int) -> dict[bytes, tuple[int | None, int | None]]:
        rows = self._query("SELECT path, size, mtime_ns FROM scan_errors WHERE root_id = ?", (root_id,))
        return {bytes(p): (s, m) for p, s, m in rows}

    # ---- writes, one track per transaction ----

    def put_track(self, root_id: int, track: TrackRecord, segments: list[SegmentRecord]) -> int:
        """Insert a track with its segments, or update the one at the same path in place (its id is kept),
        atomically; clears any earlier error for the path and marks the track present."""
        values = {
            "root_id": root_id,
            "path": track.path,
            "size": track.size,
            "mtime_ns": track.mtime_ns,
            "bundle_id": track.bundle_id,
            "title": track.title,
            "artist": track.artist,
            "album": track.album,
            "duration": track.duration,
            "tempo_bpm": track.tempo_bpm,
            "musical_key": track.musical_key,
            "mode": track.mode,
            "loudness_db": track.loudness_db,
            "loudness_lufs": track.loudness_lufs,
            "vocal_score": track.vocal_score,
            "tags": json.dumps(track.tags or {}),
            "scanned_at": time.time(),
            "tag_means": _half(track.tag_means),
            "tag_peaks": _half(track.tag_peaks),
            "vocal_peak": track.vocal_peak,
            "energy": track.energy,
            "mood": track.mood,
            "drums": track.drums,
            "drum_hits": track.drum_hits,
            "drums_sfx": None,  # measured again from the embedding with the new hits and tags (backfill_sfx_drums)
            "fingerprint": track.fingerprint,
            "missing_since": None,
            "quick": int(track.quick),
        }
        columns = ", ".join(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "path")
        # The drum embedding the scan listened for is the file's, whatever analysed it, and so is a tempo a
        # person set for it: kept while the file is the same (a full rescan, another bundle), dropped with a
        # changed one, whose beats may be another piece's (SET reads the old row).
        same_file = "tracks.size = excluded.size AND tracks.mtime_ns = excluded.mtime_ns"
        kept = ("drum_sfx", "drum_sfx_key", "tempo_set")
        updates += "".join(f", {c} = CASE WHEN {same_file} THEN {c} END" for c in kept)
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO tracks({columns}) VALUES ({_marks(list(values))}) "
                f"ON CONFLICT(path) DO UPDATE SET {updates}",
                tuple(values.values()),
            )
            ((track_id,),) = conn.execute("SELECT id FROM tracks WHERE path = ?", (track.path,)).fetchall()
            conn.execute("DELETE FROM beats WHERE track_id = ?", (track_id,))
            conn.execute("DELETE FROM beats_set WHERE track_id = ?", (track_id,))  # followed on the old analysis
            conn.execute("DELETE FROM scan_errors WHERE path = ?", (track.path,))
            if track.beats is not None:
                _insert_beats(conn, track_id, track.beats)
            _put_segments(conn, track_id, track.bundle_id, segments)
        return track_id

    def put_error(self, root_id: int, path: bytes, size: int | None, mtime_ns: int | None, reason: str) -> None:
        """Record why a file was skipped; what the catalog already had for it is kept."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scan_errors(path, root_id, size, mtime_ns, reason, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (path, root_id, size, mtime_ns, reason, time.time()),
            )

    def forget_quick(self, path: bytes) -> None:
        """Remove the track at `path` if only a quick pass analysed it (its full analysis failed)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM tracks WHERE path = ? AND quick", (path,))

    def tempo_set(self, track_id: int) -> float | None:
        """The tempo a person set for the track, or None (the scan's stands)."""
        rows = self._query("SELECT tempo_set FROM tracks WHERE id = ?", (int(track_id),))
        return rows[0][0] if rows else None

    def set_tempo(self, track_id: int, bpm: float | None, beats: Beats | None = None) -> None:
        """Set the track's tempo (None: back to the one the scan measured), with its `beats` where they were
        followed at it (`beats_at_set_tempo`) rather than counted from the measured ones."""
        with self.transaction() as conn:
            conn.execute("UPDATE tracks SET tempo_set = ? WHERE id = ?", (bpm, int(track_id)))
            conn.execute("DELETE FROM beats_set WHERE track_id = ?", (int(track_id),))
            if beats is not None:
                _insert_beats(conn, int(track_id), beats, "beats_set")

    def beats_at_set_tempo(self, track_id: int) -> Beats | None:
        """The beats followed from the file at the tempo a person set, if they were (`set_tempo`)."""
        return self._beats(track_id, "beats_set")

    def put_beats_at_set_tempo(self, track_id: int, beats: Beats) -> None:
        """Store beats followed at a set tempo, unless the tempo was set again (or the track removed) while
        they were followed: the newer tempo's are the ones to keep."""
        with self.transaction() as conn:
            still = conn.execute("SELECT tempo_set FROM tracks WHERE id = ?", (int(track_id),)).fetchall()
            if still and still[0][0] == beats.bpm:
                _insert_beats(conn, int(track_id), beats, "beats_set")

    def is_quick(self, track_id: int) -> bool:
        """Whether only a quick pass has analysed the track so far."""
        return bool(self._query("SELECT 1 FROM tracks WHERE id = ? AND quick", (int(track_id),)))

    def remove_tracks(self, paths: list[bytes]) -> int:
        with self.transaction() as conn:
            removed = 0
            for path in paths:
                removed += conn.execute("DELETE FROM tracks WHERE path = ?", (path,)).rowcount
                conn.execute("DELETE FROM scan_errors WHERE path = ?", (path,))
            return removed

    def remove_errors(self, paths: list[bytes]) -> None:
        with self.transaction() as conn:
            conn.executemany("DELETE FROM scan_errors WHERE path = ?", [(p,) for p in paths])

    def set_missing(self, track_ids: Iterable[int], missing: bool) -> None:
        """Mark tracks whose file cannot be reached now (kept, left out of results), or reached again."""
        ids = [(int(i),) for i in track_ids]
        with self.transaction() as conn:
            if missing:  # the first time it went missing is kept
                conn.executemany(
                    "UPDATE tracks SET missing_since = COALESCE(missing_since, ?) WHERE id = ?",
                    [(time.time(), i) for (i,) in ids],
                )
            else:
                conn.executemany("UPDATE tracks SET missing_since = NULL WHERE id = ?", ids)

    def move_track(self, track_id: int, root_id: int, path: bytes, size: int, mtime_ns: int) -> None:
        """A file found at a new path with a known track's content: the track (id, analysis) follows it."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE tracks SET root_id = ?, path = ?, size = ?, mtime_ns = ?, missing_since = NULL WHERE id = ?",
                (root_id, path, size, mtime_ns, int(track_id)),
            )
            conn.execute("DELETE FROM scan_errors WHERE path = ?", (path,))

    def set_fingerprints(self, fingerprints: dict[int, str]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tracks SET fingerprint = ? WHERE id = ?", [(f, int(i)) for i, f in fingerprints.items()]
            )

    # ---- reading ----

    def index_revision(self) -> int:
        """Rises with every change to what the index is built from (see migrations.INDEX_REVISION)."""
        ((value,),) = self._query("SELECT value FROM revisions WHERE name = 'index'")
        return value

    def snapshot(self):
        """A read transaction: every read inside sees one state of the catalog (for building the index)."""
        return self.db.snapshot()

    def track_count(self) -> int:
        ((count,),) = self._query("SELECT COUNT(*) FROM tracks")
        return count

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
        """Per segment of `bundle_id`, in the order of `segment_vectors`: id, track, start, end, tempo, energy,
        mood. The tempo is the track's, the one every view shows, so that tempo filters and words test what
        is shown (a segment's own is measured at the track's metrical level: dsp.descriptors). A quick
        track's tempo, from one window, is not reliable enough to filter by (`QUICK_UNMEASURED`): NaN."""
        rows = self._query(
            "SELECT s.id, s.track_id, s.start, s.end, "
            f"CASE WHEN t.quick THEN 'nan' ELSE COALESCE({TEMPO}, s.tempo_bpm, 'nan') END, "
            "COALESCE(s.energy, 'nan'), COALESCE(s.mood, 'nan') FROM segments s JOIN tracks t ON t.id = s.track_id "
            "WHERE s.bundle_id = ? ORDER BY s.id",
            (bundle_id,),
        )
        return np.array(rows, dtype=SEGMENT_ROW).reshape(len(rows))

    def track_table(self, bundle_id: str) -> np.ndarray:
        """Per track with segments of `bundle_id`, sorted by id: the values that prompt filters test. A quick
        track's are left unmeasured where one window misjudges the whole track (`QUICK_UNMEASURED`): filters
        on them then pass complete tracks only, until the scan completes it."""
        shown = {"tempo_bpm": TEMPO}
        unless_quick = ", ".join(f"CASE WHEN quick THEN NULL ELSE {shown.get(c, c)} END" for c in QUICK_UNMEASURED)
        rows = self._query(
            f"SELECT id, duration, {unless_quick}, vocal_score, artist, album, energy, mood, mode, tag_peaks "
            "FROM tracks t "
            f"WHERE {IN_INDEX} ORDER BY id",
            (bundle_id,),
        )
        labels = next((len(r[-1]) // 2 for r in rows if r[-1] is not None), 0)
        table = np.zeros(len(rows), dtype=track_row(labels))
        for i, row in enumerate(rows):
            (
                track_id,
                duration,
                tempo,
                vocal_peak,
                key,
                drums,
                heard,
                vocal,
                artist,
                album,
                energy,
                mood,
                mode,
                peaks,
            ) = row
            table[i] = (
                track_id,
                duration,
                np.nan if tempo is None else tempo,
                np.nan if vocal is None else vocal,
                np.nan if vocal_peak is None else vocal_peak,
                _group_key(artist),
                _group_key(album, artist),
                np.nan if energy is None else energy,
                np.nan if mood is None else mood,
                tonic_of(key),
                np.nan if mode is None else mode,
                np.nan if drums is None else drums,
                np.nan if heard is None else heard,
                np.full(labels, np.nan) if peaks is None else np.frombuffer(peaks, "<f2"),
            )
        return table

    def track_details(self, track_ids: list[int]) -> dict[int, dict]:
        """What a result shows, for each of `track_ids` that still exists. "path" is the file as the
        filesystem names it, "display" the same for people; "online" is whether it can be opened now."""
        if not track_ids:
            return {}
        ids = [int(i) for i in track_ids]
        rows = self._query(
            f"SELECT {TRACK_FIELDS} FROM tracks t JOIN roots r ON r.id = t.root_id WHERE t.id IN ({_marks(ids)})",
            tuple(ids),
        )
        return {record["id"]: record for record in map(_track, rows)}

    def segment_details(self, segment_ids: list[int]) -> dict[int, dict]:
        """Track, start, end, tempo, vocal score, tag probabilities, energy and mood of each segment."""
        if not segment_ids:
            return {}
        ids = [int(i) for i in segment_ids]
        rows = self._query(
            "SELECT id, track_id, start, end, tempo_bpm, vocal_score, tags, energy, mood FROM segments "
            f"WHERE id IN ({_marks(ids)})",
            tuple(ids),
        )
        names = ("track_id", "start", "end", "tempo_bpm", "vocal_score", "tags", "energy", "mood")
        return {row[0]: dict(zip(names, row[1:])) | {"tags": probabilities_of_bytes(row[6])} for row in rows}

    def unheard_drums_count(self, bundle_id: str) -> int:
        """Tracks of `bundle_id` whose drums the first detector measured and the network has not (not listened
        to yet, or a file it could not decode): Recommender.unheard_drums counts the same in an index."""
        ((count,),) = self._query(
            "SELECT COUNT(*) FROM tracks WHERE bundle_id = ? AND drums IS NOT NULL AND drums_sfx IS NULL", (bundle_id,)
        )
        return count

    def quick_count(self, bundle_id: str) -> int:
        """Tracks of `bundle_id` that only a quick pass has analysed so far."""
        ((count,),) = self._query("SELECT COUNT(*) FROM tracks WHERE quick AND bundle_id = ?", (bundle_id,))
        return count

    def segments_at(self, places: list[tuple[int, float]]) -> dict[tuple[int, float], dict]:
        """`segment_details` of the segment of each (track, start), for rows of an index built before their
        track's analysis was replaced: a quick window starts on the segment grid, so its full analysis has a
        segment starting there (analysis.py quick_window)."""
        ids = {}
        for track_id, start in places:
            rows = self._query(
                "SELECT id FROM segments WHERE track_id = ? ORDER BY ABS(start - ?) LIMIT 1", (int(track_id), start)
            )
            if rows:
                ids[(track_id, start)] = rows[0][0]
        details = self.segment_details(list(ids.values()))
        return {place: details[i] for place, i in ids.items() if i in details}

    def segments_without_affect(self, bundle_id: str, limit: int) -> list[tuple[int, bytes, float | None]]:
        """Up to `limit` segments of `bundle_id` with tags but no energy yet (scanned before it existed): their
        id, tags and their track's mode."""
        return self._query(
            "SELECT s.id, s.tags, t.mode FROM segments s JOIN tracks t ON t.id = s.track_id "
            "WHERE s.bundle_id = ? AND s.energy IS NULL AND s.tags IS NOT NULL LIMIT ?",
            (bundle_id, int(limit)),
        )

    def full_scan_since(self) -> float | None:
        """When a full scan that has not finished began (seconds since the epoch): the tracks analysed before
        then are still to be analysed again by whatever scan comes next. None: no full scan is pending."""
        rows = self._query("SELECT value FROM revisions WHERE name = 'full-scan'")
        return rows[0][0] / 1000 if rows else None

    def begin_full_scan(self) -> None:
        """Record that a full scan begins now: every track analysed before now is to be analysed again."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO revisions VALUES ('full-scan', ?)", (int(time.time() * 1000),))

    def end_full_scan(self) -> None:
        """A scan went through every file: no full scan is pending any more."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM revisions WHERE name = 'full-scan'")

    def affect_version(self) -> int:
        """The version of engine/affect.py that the stored energy and mood were measured by."""
        ((value,),) = self._query("SELECT value FROM revisions WHERE name = 'affect'")
        return value

    def forget_affect(self, version: int) -> None:
        """Clear every stored energy and mood, to be measured again by `version` (from the stored tags)."""
        with self.transaction() as conn:
            conn.execute("UPDATE segments SET energy = NULL, mood = NULL")
            conn.execute("UPDATE tracks SET energy = NULL, mood = NULL")
            conn.execute("UPDATE revisions SET value = ? WHERE name = 'affect'", (int(version),))

    def put_affect(self, values: list[tuple[int, float, float]]) -> None:
        """Energy and mood of segments, by id, and the means of their tracks."""
        with self.transaction() as conn:
            conn.executemany("UPDATE segments SET energy = ?, mood = ? WHERE id = ?", [(e, m, i) for i, e, m in values])
            conn.execute(
                "UPDATE tracks SET energy = (SELECT AVG(energy) FROM segments s WHERE s.track_id = tracks.id), "
                "mood = (SELECT AVG(mood) FROM segments s WHERE s.track_id = tracks.id) WHERE id IN "
                f"(SELECT DISTINCT track_id FROM segments WHERE id IN ({_marks(values)}))",
                tuple(i for i, _, _ in values),
            )

    def recorded_analysis(self, bundle_id: str) -> str | None:
        rows = self._query("SELECT analysis_key FROM bundle_analyses WHERE bundle_id = ?", (bundle_id,))
        return rows[0][0] if rows else None

    def record_analysis(self, bundle_id: str, analysis_key: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO bundle_analyses VALUES (?, ?)", (bundle_id, analysis_key))

    def other_analyses(self, bundle_id: str) -> dict[str, str | None]:
        """The other bundles tracks were analysed with, and their recorded analysis keys (None: unknown). A
        track marked for analysis again (bundle '') is nobody's."""
        rows = self._query(
            "SELECT t.bundle_id, a.analysis_key FROM (SELECT DISTINCT bundle_id FROM tracks) t "
            "LEFT JOIN bundle_analyses a ON a.bundle_id = t.bundle_id WHERE t.bundle_id NOT IN (?, '')",
            (bundle_id,),
        )
        return dict(rows)

    def take_over(self, old_ids: list[str], bundle_id: str) -> int:
        """Mark the tracks and segments of `old_ids` as `bundle_id`'s; returns how many tracks."""
        with self.transaction() as conn:
            marks = _marks(old_ids)
            conn.execute(f"UPDATE segments SET bundle_id = ? WHERE bundle_id IN ({marks})", (bundle_id, *old_ids))
            cursor = conn.execute(
                f"UPDATE tracks SET bundle_id = ? WHERE bundle_id IN ({marks})", (bundle_id, *old_ids)
            )
            return cursor.rowcount

    def drums_version(self) -> int:
        """The version of engine/instruments.py's drum detector that the stored probabilities are."""
        ((value,),) = self._query("SELECT value FROM revisions WHERE name = 'drums'")
        return value

    def tracks_for_drums(self, bundle_id: str) -> list[tuple[int, float | None, float | None, np.ndarray]]:
        """(id, busiest drum hits, drum probability, tag peaks) of the tracks in `bundle_id`'s index (as
        `track_table` chooses them: a track marked for re-analysis stays searchable until then)."""
        rows = self._query(
            f"SELECT id, drum_hits, drums, tag_peaks FROM tracks t WHERE tag_peaks IS NOT NULL AND {IN_INDEX}",
            (bundle_id,),
        )
        return [(i, hits, p, np.frombuffer(peaks, "<f2").astype(np.float32)) for i, hits, p, peaks in rows]

    def put_drums(self, values: list[tuple[int, tuple, tuple]], version: int) -> None:
        """Per track id, its (busiest drum hits, drum probability) as read and as `version` of the detector
        measures them. A track analysed again since it was read keeps what that analysis stored."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tracks SET drum_hits = ?, drums = ? WHERE id = ? AND drum_hits IS ? AND drums IS ?",
                [(*new, i, *read) for i, read, new in values],
            )
            conn.execute("UPDATE revisions SET value = ? WHERE name = 'drums'", (int(version),))

    def sfx_drums_version(self) -> int:
        """The version of the sound-effects drum detector's fit that the stored q are (0: none stored yet)."""
        ((value,),) = self._query("SELECT value FROM revisions WHERE name = 'drums_sfx'")
        return value

    def has_foreign_sfx_drums(self, key: str | None) -> bool:
        """Whether any stored q was measured from an embedding another graph than `key`'s computed."""
        return bool(
            self._query("SELECT 1 FROM tracks WHERE drums_sfx IS NOT NULL AND drum_sfx_key IS NOT ? LIMIT 1", (key,))
        )

    def forget_sfx_drums(self, key: str | None, version: int | None = None) -> None:
        """Drop the q measured from another graph's embeddings than `key`'s; with `version` (a new fit) every
        q, recording that the ones measured from now on are that version's."""
        with self.transaction() as conn:
            if version is None:
                conn.execute(
                    "UPDATE tracks SET drums_sfx = NULL WHERE drums_sfx IS NOT NULL AND drum_sfx_key IS NOT ?", (key,)
                )
            else:
                conn.execute("UPDATE tracks SET drums_sfx = NULL WHERE drums_sfx IS NOT NULL")
                conn.execute("UPDATE revisions SET value = ? WHERE name = 'drums_sfx'", (int(version),))

    def tracks_for_sfx_drums(
        self, bundle_id: str, key: str, after: int, limit: int
    ) -> list[tuple[int, bytes, float, bytes]]:
        """(id, sound-effects embedding, busiest drum hits, tag peaks), as stored, of the complete tracks in
        `bundle_id`'s index with an embedding `key`'s graph computed and the first detector's inputs, but no
        q yet: the first `limit` after track id `after`."""
        return [
            (i, bytes(v), hits, bytes(peaks))
            for i, v, hits, peaks in self._query(
                "SELECT id, drum_sfx, drum_hits, tag_peaks FROM tracks t WHERE drums_sfx IS NULL "
                "AND drum_sfx IS NOT NULL AND drum_sfx_key = ? AND drum_hits IS NOT NULL AND tag_peaks IS NOT NULL "
                f"AND NOT quick AND id > ? AND {IN_INDEX} ORDER BY id LIMIT ?",
                (key, int(after), bundle_id, int(limit)),
            )
        ]

    def put_sfx_drums(self, values: list[tuple[int, bytes, float, bytes, float]]) -> None:
        """Per track id, its q measured from the (embedding, hits, tag peaks) read: a track analysed or listened
        to again since (by a scan in another process) keeps what that stored, to be measured from it."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE tracks SET drums_sfx = ? WHERE id = ? AND drum_sfx IS ? AND drum_hits IS ? AND tag_peaks IS ?",
                [(q, i, v, hits, peaks) for i, v, hits, peaks, q in values],
            )

    def tracks_to_listen(self, bundle_id: str, key: str, root_ids: list[int]) -> list[tuple[int, bytes, int, int]]:
        """(root id, path, size, mtime) of the complete tracks under `root_ids` analysed with `bundle_id`, whose
        file is there, not yet heard by the drum network `key` (GraphSpec.computes): what the scan listens
        to. Tracks analysed before the first detector's inputs were stored are left for their next analysis,
        as q reads those too."""
        if not root_ids:
            return []
        return [
            (r, bytes(p), s, m)
            for r, p, s, m in self._query(
                "SELECT root_id, path, size, mtime_ns FROM tracks WHERE bundle_id = ? AND NOT quick "
                "AND missing_since IS NULL AND drum_sfx_key IS NOT ? AND drum_hits IS NOT NULL "
                f"AND tag_peaks IS NOT NULL AND root_id IN ({_marks(root_ids)}) ORDER BY id",
                (bundle_id, key, *root_ids),
            )
        ]

    def put_drum_sfx(self, path: bytes, size: int, mtime_ns: int, pooled: np.ndarray | None, key: str) -> bool:
        """Store the sound-effects embedding a scan listened for on a track already analysed, or None where
        the network could not hear the file (so it is not tried again until the file changes: `put_track`
        forgets both then), if the track at `path` is still that file (size and mtime) and complete; its q is
        then measured again (Library.backfill_sfx_drums). Returns whether it was stored."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE tracks SET drum_sfx = ?, drum_sfx_key = ?, drums_sfx = NULL "
                "WHERE path = ? AND size = ? AND mtime_ns = ? AND NOT quick",
                (_half(pooled), key, path, size, mtime_ns),
            )
            return cursor.rowcount > 0

    def track_id(self, path: str | os.PathLike[str]) -> int | None:
        rows = self._query("SELECT id FROM tracks WHERE path = ?", (os.fsencode(os.path.abspath(path)),))
        return rows[0][0] if rows else None

    def tracks_titled(self, title: str, limit: int = 10) -> list[tuple[int, str | None, str | None]]:
        """(id, title, artist) of the tracks whose title is `title` (any case) or, when none is, contains it.
        A track with no title tag is titled by its file name (with or without its suffix), as `library list`
        shows it."""
        wanted = title.lower()
        untitled = [
            (int(i), display(os.path.basename(bytes(p))), a)
            for i, p, a in self._query("SELECT id, path, artist FROM tracks WHERE title IS NULL")
        ]
        for sql, names in (
            ("lower(title) = lower(?)", lambda name: wanted in (name.lower(), Path(name).stem.lower())),
            ("instr(lower(title), lower(?)) > 0", lambda name: wanted in name.lower()),
        ):
            rows = self._query(f"SELECT id, title, artist FROM tracks WHERE {sql} LIMIT ?", (title, limit))
            found = [(int(i), t, a) for i, t, a in rows] + [t for t in untitled if names(t[1])]
            if found:
                return sorted(found, key=lambda t: (t[1].lower(), t[0]))[:limit]
        return []

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
        return self._beats(track_id, "beats")

    def _beats(self, track_id: int, table: str) -> Beats | None:
        rows = self._query(f"SELECT bpm, times, downbeats, fade_at FROM {table} WHERE track_id = ?", (int(track_id),))
        if not rows:
            return None
        bpm, times, downbeats, fade_at = rows[0]
        return Beats(np.frombuffer(times, "<f8").copy(), np.frombuffer(downbeats, "<f8").copy(), bpm, fade_at)

    def put_beats(self, track_id: int, beats: Beats) -> None:
        with self.transaction() as conn:
            _insert_beats(conn, track_id, beats)

    def track_file(self, track_id: int) -> str | None:
        """The path of a track (as the filesystem wants it), or None if there is no such track."""
        rows = self._query("SELECT path FROM tracks WHERE id = ?", (int(track_id),))
        return os.fsdecode(bytes(rows[0][0])) if rows else None

    def error_of(self, path: str | os.PathLike[str]) -> str | None:
        """Why the last scan could not index the file at `path` (its record, if any, is from before), or None."""
        rows = self._query("SELECT reason FROM scan_errors WHERE path = ?", (os.fsencode(os.path.abspath(path)),))
        return rows[0][0] if rows else None

    def errors(self) -> list[tuple[str, str, float]]:
        """(display path, reason, when) of every file a scan could not index."""
        rows = self._query("SELECT path, reason, at FROM scan_errors ORDER BY path")
        return [(display(bytes(p)), r, a) for p, r, a in rows]

    def tracks(self, limit: int | None = None) -> list[dict]:
        """Every track, as `track_details` shows it, plus its bundle, loudness and number of segments."""
        rows = self._query(
            f"SELECT {TRACK_FIELDS}, (SELECT COUNT(*) FROM segments s WHERE s.track_id = t.id) "
            "FROM tracks t JOIN roots r ON r.id = t.root_id ORDER BY t.path" + (f" LIMIT {int(limit)}" if limit else "")
        )
        return [_track(row) | {"segments": row[-1]} for row in rows]

    def _reach(self) -> list[tuple[Root, int, int]]:
        """Each root, its tracks, and those kept but not reachable now: all of them when its drive is away,
        else the tracks whose own folder was not there at the last scan."""
        counts = {
            root_id: (count, missing)
            for root_id, count, missing in self._query(
                "SELECT root_id, COUNT(*), SUM(missing_since IS NOT NULL) FROM tracks GROUP BY root_id"
            )
        }
        out = []
        for r in self.roots():
            count, missing = counts.get(r.id, (0, 0))
            out.append((r, count, count if not r.online else missing))
        return out

    def out_of_reach(self) -> int:
        """How many tracks the library keeps that cannot be reached now (`_reach`)."""
        return sum(away for _, _, away in self._reach())

    def status(self, bundle_id: str | None = None) -> dict:
        ((tracks, seconds),) = self._query("SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM tracks")
        ((segments,),) = self._query("SELECT COUNT(*) FROM segments")
        ((errors,),) = self._query("SELECT COUNT(*) FROM scan_errors")
        stale = quick = 0
        if bundle_id is not None:
            ((stale,),) = self._query("SELECT COUNT(*) FROM tracks WHERE bundle_id != ?", (bundle_id,))
            quick = self.quick_count(bundle_id)
        roots = [
            {"path": r.display, "online": r.online, "last_scan": r.last_scan, "tracks": count, "offline_tracks": away}
            for r, count, away in self._reach()
        ]
        return {
            "roots": roots,
            "tracks": tracks,
            "offline_tracks": sum(r["offline_tracks"] for r in roots),
            "audio_hours": seconds / 3600,
            "segments": segments,
            "errors": errors,
            "stale_tracks": stale,
            "quick_tracks": quick,
        }
