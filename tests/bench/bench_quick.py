"""Searchable first, complete later (issue 16): a 10,000-track library's time to searchable with the quick
pass, against its time to complete (which is also its time to searchable without one), in the same run;
and how far the quick pass's provisional analysis is from the full one.

1. Time: 10,000 links to real recordings (Wesnoth and Naev soundtracks, none reserved) in folders of 500,
   scanned with every core. The quick pass runs to the end; then the full analysis runs for `--full-sample`
   seconds, and the time to complete is its rate extrapolated to the whole library. Links share their
   files, so these come from the page cache after the first read; the work per track (open, seek, decode,
   backbone, heads, catalog write) is that of distinct files.
2. Quality, on distinct recordings: each one's quick analysis against its own full analysis. The quick
   window's embedding ranks its own track among all of them by their full segments (the provisional vector
   finds the track it stands for); tempo within 4 %, the same key, and the loudness difference.

    .venv/bin/python tests/bench/bench_quick.py [--tracks 10000] [--full-sample 180] [--quality 30]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine import paths
from engine.bundle import open_current_bundle
from engine.cores import available_cores
from engine.library import Library, analysis
from engine.library.analysis import QUICK_ONLY_OVER, QUICK_PATCHES, QUICK_SECONDS, TrackAnalyzer, read_tags

SEARCHABLE_TARGET = 20 * 60  # seconds for 10,000 tracks on 2 cores (issue 16)
SOURCES = ("/usr/share/games/wesnoth/1.16/data/core/music/*.ogg", "/usr/share/naev/dat/snd/music/*.ogg")
PER_FOLDER = 500


def recordings() -> list[Path]:
    found = [Path(p) for pattern in SOURCES for p in sorted(glob.glob(pattern))]
    long = [p for p in found if (read_tags(str(p))["declared"] or 0) >= QUICK_ONLY_OVER]
    if len(long) < 20:
        sys.exit("install wesnoth-1.16-music and naev-data (scripts/bench-deps.sh)")
    return long


def link_library(folder: Path, sources: list[Path], count: int) -> float:
    """`count` links cycling through `sources`; returns their total declared seconds."""
    seconds = {s: read_tags(str(s))["declared"] for s in sources}
    total = 0.0
    for i in range(count):
        source = sources[i % len(sources)]
        sub = folder / f"{i // PER_FOLDER:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        os.symlink(source, sub / f"{i:05d}-{source.name}")
        total += seconds[source]
    return total


def time_library(bundle, sources: list[Path], count: int, full_sample: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        music, data = Path(tmp) / "music", Path(tmp) / "data"
        audio_s = link_library(music, sources, count)
        library = Library(data, bundle)
        library.add_root(music)
        full_started: list[float] = []

        def on_progress(p) -> None:
            if p.phase == "full" and not full_started:
                full_started.append(time.perf_counter())

        def should_stop() -> bool:
            return bool(full_started) and time.perf_counter() - full_started[0] > full_sample

        start = time.perf_counter()
        report = library.scan(quick=True, on_progress=on_progress, should_stop=should_stop)
        full_s = time.perf_counter() - full_started[0] if full_started else 0.0
        status = library.status()
    rate = report.seconds_of_audio / full_s if full_s else float("nan")  # seconds of audio per second
    return {
        "tracks": count,
        "audio_hours": audio_s / 3600,
        "quick": report.quick,
        "complete": report.indexed,
        "failed": report.failed,
        "searchable_s": report.searchable_after,
        "quick_stages": {k: v for k, v in report.stages.items() if k.startswith("quick ")},
        "full_sample_s": full_s,
        "full_realtime": rate,
        "complete_s": (report.searchable_after or 0.0) + audio_s / rate,
        "quick_left": status["quick_tracks"],
        "elapsed": time.perf_counter() - start,
    }


def quality(bundle, sources: list[Path], patches: tuple[int, ...]) -> dict[int, dict]:
    """Per number of backbone patches in the quick window: its analysis against the full one, and its worker
    time per track (one thread, as in a scan's worker)."""
    analyzer = TrackAnalyzer(bundle, threads=1)
    full = [analyzer(os.fsencode(s), s.stat().st_size, 0) for s in sources]
    vectors = np.concatenate([np.stack([seg.vector for seg in f.segments]) for f in full])
    owner = np.concatenate([[i] * len(f.segments) for i, f in enumerate(full)])
    out = {}
    for count in patches:
        analysis.QUICK_PATCHES = count
        start = time.perf_counter()
        quick = [analyzer(os.fsencode(s), s.stat().st_size, 0, quick=True) for s in sources]
        seconds = (time.perf_counter() - start) / len(sources)
        ranks, tempo_ok, key_ok, lufs = [], [], [], []
        for i, (f, q) in enumerate(zip(full, quick)):
            per_track = np.full(len(full), -np.inf)
            np.maximum.at(per_track, owner, vectors @ q.segments[0].vector)
            ranks.append(int((per_track > per_track[i]).sum()) + 1)
            a, b = q.track.tempo_bpm, f.track.tempo_bpm
            tempo_ok.append(bool(a and b and abs(a / b - 1) <= 0.04))
            key_ok.append(q.track.musical_key == f.track.musical_key)
            if q.track.loudness_lufs is not None and f.track.loudness_lufs is not None:
                lufs.append(abs(q.track.loudness_lufs - f.track.loudness_lufs))
        ranks = np.array(ranks)
        out[count] = {
            "recordings": len(sources),
            "seconds_per_track": seconds,
            "own_track_top1": float((ranks == 1).mean()),
            "own_track_top5": float((ranks <= 5).mean()),
            "tempo_within_4pct": float(np.mean(tempo_ok)),
            "same_key": float(np.mean(key_ok)),
            "lufs_abs_median": float(np.median(lufs)),
            "lufs_abs_p90": float(np.percentile(lufs, 90)),
        }
    analysis.QUICK_PATCHES = QUICK_PATCHES
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--full-sample", type=float, default=180.0, help="seconds of full analysis to time")
    parser.add_argument("--quality", type=int, default=30, help="distinct recordings compared quick vs full")
    args = parser.parse_args()
    bundle = open_current_bundle(paths.models_dir())
    sources = recordings()
    cores = available_cores()

    t = time_library(bundle, sources, args.tracks, args.full_sample)
    print(
        f"\nQuick pass, then full analysis: {t['tracks']} tracks ({t['audio_hours']:.0f} h, links to "
        f"{len(sources)} recordings), {cores} cores, bundle {bundle.id}"
    )
    print(
        f"  searchable (quick pass: {QUICK_PATCHES} patch{'es' if QUICK_PATCHES > 1 else ''} of a "
        f"{QUICK_SECONDS:.0f}-s window each, index built): "
        f"{t['searchable_s'] / 60:.1f} min "
        f"for {t['quick']} tracks (target: {SEARCHABLE_TARGET / 60:.0f} min)"
    )
    per_track = {k.removeprefix("quick "): 1000 * v / max(t["quick"], 1) for k, v in t["quick_stages"].items()}
    print("  quick pass worker time per track: " + ", ".join(f"{k} {v:.0f} ms" for k, v in per_track.items()))
    print(
        f"  full analysis: {t['full_realtime']:.1f}x real time over {t['full_sample_s']:.0f} s "
        f"({t['complete']} tracks); complete, extrapolated: {t['complete_s'] / 3600:.1f} h"
    )
    print(
        f"  without a quick pass the library is searchable when complete: quick pass "
        f"{t['complete_s'] / t['searchable_s']:.0f}x sooner"
    )

    options = tuple(sorted({QUICK_PATCHES, 1, 2}))
    compared = quality(bundle, sources[: args.quality], options)
    print(f"\nQuick analysis against the full one, {args.quality} distinct recordings, {QUICK_SECONDS:.0f} s windows:")
    print(
        f"{'patches':>8} {'ms/track':>9} {'searchable':>11} {'own top-1':>10} {'top-5':>6} {'tempo':>6} "
        f"{'key':>5} {'LU off':>11}"
    )
    for count, q in compared.items():
        projected = t["searchable_s"] * q["seconds_per_track"] / compared[QUICK_PATCHES]["seconds_per_track"]
        mark = " (the scan's)" if count == QUICK_PATCHES else ""
        print(
            f"{count:>8} {1000 * q['seconds_per_track']:>9.0f} {projected / 60:>9.1f} m "
            f"{100 * q['own_track_top1']:>9.0f}% {100 * q['own_track_top5']:>5.0f}% "
            f"{100 * q['tempo_within_4pct']:>5.0f}% "
            f"{100 * q['same_key']:>4.0f}% {q['lufs_abs_median']:>4.1f}/{q['lufs_abs_p90']:.1f}{mark}"
        )
    print(
        "  own top-1/top-5: how often the window's embedding ranks its own track first (in the top 5) among all of\n"
        "  them by their full segments; tempo: within 4 % of the full analysis; key: the same; LU off: the loudness\n"
        "  difference, median/90th percentile; searchable: the library above, scaled by the time per track"
    )


if __name__ == "__main__":
    main()
