"""How much what the scan measures depends on a file's level, which is how it was mastered, not the music.

The same recordings at their own level and 3, 6 and 12 dB down (the first 90 s of each, 24-bit FLAC, so
nothing clips and nothing else changes) are scanned as one library; for each gain, against the original:
the tempo (tracks read more than 4 % off their own), energy and mood (the mean and largest shift, and
Spearman's rank correlation of energy), the drum verdicts ("no drums heard", "has drums": how many change),
and "sung" (the vocal score crossing `filters.SUNG`). Quieter masters are common (classical and film music
sit 6-12 dB under pop), so every change here is a track an editor would see described differently for its
level alone. As a control for the tempo, the same recordings delayed by 5 ms at their own level: a tempo
that moves there too sits near a tie of the estimator, whatever the level.

Recordings: Wesnoth's soundtrack (wesnoth-1.16-music, scripts/bench-deps.sh; not in any fit or training
set), or `--folder DIR` of your own.

    .venv/bin/python tests/bench/bench_level.py [--folder DIR] [--seconds 90]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import av
import numpy as np
import soundfile
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import instruments  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.library.catalog import CATALOG_NAME  # noqa: E402
from engine.recommend.filters import SUNG  # noqa: E402

WESNOTH = Path("/usr/share/games/wesnoth/1.16/data/core/music")
SKIP = ("silence", "defeat", "victory")  # silence, and stings under 20 s
GAINS = {"0 dB": 0.0, "-3 dB": -3.0, "-6 dB": -6.0, "-12 dB": -12.0, "+5 ms": 0.0}
RATE = 44_100
WORK = Path("build/level")


def excerpt(path: Path, seconds: float) -> np.ndarray:
    """The first `seconds` of a file, stereo float at 44.1 kHz."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        pieces, total = [], 0
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                pieces.append(out.to_ndarray().reshape(-1, 2))
                total += len(pieces[-1])
            if total >= seconds * RATE:
                break
    return np.concatenate(pieces)[: int(seconds * RATE)]


def prepare(sources: list[Path], seconds: float) -> None:
    for name, gain in GAINS.items():
        folder = WORK / "music" / name.replace(" ", "")
        folder.mkdir(parents=True, exist_ok=True)
        for source in sources:
            out = folder / f"{source.stem}.flac"
            if out.exists():
                continue
            x = excerpt(source, seconds) * 10 ** (gain / 20)
            if name == "+5 ms":
                x = np.concatenate([np.zeros((RATE * 5 // 1000, 2), np.float32), x])
            soundfile.write(out, x, RATE, subtype="PCM_24")


def measured() -> dict[str, dict[str, dict]]:
    """{version: {track name: what the scan measured}} from one library of every version."""
    engine = Engine(WORK / "data")
    try:
        known = {r.path for r in engine.status().roots}
        for folder in sorted((WORK / "music").iterdir()):
            if str(folder.resolve()) not in known:
                engine.add_root(folder.resolve())
        engine.scan()
        rows: dict[str, dict[str, dict]] = {}
        for track in engine.tracks():
            version = Path(track.path).parent.name
            rows.setdefault(version, {})[Path(track.path).stem] = track.to_json()
    finally:
        engine.close()
    # The two drum detectors' probabilities, which a track's record does not carry, as the scan stored them.
    with sqlite3.connect(f"file:{WORK / 'data' / CATALOG_NAME}?mode=ro", uri=True) as db:
        for path, p, q in db.execute("SELECT CAST(path AS TEXT), drums, drums_sfx FROM tracks"):
            row = rows.get(Path(path).parent.name, {}).get(Path(path).stem)
            if row is not None:
                row["p"], row["q"] = p, q
    return rows


def compare(rows: dict[str, dict[str, dict]]) -> dict:
    base = rows["0dB"]
    names = sorted(set.intersection(*(set(v) for v in rows.values())))
    out = {}
    print(f"{len(names)} recordings; each version against the original level\n")
    for name in GAINS:
        version = name.replace(" ", "")
        if version == "0dB":
            continue
        other = rows[version]
        ratio = np.array([(other[n]["bpm"] or np.nan) / (base[n]["bpm"] or np.nan) for n in names])
        moved = int(np.sum(~(np.abs(np.log(ratio)) <= np.log(1.04))))
        energy = np.array([[base[n]["energy"], other[n]["energy"]] for n in names], np.float64)
        mood = np.array([[base[n]["mood"], other[n]["mood"]] for n in names], np.float64)

        def flips(verdict, other=other) -> int:
            return sum(bool(verdict(base[n])) != bool(verdict(other[n])) for n in names)

        result = {
            "tempo_moved": moved,
            "energy_shift_mean": float(np.mean(energy[:, 1] - energy[:, 0])),
            "energy_shift_max": float(np.max(np.abs(energy[:, 1] - energy[:, 0]))),
            "energy_rank_correlation": float(spearmanr(energy[:, 0], energy[:, 1]).correlation),
            "mood_shift_max": float(np.max(np.abs(mood[:, 1] - mood[:, 0]))),
            "no_drums_heard_changed": flips(lambda r: instruments.heard_none(r["p"], r["q"])),
            "has_drums_changed": flips(lambda r: instruments.drummed(r["p"], r["q"])),
            "sung_changed": flips(lambda r: (r["vocal_score"] or 0) >= SUNG),
        }
        out[name] = result
        print(
            f"{name:>7}: tempo >4 % off {moved:2d}; energy {result['energy_shift_mean']:+.2f} on average, at most "
            f"{result['energy_shift_max']:.2f} (rank correlation {result['energy_rank_correlation']:.3f}); "
            "mood at most "
            f'{result["mood_shift_max"]:.2f}; changed: "no drums heard" {result["no_drums_heard_changed"]}, '
            f'"has drums" {result["has_drums_changed"]}, sung {result["sung_changed"]}'
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=WESNOTH)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--fresh", action="store_true", help="make the excerpts and scan them again")
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: no such folder (Wesnoth's: install wesnoth-1.16-music, scripts/bench-deps.sh)")
    if args.fresh:
        shutil.rmtree(WORK, ignore_errors=True)
    sources = sorted(p for p in args.folder.iterdir() if p.suffix in (".ogg", ".flac", ".mp3", ".wav", ".opus"))
    prepare([p for p in sources if not any(word in p.stem for word in SKIP)], args.seconds)
    out = compare(measured())
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/level.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
