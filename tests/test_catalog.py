"""The catalog and the SQLite layer under it: migrations (including catalogs written by older versions, built
here by hand), stable track ids, and every way the file can fail, turned into a message a user can act on."""

import sqlite3
import threading

import numpy as np
import pytest

from engine.embedder import Encoded
from engine.library import Catalog, CatalogError
from engine.library.catalog import SegmentRecord, TrackRecord
from engine.recommend.clip_cache import ClipCache, ClipEmbedding
from engine.sqlite import Database, DatabaseError, Migration, statements

# The catalog as versions 1 and 3 (PRAGMA user_version) created it, before named migrations.
SCHEMA_1 = """
CREATE TABLE roots (id INTEGER PRIMARY KEY, path BLOB NOT NULL UNIQUE, added_at REAL NOT NULL,
    online INTEGER NOT NULL DEFAULT 1, last_scan REAL);
CREATE TABLE tracks (id INTEGER PRIMARY KEY, root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    path BLOB NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, bundle_id TEXT NOT NULL,
    title TEXT, artist TEXT, album TEXT, duration REAL NOT NULL, tempo_bpm REAL, musical_key TEXT, mode REAL,
    loudness_db REAL, vocal_score REAL, tags TEXT NOT NULL, scanned_at REAL NOT NULL);
CREATE INDEX tracks_root ON tracks(root_id);
CREATE TABLE segments (id INTEGER PRIMARY KEY, track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    start REAL NOT NULL, end REAL NOT NULL, tempo_bpm REAL, bundle_id TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX segments_track ON segments(track_id);
CREATE INDEX segments_bundle ON segments(bundle_id);
CREATE TABLE scan_errors (path BLOB PRIMARY KEY, root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
    size INTEGER, mtime_ns INTEGER, reason TEXT NOT NULL, at REAL NOT NULL);
"""
SCHEMA_3_ADDS = """
ALTER TABLE tracks ADD COLUMN tag_means BLOB; ALTER TABLE tracks ADD COLUMN tag_peaks BLOB;
ALTER TABLE tracks ADD COLUMN vocal_peak REAL; ALTER TABLE segments ADD COLUMN tags BLOB;
ALTER TABLE segments ADD COLUMN vocal_score REAL;
CREATE TABLE beats (track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE, bpm REAL NOT NULL,
    times BLOB NOT NULL, downbeats BLOB NOT NULL);
"""
DIM = 8


def _old_catalog(path, version: int) -> None:
    """A catalog file as version 1 or 3 wrote it: a root, tracks 3 and 7 (ids with gaps), their segments, beats."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA_1 + (SCHEMA_3_ADDS if version == 3 else ""))
    conn.execute("INSERT INTO roots(id, path, added_at) VALUES (1, ?, 0)", (b"/music",))
    for track_id in (3, 7):
        conn.execute(
            "INSERT INTO tracks(id, root_id, path, size, mtime_ns, bundle_id, title, duration, tags, scanned_at) "
            "VALUES (?, 1, ?, 100, 5, 'nd-old', ?, 30.0, '{}', 0)",
            (track_id, f"/music/{track_id}.flac".encode(), f"Track {track_id}"),
        )
        for k in range(4):
            vector = np.full(DIM, track_id + k, "<f4").tobytes()
            conn.execute(
                "INSERT INTO segments(track_id, start, end, bundle_id, vector) VALUES (?, ?, ?, 'nd-old', ?)",
                (track_id, 6.0 * k, 6.0 * k + 12, vector),
            )
    if version == 3:
        times = np.arange(4, dtype="<f8").tobytes()
        conn.execute("INSERT INTO beats VALUES (7, 120, ?, ?)", (times, times))
    conn.execute("INSERT INTO scan_errors VALUES (?, 1, 10, 1, 'has no audio stream', 0)", (b"/music/clip.mp4",))
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def _track(path: bytes, bundle_id: str = "nd-new") -> tuple[TrackRecord, list[SegmentRecord]]:
    record = TrackRecord(path=path, size=1, mtime_ns=1, bundle_id=bundle_id, duration=12.0, tags={})
    return record, [SegmentRecord(0.0, 12.0, 120.0, np.ones(DIM, np.float32))]


def _segments_per_track(catalog: Catalog) -> dict[int, int]:
    return dict(catalog._connection().execute("SELECT track_id, COUNT(*) FROM segments GROUP BY track_id"))


def test_a_schema_3_catalog_is_upgraded_keeping_ids_segments_and_beats(tmp_path):
    path = tmp_path / "catalog.sqlite"
    _old_catalog(path, version=3)
    catalog = Catalog(path)
    conn = catalog._connection()
    assert [t["id"] for t in catalog.tracks()] == [3, 7]
    # Rebuilding the tracks table must not cascade into the rows that refer to it.
    assert _segments_per_track(catalog) == {3: 4, 7: 4}
    assert catalog.beats(7) is not None and catalog.beats(3) is None
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert "AUTOINCREMENT" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tracks'").fetchone()[0]
    assert [e[1] for e in catalog.errors()] == ["has no audio stream"]
    details = catalog.track_details([7])[7]
    assert details["title"] == "Track 7" and details["path"] == "/music/7.flac" and details["online"]

    root = catalog.roots()[0]
    first = catalog.put_track(root.id, *_track(b"/music/new.flac"))
    assert first == 8
    catalog.remove_tracks([b"/music/new.flac"])
    assert catalog.put_track(root.id, *_track(b"/music/newer.flac")) == 9  # never reused
    # Loudness in LUFS is measured during analysis: the tracks analysed before are stale until measured.
    assert dict(conn.execute("SELECT id, bundle_id FROM tracks WHERE id IN (3, 7)")) == {3: "", 7: ""}
    applied = [name for (name,) in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert applied[:3] == ["create-tables", "segment-tags", "beats"] and len(applied) > 3
    catalog.close()
    assert [t["loudness_lufs"] for t in catalog.tracks()] == [None, None, None]
    again = Catalog(path)  # nothing is applied twice
    assert [t["id"] for t in again.tracks()] == [3, 7, 9]


def test_a_schema_1_catalog_is_upgraded_and_its_tracks_marked_for_re_analysis(tmp_path):
    path = tmp_path / "catalog.sqlite"
    _old_catalog(path, version=1)
    catalog = Catalog(path)
    assert [t["id"] for t in catalog.tracks()] == [3, 7]
    assert _segments_per_track(catalog) == {3: 4, 7: 4}
    # Schema 1 had no per-segment tags: every track is stale for any bundle until the next scan.
    assert catalog.status("nd-old")["stale_tracks"] == 2
    columns = {row[1] for row in catalog._connection().execute("PRAGMA table_info(segments)")}
    assert {"tags", "vocal_score"} <= columns


def test_a_catalog_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations VALUES ('from-the-future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="newer Needledrop"):
        Catalog(path)
    old = tmp_path / "old.sqlite"
    _old_catalog(old, version=3)
    sqlite3.connect(old).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(CatalogError, match="newer Needledrop"):
        Catalog(old)


def test_track_ids_are_never_reused(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    root = catalog.add_root(tmp_path)
    ids = [catalog.put_track(root.id, *_track(f"/m/{i}.flac".encode())) for i in range(3)]
    catalog.remove_tracks([b"/m/2.flac"])
    assert catalog.put_track(root.id, *_track(b"/m/3.flac")) > ids[-1]
    # Writing a known path again updates it in place.
    assert catalog.put_track(root.id, *_track(b"/m/0.flac", bundle_id="nd-other")) == ids[0]
    assert _segments_per_track(catalog)[ids[0]] == 1


def test_an_empty_catalog_file_is_refused_not_started_over(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"")  # what a crash while copying, or a full disk, leaves behind
    with pytest.raises(CatalogError, match=r"empty \(0 bytes\).*backup.*move it away"):
        Catalog(path)
    assert path.stat().st_size == 0  # left as it was, for the user to decide


def test_a_file_that_is_not_a_catalog_is_a_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"these are not the droids you are looking for\n" * 200)
    with pytest.raises(CatalogError, match="is damaged.*backup"):
        Catalog(path)


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    root = catalog.add_root(tmp_path)
    kept = catalog.put_track(root.id, *_track(b"/m/kept.flac"))
    conn = catalog._connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full: not one more page
    record, _ = _track(b"/m/big.flac")
    big = [SegmentRecord(float(i), i + 12.0, None, np.ones(4096, np.float32)) for i in range(20)]
    with pytest.raises(CatalogError, match="disk .* is full"):
        catalog.put_track(root.id, record, big)
    assert [t["id"] for t in catalog.tracks()] == [kept]


def test_a_really_full_disk_is_a_clear_error_and_loses_nothing(small_disk):
    catalog = Catalog(small_disk / "catalog.sqlite")
    root = catalog.add_root(small_disk)
    big = [SegmentRecord(float(i), i + 12.0, None, np.ones(4096, np.float32)) for i in range(4)]  # 64 KiB
    stored = []
    with pytest.raises(CatalogError, match="disk .* is full"):
        for i in range(100):
            stored.append(catalog.put_track(root.id, _track(f"/m/{i}.flac".encode())[0], big))
    assert 0 < len(stored) < 100
    assert [t["id"] for t in catalog.tracks()] == stored  # every track written before is still whole
    assert _segments_per_track(catalog) == {i: len(big) for i in stored}


def test_a_locked_catalog_is_a_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    root = catalog.add_root(tmp_path)
    catalog._connection().execute("PRAGMA busy_timeout = 200")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with pytest.raises(CatalogError, match="locked by another program"):
            catalog.put_track(root.id, *_track(b"/m/a.flac"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert catalog.put_track(root.id, *_track(b"/m/a.flac")) > 0


# ---- the generic layer ----


def test_migrations_run_once_in_order_each_in_a_transaction(tmp_path):
    path = tmp_path / "db.sqlite"
    calls = []

    def fill(conn):
        calls.append("fill")
        conn.execute("INSERT INTO things VALUES (1), (2)")

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO nowhere VALUES (1)")

    base = [
        Migration("things", "CREATE TABLE things (x INTEGER); CREATE INDEX things_x ON things(x);"),
        Migration("fill", fill),
    ]
    with pytest.raises(DatabaseError, match="no such table: nowhere"):
        Database(path, [*base, Migration("broken", broken)])
    db = Database(path, [*base, Migration("fixed", "CREATE TABLE whole (x)")])
    assert calls == ["fill"]  # applied once, not again when the file was opened a second time
    tables = {name for (name,) in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables and "whole" in tables  # the broken step was rolled back whole
    assert [n for (n,) in db.query("SELECT name FROM migrations ORDER BY rowid")] == ["things", "fill", "fixed"]
    assert db.query("PRAGMA user_version") == [(3,)]


def test_statements_keep_a_triggers_body_whole():
    script = """CREATE TABLE a (x); CREATE TABLE n (v);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE n SET v = v + 1; UPDATE n SET v = v * 2; END;
    INSERT INTO n VALUES (';');"""
    found = statements(script)
    assert len(found) == 4 and found[2].count("UPDATE") == 2


def test_transactions_nest_and_roll_back_whole_and_threads_get_their_own_connection(tmp_path):
    db = Database(tmp_path / "db.sqlite", [Migration("t", "CREATE TABLE t (x)")])
    with pytest.raises(KeyError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        with db.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (2)")
        raise KeyError("an error after the inner transaction ended")
    assert db.query("SELECT COUNT(*) FROM t") == [(0,)]
    connections = {}

    def use(name):
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (?)", (name,))
        connections[name] = db.connection()

    threads = [threading.Thread(target=use, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert connections["a"] is not connections["b"] and db.query("SELECT COUNT(*) FROM t") == [(2,)]
    with db.snapshot(), pytest.raises(RuntimeError, match="inside a read snapshot"), db.transaction():
        pass


def test_the_clip_cache_runs_on_the_shared_layer_and_starts_over_from_an_empty_file(tmp_path):
    path = tmp_path / "clip-cache.sqlite"
    clip = ClipEmbedding(Encoded(np.ones((3, 4), np.float32), np.ones(4, np.float32)), {"motion": 0.5}, 2.0, 9.0)
    cache = ClipCache(path)
    cache.put("k", clip)
    got = []
    worker = threading.Thread(target=lambda: got.append(cache.get("k")))
    worker.start()
    worker.join()
    assert got[0].cues == {"motion": 0.5} and np.array_equal(got[0].encoded.tokens, clip.encoded.tokens)
    assert isinstance(cache.db, Database)
    cache.db.close()
    for leftover in tmp_path.glob("clip-cache.sqlite-*"):
        leftover.unlink()
    path.write_bytes(b"")  # a cache is only a cache: an empty file is started over, not refused
    again = ClipCache(path)
    assert len(again) == 0 and again.get("k") is None
