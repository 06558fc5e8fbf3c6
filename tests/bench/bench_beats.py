"""Beats and downbeats against the ones written in the music: where the scan puts a track's beats (markers,
re-edit joins) and bars (the in points under a clip).

The packaged sets of bench_tempo.py whose bars are written down: OpenMSX's, Freedoom's and Simutrans's MIDI
pieces (rendered with TimGM6mb) and LMMS's demo and shortie songs (rendered by LMMS). The truth is the
written grid: a bar start wherever the time signature in force begins one, from the file's time 0, and a
beat on every quarter note from each bar's start, through its tempo map (MIDI), or every quarter note at
the project's tempo and a bar every `timesig_numerator` of its `timesig_denominator` notes (LMMS). A placed
beat or downbeat is a hit within 70 ms of a written one (one to one), counted where notes sound (MIDI) or
over the whole render (LMMS).

Per piece: the beat F-measure (the usual measure of beat tracking; a track read at half its tempo gets at
most 0.67), and the downbeats' precision (the share of the bar starts placed that start a written bar:
what an in point relies on) and recall; averaged over the pieces. Two placements in the same run, at the
same tempo (the track's): the scan's (on the beat tracker's activations) and the onset envelope's (what
the scan did until 5 December 2026, and still does without the tracker).

With `--set-written`, the pieces whose tempo the scan misread (more than 4 % from the written one) are
placed as they would be once a person sets the written tempo (`Library.beats`): at a metrical level of the
measured tempo, the measured beats counted at it (`at_tempo`); at any other, followed again at it
(`track_beats` with `bpm`). Beside them, for each piece, the other of the two ways and the scan as read.

    .venv/bin/python tests/bench/bench_beats.py [--split openmsx|freedoom|lmms|simutrans] [--set-written]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_tempo import FREEDOOM, LMMS, PACKAGED, freedoom_midis, lmms_project, render_packaged  # noqa: E402

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.media.beats import LEVEL_SET_WITHIN, at_tempo, tempo_ratio, track_beats  # noqa: E402
from engine.media.dsp import descriptors  # noqa: E402

TOLERANCE = 0.07  # seconds, as the MIREX beat tracking evaluation counts a hit


@dataclasses.dataclass
class Grid:
    beats: np.ndarray  # seconds of every written quarter note
    bars: np.ndarray  # seconds of every written bar start
    span: tuple[float, float]  # where the grid is counted: from the first note to the end


def midi_grid(midi, duration: float) -> Grid:
    """The written grid of a MIDI file, through its tempo map and time signatures, from tick 0, counted from
    its first note to its end or the render's (renders stop at the bootstrap's `MAX_SECONDS`). Each bar's
    beats are quarter notes from its start, so a bar that is no whole number of them (Simutrans's pieces
    open with a bar of 1/8 or 7/16) does not put every later beat off the bars."""
    import mido

    tempi, signatures, notes, tick = [(0, 500_000)], [(0, 4, 4)], [], 0
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type == "set_tempo":
            tempi.append((tick, message.tempo))
        elif message.type == "time_signature":
            signatures.append((tick, message.numerator, message.denominator))
        elif message.type == "note_on" and message.velocity > 0:
            notes.append(tick)
    end, per_quarter = tick, midi.ticks_per_beat
    starts = np.array([t for t, _ in tempi], np.float64)
    # Seconds at each tempo change, then at any tick by the tempo in force there.
    at_change = np.concatenate([[0.0], np.cumsum(np.diff(starts) * [u for _, u in tempi[:-1]] / per_quarter / 1e6)])

    def seconds(ticks: np.ndarray) -> np.ndarray:
        k = np.searchsorted(starts, ticks, side="right") - 1
        return at_change[k] + (ticks - starts[k]) * np.array([u for _, u in tempi])[k] / per_quarter / 1e6

    signatures = sorted({t: (t, n, d) for t, n, d in signatures}.values())  # the last at a tick counts
    bars, t, k = [], 0, 0
    while t <= end:
        while k + 1 < len(signatures) and signatures[k + 1][0] <= t:
            k += 1
        bars.append(t)
        t += max(1, round(per_quarter * signatures[k][1] * 4 / signatures[k][2]))
    first = float(seconds(np.array([min(notes)]))[0]) if notes else 0.0
    edges = [*bars, max(end + 1, bars[-1] + 1)]
    beats = seconds(np.concatenate([np.arange(a, b, per_quarter, dtype=np.float64) for a, b in zip(edges, edges[1:])]))
    last = min(duration, float(seconds(np.array([end]))[0]))
    return Grid(beats, seconds(np.array(bars, np.float64)), (first, last))


def lmms_grid(project, bpm: float, duration: float) -> Grid:
    head = project.find("head")
    numerator, denominator = int(head.get("timesig_numerator", 4)), int(head.get("timesig_denominator", 4))
    quarter = 60.0 / bpm
    return Grid(
        np.arange(0, duration, quarter),
        np.arange(0, duration, quarter * numerator * 4 / denominator),
        (0.0, duration),
    )


def grids(split: str) -> tuple[Path, dict[str, tuple[float, object]]]:
    """The split's renders and, per file, (its tempo, a function of its duration giving its grid)."""
    import mido

    folder, truth = render_packaged(split)
    if split == "lmms":
        projects = {f"{re.sub(r'[^A-Za-z0-9-]+', '', p.stem)}.opus": p for p in LMMS[0].glob("**/*.mmp*")}
        return folder, {
            n: (bpm, lambda d, p=projects[n], b=bpm: lmms_grid(lmms_project(p), b, d)) for n, bpm in truth.items()
        }
    if split in ("openmsx", "simutrans"):
        files = {f"{p.stem}.opus": p for p in PACKAGED[split][0].glob("*.mid")}
        midis = {name: mido.MidiFile(files[name]) for name in truth}
    else:
        lumps = freedoom_midis(FREEDOOM[0]).items()
        midis = {f"{name}.opus": mido.MidiFile(file=io.BytesIO(lump)) for name, lump in lumps}
    return folder, {n: (bpm, lambda d, m=midis[n]: midi_grid(m, d)) for n, bpm in truth.items()}


def hits(placed: np.ndarray, written: np.ndarray) -> int:
    """Placed times within `TOLERANCE` of a written one, each written time matched once."""
    used, count = np.zeros(len(written), bool), 0
    for t in placed:
        free = np.flatnonzero(~used & (np.abs(written - t) <= TOLERANCE))
        if len(free):
            used[free[np.argmin(np.abs(written[free] - t))]] = True
            count += 1
    return count


def score(beats, grid: Grid) -> dict[str, float]:
    lo, hi = grid.span[0] - TOLERANCE, grid.span[1] + TOLERANCE

    def inside(x):
        x = np.asarray(x, np.float64)
        return x[(x >= lo) & (x <= hi)]

    placed, written = inside(beats.times), inside(grid.beats)
    downbeats, bars = inside(beats.downbeats), inside(grid.bars)
    beat_hits, bar_hits = hits(placed, written), hits(downbeats, bars)
    return {
        "beat_f": 2 * beat_hits / max(1, len(placed) + len(written)),
        "downbeat_precision": bar_hits / len(downbeats) if len(downbeats) else 0.0,
        "downbeat_recall": bar_hits / max(1, len(bars)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["openmsx", "freedoom", "lmms", "simutrans"], default="openmsx")
    parser.add_argument("--set-written", action="store_true", help="the misread pieces, at the tempo set right")
    args = parser.parse_args()
    folder, truth = grids(args.split)
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    if args.set_written:
        return set_written(args.split, folder, truth, extractor)
    results: dict[str, list[dict]] = {"scan": [], "onset envelope": []}
    for name, (bpm, grid_of) in sorted(truth.items()):
        analysis = extractor.analysis(folder / name)
        measured = descriptors(analysis)  # the track's tempo: both placements follow it
        grid = grid_of(analysis.duration)
        scan = score(track_beats(analysis, measured), grid)
        onsets = track_beats(dataclasses.replace(analysis, beats=None, downbeats=None), measured)
        before = score(onsets, grid)
        results["scan"].append(scan)
        results["onset envelope"].append(before)
        print(
            f"{name:<44} written {bpm:6.1f} read {measured.tempo_bpm:6.1f}  beat F {scan['beat_f']:.2f}  "
            f"downbeats right {scan['downbeat_precision']:.2f}  "
            f"(onset envelope {before['beat_f']:.2f}, {before['downbeat_precision']:.2f})"
        )
    summary = {
        placement: {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}
        for placement, rows in results.items()
    }
    print(f"\n{args.split}, {len(truth)} pieces, mean per piece:")
    for placement, figures in summary.items():
        print(
            f"  {placement:<15} beat F {figures['beat_f']:.3f}  downbeat precision "
            f"{figures['downbeat_precision']:.3f}  recall {figures['downbeat_recall']:.3f}"
        )
    out = Path("bench-results") / f"beats-{args.split}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"pieces": len(truth), **summary}, indent=2))


def set_written(split: str, folder: Path, truth: dict, extractor: FeatureExtractor) -> None:
    """The misread pieces' beats as read, and at their written tempo set as `Library.beats` counts it."""
    rows: dict[str, list[dict]] = {
        "as read": [],
        "set (the app's way)": [],
        "counted from the measured": [],
        "followed again": [],
    }
    for name, (bpm, grid_of) in sorted(truth.items()):
        analysis = extractor.analysis(folder / name)
        measured = descriptors(analysis)
        read = track_beats(analysis, measured)
        if not len(read.times) or abs(read.bpm / bpm - 1) <= 0.04:
            continue
        grid = grid_of(analysis.duration)
        counted, followed = at_tempo(read, bpm), track_beats(analysis, measured, bpm=bpm)
        level = tempo_ratio(bpm, read.bpm, LEVEL_SET_WITHIN)
        scores = {
            "as read": score(read, grid),
            "set (the app's way)": score(counted if level is not None else followed, grid),
            "counted from the measured": score(counted, grid),
            "followed again": score(followed, grid),
        }
        for way, figures in scores.items():
            rows[way].append(figures)
        print(
            f"{name:<44} written {bpm:6.1f} read {read.bpm:6.1f} ({'level ' + str(level) if level else 'no level'})  "
            + "  ".join(f"{way} {f['beat_f']:.2f}/{f['downbeat_precision']:.2f}" for way, f in scores.items())
        )
    if not rows["as read"]:
        print(f"{split}: every piece read within 4 %")
        return
    summary = {way: {k: round(float(np.mean([r[k] for r in got])), 3) for k in got[0]} for way, got in rows.items()}
    print(
        f"\n{split}, {len(rows['as read'])} of {len(truth)} pieces misread, mean per piece (beat F / downbeats right):"
    )
    for way, figures in summary.items():
        print(f"  {way:<27} beat F {figures['beat_f']:.3f}  downbeat precision {figures['downbeat_precision']:.3f}")
    out = Path("bench-results") / f"beats-set-written-{split}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"misread": len(rows["as read"]), "pieces": len(truth), **summary}, indent=2))


if __name__ == "__main__":
    main()
