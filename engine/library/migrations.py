"""The catalog's schema as named migrations, applied once each, in order (see engine/sqlite.py).

The first three are the schema versions 1 to 3 that catalogs recorded in `PRAGMA user_version` before
migrations had names: such a file is taken to have had the first n. Never edit or reorder a migration that
has shipped; add a new one.
"""

from __future__ import annotations

from engine.sqlite import Migration

LEGACY_VERSIONS = 3

CREATE_TABLES = """
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
    scanned_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_root ON tracks(root_id);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    start REAL NOT NULL,
    end REAL NOT NULL,
    tempo_bpm REAL,
    bundle_id TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_track ON segments(track_id);
CREATE INDEX IF NOT EXISTS segments_bundle ON segments(bundle_id);
CREATE TABLE IF NOT EXISTS scan_errors (
    path BLOB PRIMARY KEY,
    root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
    size INTEGER,
    mtime_ns INTEGER,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""

# Per-segment tags arrived in schema 2. Tracks analysed before have none: marking them as embedded by no
# bundle makes the next scan re-analyse them (their records are kept until then).
SEGMENT_TAGS = """
ALTER TABLE tracks ADD COLUMN tag_means BLOB;
ALTER TABLE tracks ADD COLUMN tag_peaks BLOB;
ALTER TABLE tracks ADD COLUMN vocal_peak REAL;
ALTER TABLE segments ADD COLUMN tags BLOB;
ALTER TABLE segments ADD COLUMN vocal_score REAL;
UPDATE tracks SET bundle_id = '';
"""

# Tracks without beats get them when asked for (Library.beats).
BEATS = """
CREATE TABLE IF NOT EXISTS beats (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    bpm REAL NOT NULL,
    times BLOB NOT NULL,
    downbeats BLOB NOT NULL
);
"""

# Track ids are handed to editors' timelines and the API: AUTOINCREMENT never gives a removed track's id to
# a new file (a plain INTEGER PRIMARY KEY reuses the highest one). SQLite cannot change a primary key in
# place, so the table is rebuilt, keeping every row and id, with foreign keys off: dropping the old table
# with them on would delete every segment and beat through ON DELETE CASCADE.
# Also new: `fingerprint` (files.fingerprint), to recognise a moved file; `missing_since`, set while a
# track's file is not found in a folder that is not there either (an unplugged drive, a dangling link).
TRACK_COLUMNS = (
    "id, root_id, path, size, mtime_ns, bundle_id, title, artist, album, duration, tempo_bpm, musical_key, mode, "
    "loudness_db, vocal_score, tags, scanned_at, tag_means, tag_peaks, vocal_peak"
)
STABLE_TRACK_IDS = f"""
CREATE TABLE tracks_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    tag_means BLOB, tag_peaks BLOB, vocal_peak REAL,
    fingerprint TEXT,
    missing_since REAL
);
INSERT INTO tracks_new ({TRACK_COLUMNS}) SELECT {TRACK_COLUMNS} FROM tracks;
DROP TABLE tracks;
ALTER TABLE tracks_new RENAME TO tracks;
CREATE INDEX tracks_root ON tracks(root_id);
CREATE INDEX tracks_fingerprint ON tracks(fingerprint);
"""

# A counter that rises with every change to what the index is built from (segments, and the track values
# its filters test), so "is the index in step with the catalog?" is one comparison. Triggers also see the
# rows that ON DELETE CASCADE removes.
INDEX_REVISION = """
CREATE TABLE revisions (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO revisions VALUES ('index', 0);
CREATE TRIGGER segments_added AFTER INSERT ON segments
BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
CREATE TRIGGER segments_removed AFTER DELETE ON segments
BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
CREATE TRIGGER segments_changed AFTER UPDATE ON segments
BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
CREATE TRIGGER tracks_changed AFTER UPDATE OF duration, tempo_bpm, vocal_score, vocal_peak, artist, album, tag_peaks
ON tracks BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
"""

# Energy and mood (engine/affect.py) per segment and per track. They are computed from stored values (tags,
# tempo, mode), so segments scanned before are filled in by the library when it opens (Library.backfill_affect)
# instead of being re-analysed; a partial index keeps "is there any left?" instant on a large library.
AFFECT = """
ALTER TABLE segments ADD COLUMN energy REAL;
ALTER TABLE segments ADD COLUMN mood REAL;
ALTER TABLE tracks ADD COLUMN energy REAL;
ALTER TABLE tracks ADD COLUMN mood REAL;
CREATE INDEX segments_without_affect ON segments(bundle_id) WHERE energy IS NULL;
"""

# Which version of engine/affect.py's measure the stored energy and mood are (0: not recorded).
AFFECT_VERSION = "INSERT INTO revisions VALUES ('affect', 0);"
BRIGHTNESS = "ALTER TABLE segments ADD COLUMN brightness REAL;"
# The probability that a track has drums (engine/instruments.py); NULL until the track is analysed again.
DRUMS = "ALTER TABLE tracks ADD COLUMN drums REAL;"

# Integrated loudness in LUFS (engine/media/loudness.py), which every delivery is judged by; the RMS level
# in loudness_db stays an input of the affect measures. It is measured while a track is analysed, so the
# tracks analysed before are marked stale, as with segment-tags: the next scan measures them (their
# records stay searchable until then).
LOUDNESS_LUFS = """
ALTER TABLE tracks ADD COLUMN loudness_lufs REAL;
UPDATE tracks SET bundle_id = '';
"""

# Tracks a quick pass analysed from one window only (engine/library/analysis.py): searchable, provisional,
# completed by the next scan. Every track before was analysed whole.
# The partial index keeps counting them (each filtered query does) instant.
QUICK = """
ALTER TABLE tracks ADD COLUMN quick INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tracks_quick ON tracks(quick) WHERE quick;
"""

# Where each track's fade-out begins (engine/media/beats.py fade_start); NULL for tracks scanned before it
# was measured (their fits keep to the last beat heard until a full rescan).
FADE = """
ALTER TABLE beats ADD COLUMN fade_at REAL;
"""

# Each track's busiest drum hits per second, which its drum probability read, so that a new fit of the
# detector is applied from stored values (Library.backfill_drums); 'drums' records which fit the stored
# probabilities are (1: the first, which stored no hits: they are recovered from its probability). The
# index reads the probability, so its change is a change of what the index is built from.
DRUM_HITS = """
ALTER TABLE tracks ADD COLUMN drum_hits REAL;
INSERT INTO revisions VALUES ('drums', 1);
DROP TRIGGER tracks_changed;
CREATE TRIGGER tracks_changed AFTER UPDATE OF duration, tempo_bpm, vocal_score, vocal_peak, artist, album, tag_peaks,
drums ON tracks BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
"""

# Each bundle's analysis key (Bundle.analysis_key) as the library met it, so that tracks analysed with one
# bundle are taken over by a later one that analyses identically (Library.adopt_equivalent_analyses).
BUNDLE_ANALYSES = """
CREATE TABLE bundle_analyses (bundle_id TEXT PRIMARY KEY, analysis_key TEXT NOT NULL);
"""

# A file that is silence throughout is skipped, and a silent part of a track left out of the index
# (engine/library/analysis.py), where both used to be indexed with what the tagger made of silence. The files
# analysed before whose integrated loudness was undefined (all below the gate) are marked stale, so that the
# next scan finds them silent and drops their records; a silent part of a track that has sound goes at the
# track's next full analysis (`library scan --full`).
SILENT = "UPDATE tracks SET bundle_id = '' WHERE loudness_lufs IS NULL;"

# Keys are named as musicians spell them (engine/media/dsp.py key_name): the ones stored with sharps where
# the key is written with flats are renamed in place (the same pitch class, so nothing else changes).
KEY_SPELLING = """
UPDATE tracks SET musical_key = CASE musical_key
    WHEN 'C# major' THEN 'Db major' WHEN 'D# major' THEN 'Eb major' WHEN 'G# major' THEN 'Ab major'
    WHEN 'A# major' THEN 'Bb major' WHEN 'D# minor' THEN 'Eb minor' WHEN 'A# minor' THEN 'Bb minor'
    ELSE musical_key END
WHERE musical_key IN ('C# major', 'D# major', 'G# major', 'A# major', 'D# minor', 'A# minor');
"""

# A track whose beats found no steady pulse has no tempo (engine/library/analysis.py): older scans stored
# the estimator's guess for it and its segments, which is cleared in place.
NO_PULSE_NO_TEMPO = """
UPDATE segments SET tempo_bpm = NULL
WHERE tempo_bpm IS NOT NULL AND track_id IN (SELECT track_id FROM beats WHERE bpm = 0);
UPDATE tracks SET tempo_bpm = NULL
WHERE tempo_bpm IS NOT NULL AND id IN (SELECT track_id FROM beats WHERE bpm = 0);
"""

# The drum detector on aisfx's sound-effects network (engine/instruments.py, engine/media/sfx_embedding.py):
# per track its pooled window embeddings (`drum_sfx`, float16), the key of the graph that computed them
# (`drum_sfx_key`, GraphSpec.computes: another graph's vectors are listened for again; a key without a vector:
# the network could not hear the file) and q (`drums_sfx`), which Library.backfill_sfx_drums computes from
# the stored vectors; 'drums_sfx' records which fit of the detector the stored q are (0: none yet). Every
# track has none at first: the scan's last pass listens to each (decoding, mel and graph only) instead of
# analysing it again. The index reads q.
DRUM_SFX = """
ALTER TABLE tracks ADD COLUMN drum_sfx BLOB;
ALTER TABLE tracks ADD COLUMN drum_sfx_key TEXT;
ALTER TABLE tracks ADD COLUMN drums_sfx REAL;
INSERT INTO revisions VALUES ('drums_sfx', 0);
DROP TRIGGER tracks_changed;
CREATE TRIGGER tracks_changed AFTER UPDATE OF duration, tempo_bpm, vocal_score, vocal_peak, artist, album, tag_peaks,
drums, drums_sfx ON tracks BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
"""

# A tempo a person set for a track (Library.set_tempo), where the scan read another (at first only a
# metrical level of its pulse; any tempo since `beats-set`, below); kept through re-analysis (the scan never
# writes it), shown and filtered on in place of the measured one. The index reads it.
TEMPO_SET = """
ALTER TABLE tracks ADD COLUMN tempo_set REAL;
DROP TRIGGER tracks_changed;
CREATE TRIGGER tracks_changed AFTER UPDATE OF duration, tempo_bpm, vocal_score, vocal_peak, artist, album, tag_peaks,
drums, drums_sfx, tempo_set ON tracks BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'index'; END;
"""

# Beats followed again from the file at a tempo a person set that is none of the measured tempo's metrical
# levels (Library.set_tempo), whose beats the measured ones cannot give. Dropped when the tempo is set again
# or the track analysed again, and followed again when next asked for.
BEATS_SET = """
CREATE TABLE beats_set (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    bpm REAL NOT NULL,
    times BLOB NOT NULL,
    downbeats BLOB NOT NULL,
    fade_at REAL
);
"""

MIGRATIONS = (
    Migration("create-tables", CREATE_TABLES),  # schema 1
    Migration("segment-tags", SEGMENT_TAGS),  # schema 2
    Migration("beats", BEATS),  # schema 3
    Migration("stable-track-ids", STABLE_TRACK_IDS, foreign_keys_off=True),
    Migration("index-revision", INDEX_REVISION),
    Migration("affect", AFFECT),
    Migration("affect-version", AFFECT_VERSION),
    Migration("brightness", BRIGHTNESS),
    Migration("drums", DRUMS),
    Migration("loudness-lufs", LOUDNESS_LUFS),
    Migration("quick-analysis", QUICK),
    Migration("fade-start", FADE),
    Migration("drum-hits", DRUM_HITS),
    Migration("bundle-analyses", BUNDLE_ANALYSES),
    Migration("silent-files", SILENT),
    Migration("key-spelling", KEY_SPELLING),
    Migration("no-pulse-no-tempo", NO_PULSE_NO_TEMPO),
    Migration("drum-sfx", DRUM_SFX),
    Migration("tempo-set", TEMPO_SET),
    Migration("beats-set", BEATS_SET),
)
