"""Where (video, music[, text]) pairs come from.

- a folder of music videos: each video's own soundtrack is its music (the paper's YT8M-MusicVideo
  setting), cut into aligned windows one music segment long;
- a manifest, CSV or JSONL, with columns video, video_in, video_out, music, music_in, music_out[, text];
- generated sets (training.data.planted, and the bootstrap corpus).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import av

from training.errors import TrainingError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mts", ".mxf"}
MANIFEST_COLUMNS = ("video", "video_in", "video_out", "music", "music_in", "music_out")


@dataclass(frozen=True)
class PairSpec:
    video: str
    video_in: float
    video_out: float | None
    music: str
    music_in: float
    music_out: float | None
    text: str | None = None
    # Pairs of one group (e.g. windows of one music video) are never split between training and held-out.
    group: str = ""
    # "train" or "heldout" to fix the split by hand (the bootstrap corpus does); empty: decided by group.
    split: str = ""
    # The music's feel where it is known by construction ({"energy": "low"|"high", "mood": "major"|"minor"}):
    # synthesised texts say it instead of the measured one.
    feel: dict | None = None


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        if container.duration:
            return container.duration / av.time_base
        stream = (container.streams.video or container.streams.audio)[0]
        return float(stream.duration * stream.time_base) if stream.duration else 0.0


def pairs_from_music_videos(folder: str | Path, window: float, hop: float | None = None) -> list[PairSpec]:
    """Aligned `window`-second (video, own soundtrack) pairs from every video with audio under `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"{folder} is not a folder of music videos")
    hop = hop or window
    pairs = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        try:
            with av.open(str(path)) as container:
                if not container.streams.video or not container.streams.audio:
                    log.warning("skipping %s: needs both a video and an audio stream", path)
                    continue
            duration = media_duration(path)
        except av.error.FFmpegError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        starts = [i * hop for i in range(int(max(duration - window, 0) // hop) + 1)] if duration >= window else []
        if not starts and duration >= window / 2:  # a short video still makes one pair
            starts = [0.0]
        for start in starts:
            end = min(start + window, duration)
            pairs.append(PairSpec(str(path), start, end, str(path), start, end, group=str(path)))
    return pairs


def _number(value, column: str, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TrainingError(f"{where}: column {column} must be a number of seconds, not {value!r}") from None


def _split(value, where: str) -> str:
    if value in (None, ""):
        return ""
    if value not in ("train", "heldout"):
        raise TrainingError(f"{where}: column split must be train or heldout, not {value!r}")
    return value


def pairs_from_manifest(path: str | Path) -> list[PairSpec]:
    """Rows of a CSV (with a header) or JSONL manifest; relative media paths are relative to the manifest."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        rows = []
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((i, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise TrainingError(f"{path}:{i}: not a JSON object ({exc})") from None
    else:
        with open(path, newline="") as f:
            rows = list(enumerate(csv.DictReader(f), start=1))
    pairs = []
    for i, row in rows:
        where = f"{path}:{i}"
        if not isinstance(row, dict):
            raise TrainingError(f"{where}: expected an object with video, music, ... not {type(row).__name__}")
        missing = [c for c in ("video", "music") if not row.get(c)]
        if missing:
            raise TrainingError(f"{where}: missing {', '.join(missing)}")
        video, music = (str((path.parent / row[c]).resolve()) for c in ("video", "music"))
        pairs.append(
            PairSpec(
                video=video,
                video_in=_number(row.get("video_in"), "video_in", where) or 0.0,
                video_out=_number(row.get("video_out"), "video_out", where),
                music=music,
                music_in=_number(row.get("music_in"), "music_in", where) or 0.0,
                music_out=_number(row.get("music_out"), "music_out", where),
                text=row.get("text") or None,
                group=row.get("group") or video,
                split=_split(row.get("split"), where),
                feel=row.get("feel") or None,
            )
        )
    return pairs
