"""The records the catalog stores and hands out, and how paths are shown to people.

Paths are bytes (os.fsencode) everywhere inside the library, so a file name that is not valid UTF-8 is kept
exactly; `display` turns one into text for people, `os.fsdecode` into a name the filesystem accepts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from engine.media.beats import Beats

# Per segment, in the index's row order: what queries filter on without reading the catalog.
SEGMENT_ROW = np.dtype(
    [
        ("segment", "<i8"),
        ("track", "<i8"),
        ("start", "<f4"),
        ("end", "<f4"),
        ("tempo", "<f4"),
        ("energy", "<f4"),  # engine/affect.py, -1..+1 (NaN: not known yet)
        ("mood", "<f4"),
    ]
)


def track_row(labels: int) -> np.dtype:
    """Per track, the values prompt filters test (`labels` tag probabilities)."""
    return np.dtype(
        [
            ("track", "<i8"),
            ("duration", "<f4"),
            ("tempo", "<f4"),
            ("vocal", "<f4"),
            ("vocal_peak", "<f4"),
            ("artist", "<u8"),
            ("album", "<u8"),
            ("energy", "<f4"),  # means over its segments (engine/affect.py)
            ("mood", "<f4"),
            ("tonic", "<i1"),  # pitch class of its key (0 = C), -1 unknown; for key preferences (scoring.py)
            ("mode", "<f4"),  # +1 clearly major .. -1 clearly minor (engine/media/dsp.py key_and_mode)
            ("drums", "<f4"),  # probability of drums (engine/instruments.py), NaN unmeasured
            ("drums_sfx", "<f4"),  # the sound-effects detector's q (engine/instruments.py), NaN unmeasured
            ("tag_peaks", "<f2", (labels,)),
        ]
    )


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
class KnownTrack:
    """What a scan needs to know about a catalogued track to decide what to do with its file."""

    id: int
    path: bytes
    size: int
    mtime_ns: int
    bundle_id: str
    fingerprint: str | None
    missing: bool  # its file was not found at the last scan, in a folder that was not there either
    quick: bool = False  # analysed by a quick pass only: the next scan completes it
    scanned_at: float = 0.0  # when it was last analysed (seconds since the epoch)


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
    loudness_db: float | None = None  # RMS level, dBFS (an input of the affect measures)
    loudness_lufs: float | None = None  # integrated loudness, EBU R128 (engine/media/loudness.py)
    vocal_score: float | None = None
    tags: dict | None = None  # {"genres": {name: p}, "moods": ..., "instruments": ...}
    tag_means: np.ndarray | None = None  # (labels,) mean tag probabilities over the track
    tag_peaks: np.ndarray | None = None  # (labels,) the highest segment's probability per tag
    vocal_peak: float | None = None  # the most sung segment's vocal score
    beats: Beats | None = None  # beat and downbeat times (schema 3; older tracks get them on demand)
    fingerprint: str | None = None  # size and content hash, to recognise the file after a move (files.py)
    energy: float | None = None  # mean over its segments (engine/affect.py)
    mood: float | None = None
    drums: float | None = None  # probability that it has drums (engine/instruments.py)
    drum_hits: float | None = None  # its busiest segment's drum hits per second, which that probability read
    quick: bool = False  # analysed from one window only (a quick pass, analysis.py): provisional


@dataclass(frozen=True)
class SegmentRecord:
    start: float
    end: float
    tempo_bpm: float | None
    vector: np.ndarray  # float32 (embedding_dim,)
    tags: np.ndarray | None = None  # (labels,) tag probabilities over the segment
    vocal_score: float | None = None
    energy: float | None = None  # engine/affect.py
    mood: float | None = None
    brightness: float | None = None  # engine/media/dsp.py, stored; energy read it until affect VERSION 6
