"""Build the bootstrap corpus and its pairs manifest: `python -m training bootstrap --out DIR`.

Writes DIR/music/, DIR/video/, music.jsonl, video.jsonl, licences.json and pairs.jsonl (the manifest that
`python -m training features --manifest` reads). Media already on disk are reused, so an interrupted
build continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.bootstrap import pairing
from training.bootstrap.music import build_music
from training.bootstrap.video import build_video
from training.data.cache import FeatureCache
from training.data.sources import media_duration

log = logging.getLogger(__name__)
MIN_SEGMENT_SECONDS = 6.0


def _held_out(key: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < fraction


def held_out_tracks(tracks: list[dict], fraction: float, seed: int) -> set[str]:
    """The paths of the tracks held out. Excerpts of one recording and the four versions of one feel base
    share a `group` and fall on the same side: a held-out query must not meet a neighbour of its answer."""
    return {t["path"] for t in tracks if _held_out(t.get("group") or t["path"], fraction, seed)}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build_media(out: Path, *, renders: int, loops: int, feel_bases: int, clips: int, seed: int) -> None:
    build_music(out, renders=renders, loops=loops, feel_bases=feel_bases, seed=seed)  # builds what is missing
    if not (out / "video.jsonl").is_file():
        photo = int(clips * 0.7)
        build_video(
            out,
            photo_clips=photo,
            video_clips=(clips - photo) // 2,
            synthetic_clips=clips - photo - (clips - photo) // 2,
            seed=seed,
        )
    # How many files each licence covers (a clip cut from several photos counts once per photo).
    licences = Counter(t["licence"] for t in _jsonl(out / "music.jsonl"))
    licences.update(part for c in _jsonl(out / "video.jsonl") for part in c["licence"].split("; "))
    (out / "licences.json").write_text(json.dumps(dict(licences.most_common()), indent=2))


def make_pairs(out: Path, cache: FeatureCache, *, seed: int, heldout: float, per_clip: int) -> Path:
    """Segment the music, estimate affect on both sides, pair within each split, write pairs.jsonl."""
    audio = cache.pre.audio
    segments = []  # (track path, start, end)
    tracks = _jsonl(out / "music.jsonl")
    held_out = held_out_tracks(tracks, heldout, seed)
    known_feel = {t["path"]: t["feel"] for t in tracks if t.get("feel")}
    for track in tracks:
        path = str(out / track["path"])
        duration = media_duration(Path(path))
        start = 0.0
        while start + MIN_SEGMENT_SECONDS <= duration:
            segments.append((path, track["path"], start, min(start + audio.segment_seconds, duration)))
            start += audio.segment_seconds  # non-overlapping: distinct training targets
    clips = [(str(out / c["path"]), c["path"]) for c in _jsonl(out / "video.jsonl")]

    summaries = [
        json.loads(str(cache.music(p, s, e)["summary"]))
        for p, _, s, e in tqdm(segments, desc="music segments", unit="segment")
    ]
    cue_names = cache.pre.video.cues
    cues = [
        dict(zip(cue_names, cache.clip(p, 0.0, None)["cues"].mean(axis=0).tolist()))
        for p, _ in tqdm(clips, desc="clips", unit="clip")
    ]
    music_av, clip_av = pairing.music_affect(summaries), pairing.clip_affect(cues)

    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "heldout"):
        want = split == "heldout"
        seg_idx = [i for i, (_, rel, _, _) in enumerate(segments) if (rel in held_out) == want]
        clip_idx = [i for i, (_, rel) in enumerate(clips) if _held_out(rel, heldout, seed + 1) == want]
        # Held-out clips get one segment each: every held-out query has a single right answer.
        for c, s in pairing.pair(
            clip_av[clip_idx], music_av[seg_idx], rng, per_clip=per_clip if split == "train" else 1
        ):
            (_, clip_rel), (_, music_rel, start, end) = clips[clip_idx[c]], segments[seg_idx[s]]
            rows.append(
                {
                    # Relative to pairs.jsonl, which is how the manifest reader takes relative paths.
                    "video": clip_rel,
                    "music": music_rel,
                    "music_in": start,
                    "music_out": end,
                    "split": split,
                    "group": f"{clip_rel}|{music_rel}",
                    **({"feel": known_feel[music_rel]} if music_rel in known_feel else {}),
                    "affect": {
                        "clip": clip_av[clip_idx[c]].round(3).tolist(),
                        "music": music_av[seg_idx[s]].round(3).tolist(),
                    },
                }
            )
    path = out / "pairs.jsonl"
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    counts = Counter(r["split"] for r in rows)
    log.info(
        "%d pairs (%d train, %d held out) from %d clips and %d music segments",
        len(rows),
        counts["train"],
        counts["heldout"],
        len(clips),
        len(segments),
    )
    return path
