"""Moods, energy and style on real recordings: the words editors use, asked as the app asks them.

The set is tests/bench/real_set.py: recordings from Debian packages whose own titles or documentation name
a mood (calm, energetic, happy, nostalgic, tender) or a style (acoustic, electronic), split into `dev`
and `test` with no soundtrack on both sides. Every label is asked with several paraphrases, through the
engine (parser, text head, fusion, index, tag match, feel match). Reported, per split:
- precision@5 per mood label and their mean (at the label's size where it has fewer than five tracks, so
  that a perfect ranking scores 1); the energy AUC (for energy prompts, how often an energetic
  track ranks above a calm or tender one, the reverse for calm prompts, over all such pairs); style
  precision@5;
- the same for the ViML embedding alone (tag and feel match off), Needledrop without the feel match and
  without the tag match, the training-free tag baseline of eval_quality.py, and random;
- the clip check: the same generated footage cut calm and cut frantic, the share of energetic or happy
  tracks in each top 10, and in each top k where k is the smaller side's size (a top 10 of a pool that
  is mostly lively cannot move by half).

`--folder DIR` asks the same of any folder of mood-labelled music (one sub-folder per label, named as in
PROMPTS: calm, energetic, happy, nostalgic, tender), such as the production-music set of docs/quality.md
(*Energy and mood*), or an editor's own; style is then not asked, and nothing may be chosen on it.

`--tune` grids the feel weights on a split (the measured mood's fit, its mode share and the mood's weight
are chosen by fit_mood.py). Constants may be chosen on `dev`; `test` is what is reported. The set is small and
labelled by titles: a check of direction and size, not a benchmark of record.

    .venv/bin/python tests/bench/eval_feel_real.py [--split test|dev | --folder DIR] [--tune]
    (scripts/bench-deps.sh installs the set)
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

from bench_feel import auc  # noqa: E402
from bench_feel import scanned as scanned_folder  # noqa: E402
from eval_quality import moving_shapes, tag_baseline  # noqa: E402
from real_set import materialise  # noqa: E402

import engine.recommend.scoring as scoring  # noqa: E402
from engine.facade import Engine  # noqa: E402
from media import write_video  # noqa: E402

PROMPTS = {
    "calm": ["calm music", "peaceful and relaxing", "quiet, serene background music"],
    "energetic": ["energetic music", "high-energy, driving", "intense and powerful"],
    "happy": ["happy music", "joyful and cheerful", "bright, uplifting"],
    "nostalgic": ["nostalgic music", "wistful, bittersweet memories", "melancholic and longing"],
    "tender": ["tender music", "gentle, intimate and loving", "warm and affectionate"],
    "acoustic": ["acoustic music", "played on acoustic instruments", "organic, unplugged sound"],
    "electronic": ["electronic music", "synthesizers and electronic beats", "electronica"],
}
MOODS = ("calm", "energetic", "happy", "nostalgic", "tender")
HIGH, LOW = {"energetic"}, {"calm", "tender"}  # the energy AUC's two sides
LIVELY = {"energetic", "happy"}  # what a frantic clip should bring up
RANDOM_RUNS = 200
METHODS = {
    "needledrop": "Needledrop",
    "no feel": "without the feel match",
    "no tags": "without the tag match",
    "viml": "ViML embedding alone",
    "tags": "tag baseline",
    "random": "random",
}


class Switches:
    """The recommender's tag and feel weights, set per method and restored after."""

    def __init__(self, engine: Engine):
        self.recommender = engine.recommender
        self.shipped = (self.recommender.tag_weight, scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT)

    def set(self, method: str) -> None:
        tag, energy, mood = self.shipped
        if method in ("no feel", "viml"):
            energy = mood = 0.0
        if method in ("viml", "no tags"):
            tag = 0.0
        self.recommender.tag_weight = tag
        scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = energy, mood

    def restore(self) -> None:
        self.set("needledrop")


def rankings(engine: Engine, switches: Switches, labels: dict[str, str], prompt: str) -> dict[str, list[str]]:
    """Per method, the labelled tracks (resolved paths) in the order the method ranks them for `prompt`."""
    tracks = engine.tracks()
    paths = [str(Path(t.path).resolve()) for t in tracks]
    out = {}
    for method in ("needledrop", "no feel", "no tags", "viml"):
        switches.set(method)
        results = engine.recommend(prompt=prompt, k=len(tracks)).results
        out[method] = [str(Path(r.path).resolve()) for r in results]
    switches.restore()
    extractor = switches.recommender.embedder.extractor
    # The baseline reads the scan's per-track tag means, which the engine keeps to itself: a bench may look.
    stored = dict(engine._library.catalog._connection().execute("SELECT id, tag_means FROM tracks"))
    tag_means = np.stack([np.frombuffer(stored[t.id], "<f2").astype(np.float32) for t in tracks])
    scores = tag_baseline(extractor, prompt, tag_means, list(extractor.tag_names))
    out["tags"] = [paths[i] for i in np.argsort(-scores)]
    return {m: [p for p in ranked if p in labels] for m, ranked in out.items()}


def evaluate(engine: Engine, labels: dict[str, str], names: list[str]) -> dict[str, dict[str, float]]:
    """Per method: precision@5 of each label in `names` (mean over its prompts), and the energy AUC."""
    switches = Switches(engine)
    table: dict[str, dict[str, float]] = {m: {} for m in METHODS}
    aucs: dict[str, list[float]] = {m: [] for m in METHODS}
    rng = np.random.default_rng(0)
    pool = list(labels)
    for label in names:
        top = min(5, sum(v == label for v in labels.values()))
        per_method: dict[str, list[float]] = {m: [] for m in METHODS}
        for prompt in PROMPTS[label]:
            ranked = rankings(engine, switches, labels, prompt)
            ranked["random"] = None  # type: ignore[assignment]
            for method in METHODS:
                if method == "random":
                    runs = [list(rng.permutation(pool)) for _ in range(RANDOM_RUNS)]
                    per_method[method].append(np.mean([np.mean([labels[p] == label for p in r[:top]]) for r in runs]))
                    continue
                order = ranked[method]
                per_method[method].append(float(np.mean([labels[p] == label for p in order[:top]])))
                if label in HIGH | {"calm"}:
                    rank = {p: i for i, p in enumerate(order)}
                    high = [rank[p] for p in order if labels[p] in HIGH]
                    low = [rank[p] for p in order if labels[p] in LOW]
                    aucs[method].append(auc(high, low) if label in HIGH else auc(low, high))
        for method in METHODS:
            table[method][label] = float(np.mean(per_method[method]))
    for method in METHODS:
        table[method]["energy AUC"] = float(np.mean(aucs[method])) if aucs[method] else 0.5
    return table


def clip_check(engine: Engine, labels: dict[str, str], folder: Path) -> dict[str, float]:
    """The share of lively tracks in each cut's top 10, and in its top k, where k (at most 10) is the size
    of the smaller side: with 12 lively tracks of 16, any top 10 holds at least six, so only the top k can
    show a full move from calm to lively."""
    lively = sum(label in LIVELY for label in labels.values())
    k = min(10, lively, len(labels) - lively)
    out: dict[str, float] = {"k": k}
    for pace, speed in (("calm", 0.25), ("frantic", 2.0)):
        clip = write_video(folder / f"{pace}.mp4", moving_shapes(10, 25, speed), 25)
        found = [str(Path(r.path).resolve()) for r in engine.recommend(clip, k=len(labels)).results]
        ranked = [p for p in found if p in labels]
        out[pace] = float(np.mean([labels[p] in LIVELY for p in ranked[:10]]))
        out[f"{pace} top k"] = float(np.mean([labels[p] in LIVELY for p in ranked[:k]]))
    return out


def sub_folder_labels(folder: Path) -> dict[str, str]:
    """Each file one level down (resolved path, in name order) and the name of its sub-folder."""
    return {str(p.resolve()): p.parent.name for p in sorted(folder.glob("*/*")) if p.is_file()}


def scanned(kind: str, split: str, tmp: Path) -> tuple[Engine, dict[str, str]]:
    folder = materialise(kind, split, tmp / kind)
    return scanned_folder(folder, tmp / f"data-{kind}"), sub_folder_labels(folder)


def labelled(folder: Path) -> dict[str, str]:
    """Each track of a labelled folder (resolved path) and its label, the name of its sub-folder; only the
    sub-folders named for a mood count."""
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder of mood-labelled music")
    labels = {path: label for path, label in sub_folder_labels(folder).items() if label in MOODS}
    if not labels:
        raise SystemExit(f"{folder}: no sub-folder named for a mood ({', '.join(MOODS)})")
    return labels


def tune(split: str) -> None:
    """Grid over the track's share of a segment's feel and the feel weights (the energy itself is fitted by
    fit_energy.py)."""
    print(f"{'track':>6} {'energy w':>9} {'mood w':>7} {'energy AUC':>11} {'mood P@5':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        engine, labels = scanned("mood", split, Path(tmp))
        moods = sorted(set(labels.values()))
        for track, ew, mw in itertools.product((0.5, 1.0), (1.0, 2.0, 4.0), (0.0, 0.3, 0.6, 1.0, 2.0)):
            scoring.TRACK_FEEL, scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = track, ew, mw
            got = evaluate(engine, labels, moods)["needledrop"]
            mood = np.mean([got[m] for m in moods])
            print(f"{track:>6.1f} {ew:>9.1f} {mw:>7.1f} {got['energy AUC']:>11.2f} {mood:>9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--folder", type=Path, help="a folder of mood-labelled music instead of the packaged set")
    parser.add_argument("--tune", action="store_true", help="grid over the energy's shares (use with --split dev)")
    args = parser.parse_args()
    if args.tune:
        tune(args.split)
        return
    set_name = args.folder.resolve().name if args.folder else args.split
    style: dict[str, dict[str, float]] = {}
    styles: list[str] = []
    style_labels: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            labels = labelled(args.folder)
            engine = scanned_folder(args.folder, Path(tmp) / "data")
        else:
            engine, labels = scanned("mood", args.split, Path(tmp))
        moods = [m for m in MOODS if m in labels.values()]
        mood = evaluate(engine, labels, moods)
        clip = clip_check(engine, labels, Path(tmp))
        engine.close()
        if not args.folder:
            engine, style_labels = scanned("style", args.split, Path(tmp))
            styles = sorted(set(style_labels.values()))
            style = evaluate(engine, style_labels, styles)
            engine.close()

    counts = {m: sum(v == m for v in labels.values()) for m in moods}
    print(
        f"\nFeel on real recordings, {set_name}: {len(labels)} mood-labelled tracks "
        f"({', '.join(f'{m} {n}' for m, n in counts.items())})"
        + (f", {len(style_labels)} style-labelled" if styles else "")
    )
    columns = [*moods, "mood P@5", "energy AUC", *(["style P@5"] if styles else [])]
    print(f"  {'':<24}" + "".join(f"{c:>12}" for c in columns))
    rows = {}
    for method, name in METHODS.items():
        row = dict(mood[method])
        row["mood P@5"] = float(np.mean([mood[method][m] for m in moods]))
        if styles:
            row["style P@5"] = float(np.mean([style[method][s] for s in styles]))
        rows[method] = row
        print(f"  {name:<24}" + "".join(f"{row[c]:>12.2f}" for c in columns))
    print(
        f"  clip check, energetic or happy in the top 10: calm cut {clip['calm']:.0%}, "
        f"frantic cut {clip['frantic']:.0%}; in the top {clip['k']}: {clip['calm top k']:.0%} and "
        f"{clip['frantic top k']:.0%}"
    )
    out = Path("bench-results") / (f"feel-folder-{set_name}.json" if args.folder else f"feel-real-{args.split}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "clip": clip, "counts": counts}, indent=2))


if __name__ == "__main__":
    main()
