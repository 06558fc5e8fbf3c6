"""Drum detection on held-out music whose drums are known: the precision and recall behind "no drums".

music21 works the default model never trained on, each arranged in a bootstrap style (training/bootstrap/
music.py) with or without drums, half and half, at the same tempo, so that drums are the only difference a
detector can count on. Two splits, sharing no work and no SoundFont:
- `dev` (what `engine.instruments` was fitted on): TimGM6mb, General MIDI drum kits;
- `test` (reported): FluidR3, with half of its drummed pieces carrying a *recorded* drum or percussion loop
  (Sonic Pi's CC0 loops: breakbeats, tabla, hand percussion) mixed under the rendered music instead of a
  General MIDI kit, a kind of drums the fit never saw.

Each file is scanned as the library scans it, and the detector's probability and verdict reported with
`engine.instruments`: the precision of "no drums" (the tracks it lets through that have none) decides
whether the filter may be hard (at least 0.95), as `instruments.DRUMS_FILTER_IS_HARD` records.

    .venv/bin/python tests/bench/bench_drums.py [--split test|dev] [--count 40] [--fit]

`--fit` (dev only) fits the detector's logistic weights on the dev split and prints them for
engine/instruments.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import instruments, paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.media.audio import iter_audio  # noqa: E402
from engine.tags import TAG_PRESENT, TagIndex  # noqa: E402

SONIC_PI = Path("/usr/share/sonic-pi/samples")
LOOPS = ("loop_amen", "loop_breakbeat", "loop_compus", "loop_safari", "loop_tabla", "loop_perc1", "loop_perc2")
SPLITS = {
    "dev": (Path("build/drums-dev"), 31, "/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "test": (Path("build/drums-test"), 32, "/usr/share/sounds/sf2/FluidR3_GM.sf2"),
}
RATE = 48_000


def _loop(name: str) -> np.ndarray:
    from training.bootstrap.music import decode_mono  # at 48 kHz, RATE

    return decode_mono(SONIC_PI / f"{name}.flac")


def render(split: str, count: int, exclude: set[str]) -> dict[str, dict]:
    """Renders of `split` (reused when there) and what each has: {"drums": bool, "kind": ...}."""
    from eval_quality import held_out_works
    from music21 import corpus

    from training.bootstrap.music import MAX_SECONDS, STYLES, arrange
    from training.bootstrap.render import PATTERNS, synthesize, write_opus

    folder, seed, font = SPLITS[split]
    labels_file = folder / "labels.json"
    labels = json.loads(labels_file.read_text()) if labels_file.is_file() else {}
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    works = held_out_works(seed, 3 * count, exclude)
    while len(labels) < count:
        path = next(works)
        drummed = len(labels) % 2 == 0
        style_name = rng.choice(sorted(STYLES))
        kind = "none"
        if drummed:
            kind = "recorded loop" if split == "test" and len(labels) % 4 == 0 else "midi kit"
        pattern = rng.choice(sorted(PATTERNS)) if kind == "midi kit" else None
        style = dataclasses.replace(STYLES[style_name], drums=pattern)
        try:
            score = corpus.parse(path)
            if hasattr(score, "scores"):
                score = score.scores[rng.randrange(len(score.scores))]
            midi, _, _ = arrange(score, style, rng)
            if midi.length < 20:
                continue
            (samples,) = synthesize(midi, font, 22_050, 0.5, "mono")
        except Exception as exc:  # noqa: BLE001 - a corpus file music21 cannot read is skipped
            print(f"skipping {path}: {exc}", file=sys.stderr)
            continue
        samples = samples[: int(MAX_SECONDS * RATE)]
        if kind == "recorded loop":
            loop = _loop(rng.choice(LOOPS))
            tiled = np.resize(loop, len(samples))
            level = np.sqrt(np.mean(samples**2) / (np.mean(tiled**2) + 1e-12))
            samples = samples + tiled * level * rng.uniform(0.4, 0.9)
        samples = samples / max(1.0, float(np.abs(samples).max()) / 0.9)
        name = f"{style_name.replace(' ', '-')}--{Path(path).stem}.opus"
        write_opus(folder / name, samples * 0.7071, RATE)
        labels[name] = {"drums": drummed, "kind": kind, "style": style_name, "pattern": pattern}
        labels_file.write_text(json.dumps(labels, indent=1))
    return labels


def measured(folder: Path, names: list[str]) -> dict[str, dict]:
    """Per file, the detector's inputs as the scan computes them (cached beside the renders)."""
    cache_file = folder / "measured.json"
    cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    missing = [n for n in names if n not in cache]
    if missing:
        extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
        tags = TagIndex(extractor.tag_names)
        for name in missing:
            pieces = iter_audio(folder / name, extractor.pre.audio, chunk_samples=extractor.chunk_samples)
            music = extractor.music_chunks(pieces, {})
            segments = music.segments()
            hits = np.array([music.descriptors(s).drum_hits for s in segments])
            peaks = np.stack([music.tags[s.patches].mean(axis=0) for s in segments]).max(axis=0)
            cache[name] = instruments.drum_inputs(hits, peaks, tags).tolist()
        cache_file.write_text(json.dumps(cache))
    return cache


def fit(x: np.ndarray, y: np.ndarray) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=100.0).fit(x, y)
    print("DRUM_WEIGHTS =", tuple(round(float(w), 3) for w in model.coef_[0]))
    print("DRUM_BIAS =", round(float(model.intercept_[0]), 3))


def report(split: str, labels: dict[str, dict], x: np.ndarray, names: list[str]) -> dict:
    p = instruments.drum_probability(x)
    truth = np.array([labels[n]["drums"] for n in names])
    said_none = p < instruments.NO_DRUMS_BELOW
    said_drums = p >= instruments.DRUMS_FROM
    out = {
        "split": split,
        "files": len(names),
        "no drums": {
            "precision": float((~truth[said_none]).mean()) if said_none.any() else None,
            "recall": float(said_none[~truth].mean()) if (~truth).any() else None,
        },
        "drums": {
            "precision": float(truth[said_drums].mean()) if said_drums.any() else None,
            "recall": float(said_drums[truth].mean()) if truth.any() else None,
        },
    }
    # The filter before this detector: musicnn's drums tag under TAG_PRESENT.
    tag_none = x[:, 1] < TAG_PRESENT
    out["no drums, musicnn tag alone"] = {
        "precision": float((~truth[tag_none]).mean()) if tag_none.any() else None,
        "recall": float(tag_none[~truth].mean()) if (~truth).any() else None,
    }
    kinds = sorted({labels[n]["kind"] for n in names})
    out["recall of drums by kind"] = {
        k: float(said_drums[[labels[n]["kind"] == k for n in names]].mean()) for k in kinds if k != "none"
    }
    for n, prob, t in zip(names, p, truth):
        flag = "" if (prob >= instruments.DRUMS_FROM) == t else "   <- wrong"
        print(f"{n:<58} {labels[n]['kind']:<14} p(drums) {prob:.2f}{flag}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--fit", action="store_true", help="fit the detector on the dev split and print it")
    args = parser.parse_args()
    split = "dev" if args.fit else args.split
    dev_labels = render("dev", args.count, set())
    exclude = {name.split("--", 1)[1][:-5] for name in dev_labels}
    labels = dev_labels if split == "dev" else render("test", args.count, exclude)
    folder = SPLITS[split][0]
    names = sorted(labels)
    cache = measured(folder, names)
    x = np.array([cache[n] for n in names], np.float32)
    if args.fit:
        fit(x, np.array([labels[n]["drums"] for n in names]))
        return
    out = report(split, labels, x, names)
    print(json.dumps(out, indent=2))
    Path("bench-results").mkdir(exist_ok=True)
    Path(f"bench-results/drums-{split}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
