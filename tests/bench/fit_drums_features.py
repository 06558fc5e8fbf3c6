"""A drum detector learned on a network's features: chosen on dev, tried once on test.

The shipped detector (engine/instruments.py) and both refits (fit_drums.py) read a few scalars: the drum
hits and one to nine of musicnn's tags. Here a logistic regression reads the 400 features musicnn computes
for every 3-s patch before its tags (MTT and MSD, 200 each), as the track's mean and, per feature, the
busiest segment's, with or without the shipped detector's two inputs. The fit data, the folds, the bars,
the guard on the module dev pairs and the choice are fit_drums.py's (../data/drums/RULE-3.md, written
before any of these candidates was fitted); the test adds sets no earlier rule had: electronic songs
rendered with and without their drums (LMMS's projects) and human-composed MIDI soundtracks rendered whole
and with all their percussion removed.

With `--embedding aisfx` (../data/drums/RULE-4.md) the features are instead those of a CNN trained on
professional sound-effects libraries (tests/bench/sfx_embedding.py), one 512-d vector per 2.3 s: drum hits
are impacts, which such a network was taught to tell apart.

    .venv/bin/python tests/bench/fit_drums_features.py [--embedding aisfx --cache DIR] fit --real DIR \
        --modules DIR --out candidate.json
    .venv/bin/python tests/bench/fit_drums_features.py test --candidate candidate.json --real DIR \
        --modules DIR --lmms DIR --midi DIR [--more DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_drums import DETECTOR, SPLITS, all_splits, design, render_modules  # noqa: E402
from bench_drums import measured as measured_inputs  # noqa: E402
from bench_instruments import even_odds  # noqa: E402
from fit_drums import DATA, Side, candidate_row, figures, module_sides, pick, real_side, render_side  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedGroupKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from engine import instruments, paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.media.audio import iter_audio  # noqa: E402
from engine.tags import TagIndex  # noqa: E402

# (pool, with the shipped detector's two inputs): the mean over patches, or that and the busiest segment's.
# E: musicnn's penultimate features (RULE-3); A: aisfx's sound-effects embedding (RULE-4).
FEATURES = {
    embedding: {
        f"{letter}1": ("mean", False),
        f"{letter}1+S": ("mean", True),
        f"{letter}2": ("mean+max", False),
        f"{letter}2+S": ("mean+max", True),
    }
    for embedding, letter in (("musicnn", "E"), ("aisfx", "A"))
}
# A 12-s segment in each embedding's windows, and the step between segments: musicnn's 3-s patches every
# 1.5 s make the scan's segments (four patches every two); aisfx's 2.3-s windows end to end, five every three.
SEGMENT = {"musicnn": (4, 2), "aisfx": (5, 3)}
CS = (0.003, 0.03, 0.3)
CACHE = Path("build/drum-features")


@dataclasses.dataclass
class Pooled:
    """A side with its files' paths, for their pooled features."""

    side: Side
    paths: list[Path]


def sfx_features_of(path: Path, net: object, cache: Path) -> np.ndarray:
    """The file's aisfx window embeddings (W, 512), cached by its resolved path."""
    import sfx_embedding  # torch, only for this embedding

    out = _cached(path, cache)
    if not out.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(out, windows=sfx_embedding.windows(path, net).astype(np.float16))
    with np.load(out) as stored:
        return stored["windows"].astype(np.float32)


def features_of(path: Path, extractor: FeatureExtractor | None, cache: Path) -> dict[str, np.ndarray]:
    """The file's patch features (P, 400) as the scan computes them (the beat tracker changes none),
    cached by its resolved path."""
    out = _cached(path, cache)
    if not out.is_file():
        extractor = extractor or FeatureExtractor(open_current_bundle(paths.models_dir()))
        audio = extractor.pre.audio
        music = extractor.music_chunks(iter_audio(path, audio, chunk_samples=extractor.chunk_samples), beats=False)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(out, patches=music.patches.astype(np.float16), tags=music.tags.astype(np.float16))
    with np.load(out) as stored:
        return {"patches": stored["patches"].astype(np.float32)}


def _cached(path: Path, cache: Path) -> Path:
    return cache / (hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16] + ".npz")


def pooled(patches: np.ndarray, how: str, segment: tuple[int, int] = SEGMENT["musicnn"]) -> np.ndarray:
    """The mean over patches, and for mean+max each feature's highest mean over 12-s segments (`segment`:
    their length and step in patches)."""
    mean = patches.mean(axis=0)
    if how == "mean":
        return mean
    size, step = segment
    starts = range(0, max(len(patches) - size, 0) + 1, step)
    return np.concatenate([mean, np.max([patches[a : a + size].mean(axis=0) for a in starts], axis=0)])


class Design:
    """The candidates' inputs for a set of sides, each file's features loaded once."""

    def __init__(self, sides: dict[str, Pooled], tags: TagIndex, cache: Path, embedding: str = "musicnn"):
        self.tags = tags
        self.embedding = embedding
        extractor = None  # made for the first file not cached yet, and kept

        def patches(path: Path) -> np.ndarray:
            nonlocal extractor
            if extractor is None and not _cached(path, cache).is_file():
                if embedding == "aisfx":
                    import sfx_embedding

                    extractor = sfx_embedding.load()
                else:
                    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
            if embedding == "aisfx":
                return sfx_features_of(path, extractor, cache)
            return features_of(path, extractor, cache)["patches"]

        self.patches = {name: [patches(p) for p in side.paths] for name, side in sides.items()}
        self.sides = sides

    def matrix(self, name: str, feature: str) -> np.ndarray:
        how, with_shipped = FEATURES[self.embedding][feature]
        segment = SEGMENT[self.embedding]
        rows = np.stack([pooled(p, how, segment) for p in self.patches[name]]).astype(np.float64)
        if with_shipped:
            side = self.sides[name].side
            rows = np.column_stack([rows, design(side.hits, side.peaks, ("drums",), self.tags)])
        return rows


def as_fit(scaler: StandardScaler, model: LogisticRegression) -> dict:
    return {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "weights": model.coef_[0].tolist(),
        "bias": float(model.intercept_[0]),
    }


def probability(x: np.ndarray, fit: dict) -> np.ndarray:
    z = (x - np.array(fit["mean"])) / np.array(fit["scale"]) @ np.array(fit["weights"]) + fit["bias"]
    return 1.0 / (1.0 + np.exp(-z))


def _fitted(x: np.ndarray, y: np.ndarray, weight: np.ndarray, c: float) -> dict:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), y, sample_weight=weight)
    return as_fit(scaler, model)


def out_of_fold(d: Design, fit_on: tuple[str, ...], feature: str, c: float) -> dict:
    """As fit_drums.out_of_fold: 5 folds over the fit data, each source weighted to the same total; the
    full fit for a side outside it."""
    sides = {n: d.sides[n].side for n in d.sides}
    xs = {n: d.matrix(n, feature) for n in sides}
    x = np.concatenate([xs[n] for n in fit_on])
    y = np.concatenate([sides[n].drums for n in fit_on])
    weight = np.concatenate([np.full(len(sides[n].files), 1.0 / len(sides[n].files)) for n in fit_on])
    weight *= len(y) / len(fit_on)
    groups = [f"{n}:{g}" for n in fit_on for g in sides[n].groups]
    held = np.empty(len(y))
    for train, rest in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(x, y, groups):
        held[rest] = probability(x[rest], _fitted(x[train], y[train], weight[train], c))
    full = _fitted(x, y, weight, c)
    ends = dict(zip(fit_on, np.cumsum([len(sides[n].files) for n in fit_on])))
    out = {
        n: held[ends[n] - len(side.files) : ends[n]] if n in fit_on else probability(xs[n], full)
        for n, side in sides.items()
    }
    return out | {"detector": full}


def dev_sides(args: argparse.Namespace) -> dict[str, Pooled]:
    renders = render_side("renders dev", all_splits(), ("dev", "dev-kits"))
    folders = [SPLITS[s][0] for s in ("dev", "dev-kits")]
    real = real_side(args.real, "dev")
    modules = module_sides(args.modules)["dev"]
    return {
        "renders": Pooled(renders, [next(f / n for f in folders if (f / n).is_file()) for n in renders.files]),
        "real": Pooled(real, [args.real / n for n in real.files]),
        "modules": Pooled(modules, [args.modules / "renders" / n for n in modules.files]),
    }


def shipped_probability(side: Side, tags: TagIndex) -> np.ndarray:
    return instruments.drum_probability(side.hits, side.peaks, tags, json.loads(DETECTOR.read_text()))


def choose(args: argparse.Namespace) -> None:
    tags = TagIndex(open_current_bundle(paths.models_dir()).tag_labels)
    d = Design(dev_sides(args), tags, args.cache, args.embedding)
    shipped_fit = json.loads(DETECTOR.read_text())
    shipped_bars = shipped_fit["no_drums_below"], shipped_fit["drums_from"]
    shipped = {n: figures(shipped_probability(p.side, tags), p.side, *shipped_bars) for n, p in d.sides.items()}
    print(f"shipped on dev: modules AUC {shipped['modules']['AUC']:.3f}, {shipped['modules']['whole above muted']}")
    sides = {n: p.side for n, p in d.sides.items()}
    rows = [
        candidate_row(out_of_fold(d, fit_on, feature, c), sides, shipped, features=feature, data=data, C=c)
        for feature, (data, fit_on), c in itertools.product(FEATURES[args.embedding], DATA.items(), CS)
    ]
    chosen = pick(rows)
    dev = [{k: v for k, v in row.items() if k != "detector"} for row in rows]
    args.out.write_text(json.dumps({"chosen": chosen, "shipped": shipped, "dev": dev}))


def paired_side(name: str, folder: Path, labels: dict[str, dict]) -> Pooled:
    """Renders labelled {file: {"drums": bool, ...}} (a pair's versions named --whole and --drums-muted),
    measured as the scan measures them."""
    files = sorted(labels)
    cache = measured_inputs(folder, files, folder / "inputs.json")
    side = Side(
        name,
        files,
        np.array([cache[n]["hits"] for n in files], np.float64),
        np.array([cache[n]["peaks"] for n in files], np.float32),
        np.array([labels[n]["drums"] for n in files]),
        files,
    )
    return Pooled(side, [folder / n for n in files])


def lmms_side(folder: Path) -> Pooled:
    """LMMS's songs: the clean pairs (no track left playing could sound like percussion) and the drumless."""
    labels = {Path(k).name: v for k, v in json.loads((folder / "labels.json").read_text()).items()}
    clean = {n: v for n, v in labels.items() if v["kind"] in ("pair-clean", "drumless")}
    return paired_side("modules lmms", folder / "renders", clean)  # "modules": pairs_ordered reports the pairs


def midi_side(folder: Path) -> Pooled:
    """MIDI soundtracks rendered whole and with all their percussion removed (faint pairs left out), and
    the pieces with none."""
    labels = json.loads((folder / "labels.json").read_text())
    kept = {n: v for n, v in labels.items() if not v.get("faint")}
    return paired_side("modules midi", folder / "renders", kept)


def test_sides(args: argparse.Namespace) -> dict[str, Pooled]:
    renders = render_side("renders test", all_splits(), ("test",))
    modules = render_side("modules", {"modules": render_modules()}, ("modules",))
    real = real_side(args.real, "test")
    more = module_sides(args.modules)["test"]
    sides = {
        "real test": Pooled(real, [args.real / n for n in real.files]),
        "renders test": Pooled(renders, [SPLITS["test"][0] / n for n in renders.files]),
        "modules": Pooled(modules, [Path("build/drums-modules") / n for n in modules.files]),
        "lmms": lmms_side(args.lmms),
        "midi": midi_side(args.midi),
        "module test pairs": Pooled(more, [args.modules / "renders" / n for n in more.files]),
    }
    if args.more:
        extra = real_side(args.more, "test")
        sides["more real"] = Pooled(extra, [args.more / n for n in extra.files])
    return sides


def verdict(sets: dict) -> tuple[list[str], bool]:
    """RULE-3's checks: what the candidate failed (nothing: adopted), and whether "no drums" may filter."""
    old = {n: s["shipped"] for n, s in sets.items()}
    new = {n: s["candidate"] for n, s in sets.items()}

    def precision(name: str, verdict: str) -> float | None:
        return new[name][verdict]["precision at even odds"]

    def pairs(figures: dict) -> int:
        return int(figures["whole above muted"].split(" of ")[0])

    checks = {
        "real: no drums precision >= 0.95": (precision("real test", "no") or 0) >= 0.95,
        "real: recall up by 0.10": new["real test"]["no"]["recall"] >= old["real test"]["no"]["recall"] + 0.10,
        "renders: precision >= 0.90": (precision("renders test", "no") or 0) >= 0.90,
        "renders: AUC down <= 0.02": new["renders test"]["AUC"] >= old["renders test"]["AUC"] - 0.02,
        "modules: AUC down <= 0.05": new["modules"]["AUC"] >= old["modules"]["AUC"] - 0.05,
        "modules: pairs down <= 1": pairs(new["modules"]) >= pairs(old["modules"]) - 1,
        "lmms: AUC down <= 0.03": new["lmms"]["AUC"] >= old["lmms"]["AUC"] - 0.03,
        "lmms: pairs down <= 1": pairs(new["lmms"]) >= pairs(old["lmms"]) - 1,
        "midi: AUC down <= 0.03": new["midi"]["AUC"] >= old["midi"]["AUC"] - 0.03,
        "midi: pairs down <= 1": pairs(new["midi"]) >= pairs(old["midi"]) - 1,
        "has drums >= 0.90": all(
            (precision(s, "with it") or 1.0) >= 0.90 for s in ("real test", "renders test", "midi")
        ),
        "lmms: has drums not worse": (precision("lmms", "with it") or 1.0)
        >= (old["lmms"]["with it"]["precision at even odds"] or 1.0),
    }
    failed = [name for name, ok in checks.items() if not ok]
    hard = not failed and all(
        (precision(s, "no") or 0) >= instruments.HARD_FROM_PRECISION
        and new[s]["no"]["recall"] >= instruments.HARD_FROM_RECALL
        for s in ("real test", "renders test", "midi")
    )
    hard = hard and all(new[s]["no"]["drums let through"] == 0 for s in ("modules", "lmms"))
    return failed, hard


def test(args: argparse.Namespace) -> None:
    tags = TagIndex(open_current_bundle(paths.models_dir()).tag_labels)
    chosen = json.loads(args.candidate.read_text())["chosen"]
    shipped = json.loads(DETECTOR.read_text())
    embedding = next(e for e, features in FEATURES.items() if chosen["features"] in features)
    d = Design(test_sides(args), tags, args.cache, embedding)
    out: dict = {"candidate": {k: chosen[k] for k in ("features", "data", "C", "no_drums_below", "drums_from")}}
    out["sets"] = {}
    for name, pooled_side in d.sides.items():
        side = pooled_side.side
        mine = probability(d.matrix(name, chosen["features"]), chosen["detector"])
        out["sets"][name] = {
            "shipped": figures(shipped_probability(side, tags), side, shipped["no_drums_below"], shipped["drums_from"]),
            "candidate": figures(mine, side, chosen["no_drums_below"], chosen["drums_from"]),
        }
        for who, f in out["sets"][name].items():
            print(f"{name:<17} {who:<9} {json.dumps(f)}", flush=True)
    out["failed"], out["hard"] = verdict(out["sets"])
    out["adopted"] = not out["failed"]
    print(json.dumps({k: out[k] for k in ("adopted", "failed", "hard")}, indent=1))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(out, indent=1))


def split_verdicts(args: argparse.Namespace) -> None:
    """RULE-5 on a fresh paired set: "no drums" (and the order) from the candidate, "has drums" only where
    the shipped detector and the candidate both say so; nothing is fitted."""
    tags = TagIndex(open_current_bundle(paths.models_dir()).tag_labels)
    chosen = json.loads(args.candidate.read_text())["chosen"]
    shipped = json.loads(DETECTOR.read_text())
    embedding = next(e for e, features in FEATURES.items() if chosen["features"] in features)
    side = midi_side(args.midi)
    d = Design({"fresh": side}, tags, args.cache, embedding)
    mine = probability(d.matrix("fresh", chosen["features"]), chosen["detector"])
    theirs = shipped_probability(side.side, tags)
    before = figures(theirs, side.side, shipped["no_drums_below"], shipped["drums_from"])
    after = figures(mine, side.side, chosen["no_drums_below"], np.inf)
    claimed = (theirs >= shipped["drums_from"]) & (mine >= chosen["no_drums_below"])
    drummed = side.side.drums
    after["with it"] = {"precision at even odds": even_odds(claimed, drummed), "recall": float(claimed[drummed].mean())}
    for who, f in (("shipped", before), ("candidate", after)):
        print(f"{who:<9} {json.dumps(f)}", flush=True)

    def pairs(f: dict) -> int:
        return int(f["whole above muted"].split(" of ")[0])

    checks = {
        "no drums precision >= 0.95": (after["no"]["precision at even odds"] or 0) >= 0.95,
        "AUC down <= 0.03": after["AUC"] >= before["AUC"] - 0.03,
        "has drums down <= 0.02": (after["with it"]["precision at even odds"] or 1.0)
        >= (before["with it"]["precision at even odds"] or 1.0) - 0.02,
        "pairs down <= 1": pairs(after) >= pairs(before) - 1,
    }
    failed = [name for name, ok in checks.items() if not ok]
    out = {"shipped": before, "candidate": after, "failed": failed, "adopted": not failed}
    print(json.dumps({"adopted": not failed, "failed": failed}, indent=1))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(out, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="each file's patch features")
    parser.add_argument("--embedding", choices=sorted(FEATURES), default="musicnn", help="whose features")
    steps = parser.add_subparsers(dest="step", required=True)
    fit_step = steps.add_parser("fit")
    test_step = steps.add_parser("test")
    for step in (fit_step, test_step):
        step.add_argument("--real", type=Path, required=True, help="recordings with instruments.json, split.json")
        step.add_argument("--modules", type=Path, required=True, help="modules with candidates.json, renders/")
    fit_step.add_argument("--out", type=Path, required=True)
    test_step.add_argument("--candidate", type=Path, required=True)
    test_step.add_argument("--lmms", type=Path, required=True, help="LMMS songs with labels.json, renders/")
    test_step.add_argument("--midi", type=Path, required=True, help="MIDI renders with labels.json, renders/")
    test_step.add_argument("--more", type=Path, help="more test recordings with instruments.json, split.json")
    test_step.add_argument("--results", type=Path, default=Path("bench-results/drums-features-test.json"))
    split_step = steps.add_parser("split", help="RULE-5: no drums from the candidate, has drums from both")
    split_step.add_argument("--candidate", type=Path, required=True)
    split_step.add_argument("--midi", type=Path, required=True, help="fresh renders with labels.json, renders/")
    split_step.add_argument("--results", type=Path, default=Path("bench-results/drums-split-test.json"))
    args = parser.parse_args()
    {"fit": choose, "test": test, "split": split_verdicts}[args.step](args)


if __name__ == "__main__":
    main()
