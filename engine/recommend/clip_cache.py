"""Encoded clips kept across runs, so moving the balance slider or editing the prompt never re-decodes video.

A clip's embedding depends on the file's content, the in/out points, the model bundle and the sampling
code; the key covers all of them, so an edited file, a new bundle or an engine upgrade misses the cache
instead of returning a stale vector. One SQLite file (WAL) beside the catalog, through the shared SQLite
layer (engine/sqlite.py): safe from several threads and processes, and a torn write is rolled back rather
than read. Unlike the catalog it holds nothing that cannot be computed again, so a damaged (empty) file
is simply started over, and a cache that cannot be written (a full disk) is passed by with a warning: a
query never fails for its cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.embedder import Encoded
from engine.features import FEATURES_VERSION
from engine.sqlite import Database, DatabaseError, Migration

log = logging.getLogger(__name__)

CACHE_NAME = "clip-cache.sqlite"
MAX_ENTRIES = 2000  # ~2 MB each at the longest clip length; the least recently used go first
MIGRATIONS = (
    Migration(
        "create-clips",
        "CREATE TABLE IF NOT EXISTS clips (key TEXT PRIMARY KEY, steps INTEGER NOT NULL, width INTEGER NOT NULL, "
        "tokens BLOB NOT NULL, pooled BLOB NOT NULL, cues TEXT NOT NULL, duration REAL NOT NULL, "
        "file_duration REAL NOT NULL, used REAL NOT NULL)",
    ),
)


@dataclass(frozen=True)
class ClipEmbedding:
    encoded: Encoded
    cues: dict[str, float]  # the clip's mean low-level cues (for explanations)
    duration: float  # of the encoded range, seconds
    file_duration: float


def clip_key(path: str | os.PathLike[str], start: float, end: float | None, bundle_id: str) -> str:
    stat = os.stat(path)
    parts = [os.path.realpath(path), stat.st_size, stat.st_mtime_ns, round(start, 3), end and round(end, 3)]
    return hashlib.sha256(json.dumps([*parts, bundle_id, FEATURES_VERSION]).encode()).hexdigest()


class ClipCache:
    def __init__(self, path: Path, max_entries: int = MAX_ENTRIES):
        self.path = Path(path)
        self.max_entries = max_entries
        self.db: Database | None = None
        try:
            self.db = Database(self.path, MIGRATIONS, what="clip cache", precious=False)
        except DatabaseError as exc:  # queries work without it; clips are encoded each time
            log.warning("the clip cache is off: %s", exc)

    def get(self, key: str) -> ClipEmbedding | None:
        if self.db is None:
            return None
        rows = self.db.query(
            "SELECT steps, width, tokens, pooled, cues, duration, file_duration FROM clips WHERE key = ?", (key,)
        )
        if not rows:
            return None
        steps, width, tokens, pooled, cues, duration, file_duration = rows[0]
        try:
            with self.db.transaction() as conn:
                conn.execute("UPDATE clips SET used = ? WHERE key = ?", (time.time(), key))
        except DatabaseError as exc:  # only the eviction order is lost
            log.warning("%s", exc)
        encoded = Encoded(
            np.frombuffer(tokens, "<f4").reshape(steps, width).copy(), np.frombuffer(pooled, "<f4").copy()
        )
        return ClipEmbedding(encoded, json.loads(cues), duration, file_duration)

    def put(self, key: str, clip: ClipEmbedding) -> None:
        """Keep `clip`; when it cannot be written it is computed again next time, and the log says why."""
        if self.db is None:
            return
        try:
            self._put(key, clip)
        except DatabaseError as exc:
            log.warning("the clip was not cached: %s", exc)

    def _put(self, key: str, clip: ClipEmbedding) -> None:
        tokens = np.ascontiguousarray(clip.encoded.tokens, "<f4")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO clips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    tokens.shape[0],
                    tokens.shape[1],
                    tokens.tobytes(),
                    np.ascontiguousarray(clip.encoded.pooled, "<f4").tobytes(),
                    json.dumps(clip.cues),
                    clip.duration,
                    clip.file_duration,
                    time.time(),
                ),
            )
            conn.execute(
                "DELETE FROM clips WHERE key NOT IN (SELECT key FROM clips ORDER BY used DESC LIMIT ?)",
                (self.max_entries,),
            )

    def __len__(self) -> int:
        if self.db is None:
            return 0
        return self.db.query("SELECT COUNT(*) FROM clips")[0][0]
