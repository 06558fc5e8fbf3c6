"""Feel in queries: do energy and mood words, and a calm or frantic clip, find music of that feel?

On renders whose feel is known by construction (training/bootstrap/feel_set.py: each piece calm and
energetic, major and minor; dev and test share neither pieces nor SoundFont), every prompt of a label
(paraphrases, not keywords) is asked through the engine as the app asks it. Reported per split:
- energy AUC: for energy prompts, how often an energetic track ranks above a calm one (the reverse for calm
  prompts), over all such pairs;
- precision@5 per label (energetic, calm, happy = major, sad = minor);
- the same with the feel match off (the embedding and tag match alone) and at random;
- the clip check: the same generated footage cut calm and frantic, the share of energetic tracks in each
  top 10.
The feel weights (engine/recommend/scoring.py) are chosen on `dev` (`--tune`) and reported on `test`.

This measures the mapping where the truth is known; renders are not real recordings, whose moods are
the harder case (see the README).

    .venv/bin/python tests/bench/bench_feel.py [--split test|dev] [--tune]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eval_quality import moving_shapes  # noqa: E402

import engine.recommend.scoring as scoring  # noqa: E402
from engine import affect  # noqa: E402
from engine.facade import Engine  # noqa: E402
from media import write_video  # noqa: E402
from training.bootstrap.feel_set import render_feel_set  # noqa: E402

PROMPTS = {
    "energetic": ["energetic music", "high-energy, driving", "pumping workout music", "intense and fast"],
    "calm": ["calm music", "soothing and gentle", "relaxing background music", "peaceful, quiet"],
    "happy": ["happy music", "uplifting and cheerful", "bright, joyful"],
    "sad": ["sad music", "melancholic", "dark and somber"],
}
TRUTH = {  # label -> (field of labels.json, value)
    "energetic": ("energy", "high"),
    "calm": ("energy", "low"),
    "happy": ("mood", "major"),
    "sad": ("mood", "minor"),
}
RANDOM_RUNS = 200


def auc(pos: list[int], neg: list[int]) -> float:
    """Share of (pos, neg) pairs where pos ranks higher (a smaller rank)."""
    pairs = [(p < n) + 0.5 * (p == n) for p in pos for n in neg]
    return float(np.mean(pairs)) if pairs else float("nan")


def evaluate(engine: Engine, labels: dict[str, dict]) -> dict[str, float]:
    k = len(labels)
    out: dict[str, float] = {}
    aucs = []
    for label, prompts in PROMPTS.items():
        field, value = TRUTH[label]
        precisions = []
        for prompt in prompts:
            names = [Path(r.path).name for r in engine.recommend(prompt=prompt, k=k).results]
            hits = [labels[n][field] == value for n in names]
            precisions.append(float(np.mean(hits[:5])))
            if field == "energy":
                rank = {n: i for i, n in enumerate(names)}
                wanted = [rank.get(n, k) for n in labels if labels[n]["energy"] == value]
                other = [rank.get(n, k) for n in labels if labels[n]["energy"] != value]
                aucs.append(auc(wanted, other))
        out[f"P@5 {label}"] = float(np.mean(precisions))
    out["energy AUC"] = float(np.mean(aucs))
    out["mood P@5"] = (out["P@5 happy"] + out["P@5 sad"]) / 2
    return out


def clip_check(engine: Engine, labels: dict[str, dict], folder: Path) -> dict[str, float]:
    out = {}
    for pace, speed in (("calm", 0.25), ("frantic", 2.0)):
        clip = write_video(folder / f"{pace}.mp4", moving_shapes(10, 25, speed), 25)
        names = [Path(r.path).name for r in engine.recommend(clip, k=10).results]
        out[f"energetic in top 10, {pace} clip"] = float(np.mean([labels[n]["energy"] == "high" for n in names]))
    return out


def scanned(folder: Path, data: Path) -> Engine:
    engine = Engine(data)
    engine.add_root(folder)
    engine.scan()
    return engine


def remeasured(data: Path) -> Engine:
    """The library at `data` with every segment's energy and mood measured again, in this process, by
    engine/affect.py as it now stands (the scan's workers measured them with the shipped constants)."""
    engine = Engine(data)
    engine._library.catalog.forget_affect(affect.VERSION)  # a bench may reach into the library
    engine.close()
    return Engine(data)


def tune(folder: Path, labels: dict[str, dict]) -> None:
    """Grid over the mode's share of the music's mood (stored at scan: one scan per value) and the weights."""
    print(f"{'mode share':>10} {'energy w':>9} {'mood w':>7} {'energy AUC':>11} {'mood P@5':>9}")
    for share in (0.4, 0.7, 1.0):
        affect.MODE_SHARE = share
        with tempfile.TemporaryDirectory() as tmp:
            scanned(folder, Path(tmp) / "data").close()
            engine = remeasured(Path(tmp) / "data")
            for ew, mw in itertools.product((0.6, 1.0, 1.5), (0.0, 0.15, 0.3, 0.5)):
                scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = ew, mw
                got = evaluate(engine, labels)
                print(
                    f"{share:>10.1f} {ew:>9.2f} {mw:>7.2f} {got['energy AUC']:>11.2f} {got['mood P@5']:>9.2f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--tune", action="store_true", help="grid over the feel weights (use with --split dev)")
    args = parser.parse_args()
    folder = Path(f"build/feel-{args.split}")
    labels = render_feel_set(folder, args.split)
    if args.tune:
        tune(folder, labels)
        return
    with tempfile.TemporaryDirectory() as tmp:
        engine = scanned(folder, Path(tmp) / "data")
        chosen = (scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT)
        results = {"needledrop": evaluate(engine, labels)}
        scoring.ENERGY_WEIGHT = scoring.MOOD_WEIGHT = 0.0
        results["without the feel match"] = evaluate(engine, labels)
        scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = chosen
        rng = np.random.default_rng(0)
        names = list(labels)
        randoms = []
        for _ in range(RANDOM_RUNS):
            order = list(rng.permutation(names))
            row = {}
            for label in PROMPTS:
                field, value = TRUTH[label]
                row[f"P@5 {label}"] = float(np.mean([labels[n][field] == value for n in order[:5]]))
            row["energy AUC"] = 0.5
            row["mood P@5"] = (row["P@5 happy"] + row["P@5 sad"]) / 2
            randoms.append(row)
        results["random"] = {key: float(np.mean([r[key] for r in randoms])) for key in randoms[0]}
        checks = clip_check(engine, labels, Path(tmp))
    columns = ["energy AUC", "P@5 energetic", "P@5 calm", "P@5 happy", "P@5 sad", "mood P@5"]
    print(f"\nFeel on the {args.split} split ({len(labels)} renders; weights energy {chosen[0]}, mood {chosen[1]})")
    print(f"  {'':<26}" + "".join(f"{c:>15}" for c in columns))
    for name, row in results.items():
        print(f"  {name:<26}" + "".join(f"{row[c]:>15.2f}" for c in columns))
    for name, value in checks.items():
        print(f"  {name}: {value:.0%}")
    out = Path("bench-results") / f"feel-{args.split}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"results": results, "clip": checks}, indent=2))


if __name__ == "__main__":
    main()
