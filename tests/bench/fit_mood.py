"""A fitted mood (valence) from musicnn's tags: fitted and chosen on dev sets, then tried once on test sets.

The measured mood (engine/affect.py, docs/quality.md *A fitted valence*) is a logistic fit of the log of
every tag's strength, made as the energy's is (fit_energy.py), on a folder of music labelled by valence
(`positive/`, `negative/`: production music whose catalogue calls it bright, uplifting or romantic
against somber or dark), joined to the mode as

    mood = (1 − s) · tanh(fit / 2) + s · mode.

`fit` chooses C by 5-fold cross-validation over the fit folder's tracks, prints how the fit orders the
games' dev split (happy above nostalgic and tender) and the feel renders' dev split (major above minor)
beside the shipped mood, then grids s and the feel weights by retrieval mood P@5 on three dev sets (a
mood-labelled folder of the fit's composer, the games' dev split, the renders' dev split) and writes the
choice to `--out`. `test` then measures the shipped mood and that candidate, once, on the test sets: the
games' test split, mood-labelled test folders, the renders' test split; `record` writes the candidate to
engine/mood_model.json only if that run passed the rule written for it. (The mood shipped before 6 December
2026, the mode with musicnn's happy and sad tags, is no longer in the code: the first run's "shipped" rows
are in docs/quality.md.)

    .venv/bin/python tests/bench/fit_mood.py fit --fit DIR --dev-folder DIR --out candidate.json
    .venv/bin/python tests/bench/fit_mood.py test --candidate candidate.json --test-folder DIR [--test-folder DIR]
    .venv/bin/python tests/bench/fit_mood.py record --candidate candidate.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_feel import evaluate as evaluate_renders  # noqa: E402
from bench_feel import remeasured  # noqa: E402
from bench_feel import scanned as scanned_folder  # noqa: E402
from eval_feel_real import MOODS, evaluate, labelled, sub_folder_labels  # noqa: E402
from fit_energy import CS, _scanned, auc, fit, folded, scale_of, standardised  # noqa: E402
from fit_energy import track_energy as track_value  # noqa: E402
from real_set import materialise  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

import engine.recommend.scoring as scoring  # noqa: E402
from engine import affect  # noqa: E402
from engine.facade import Engine  # noqa: E402
from training.bootstrap.feel_set import render_feel_set  # noqa: E402

SHARES = (0.0, 0.2, 0.35, 0.5, 0.7)
WEIGHTS = ((2.0, 1.0), (1.0, 1.0), (2.0, 2.0), (1.0, 2.0))  # (energy, mood); the first is shipped


def valence_tracks(folder: Path, data: Path):
    """The fit folder's tracks, scanned: `positive` or `negative` by their sub-folder."""
    return _scanned(folder, data, lambda p: (p.parent.name, p.name), keep={"positive", "negative"})


def cross_validated(x: list[np.ndarray], positive: np.ndarray, c: float, seed: int) -> float:
    scores = np.zeros(len(x))
    for train, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, positive):
        model = fit([x[i] for i in train], positive[train], c, [1.0] * len(train))
        scores[held] = track_value(model, [x[i] for i in held])
    return auc(scores, positive)


def fitted_valence(folder: Path, tmp: Path) -> dict:
    """The fit, its standardisation folded into per-tag weights (as energy_model.json holds them)."""
    scan = valence_tracks(folder, tmp / "fit")
    mean, spread = scale_of([scan])
    x = standardised(scan, mean, spread)
    positive = np.array([label == "positive" for label in scan.labels])
    print(f"fit folder: {positive.sum()} positive, {(~positive).sum()} negative tracks")
    cv = {c: float(np.mean([cross_validated(x, positive, c, seed) for seed in range(3)])) for c in CS}
    for c, value in cv.items():
        print(f"  C={c:<5} cross-validated AUC {value:.3f}")
    engine = Engine(tmp / "fit")
    shipped = ordering(engine, sub_folder_labels(folder), {"positive"}, {"negative"})
    engine.close()
    print(f"  the shipped mood orders them with AUC {shipped:.3f}")
    chosen = max(cv, key=cv.get)
    model = fit(x, positive, chosen, [1.0] * len(x))
    return folded(model, mean, spread, scan.tag_names) | {
        "fitted_on": {"tracks": len(x), "C": chosen, "cross-validated AUC": round(cv[chosen], 3)},
    }


@contextmanager
def candidate_mood(record: dict | None, share: float = 0.0):
    """engine/affect.py measuring mood by the candidate's fit at `share` (None: as shipped), for remeasured()."""
    shipped = affect._MOOD_FIT, affect.MODE_SHARE
    if record is not None:
        affect._MOOD_FIT, affect.MODE_SHARE = record, share
    try:
        yield
    finally:
        affect._MOOD_FIT, affect.MODE_SHARE = shipped


@contextmanager
def feel_weights(energy: float, mood: float):
    shipped = scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT
    scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = energy, mood
    try:
        yield
    finally:
        scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT = shipped


def track_moods(engine: Engine) -> dict[str, float]:
    rows = engine._library.catalog._connection().execute("SELECT path, mood FROM tracks")  # a bench may look
    return {str(Path(p.decode() if isinstance(p, bytes) else p).resolve()): m for p, m in rows}


def above(high: list[float], low: list[float]) -> float:
    """How often a `high` value is above a `low` one, over all pairs (ties half)."""
    return auc(np.array(high + low, float), np.arange(len(high) + len(low)) < len(high))


def ordering(engine: Engine, labels: dict[str, str], up: set[str], down: set[str]) -> float:
    """AUC of the tracks' stored mood: `up` labels above `down` labels."""
    moods = track_moods(engine)
    return above(
        [moods[p] for p, label in labels.items() if label in up],
        [moods[p] for p, label in labels.items() if label in down],
    )


class Sets:
    """Scanned once; each measured again (remeasured) under every candidate mood."""

    def __init__(self, tmp: Path, split: str, folders: list[Path]):
        sources = {"games": materialise("mood", split, tmp / "games")} | {f.name: f for f in folders}
        self.labels: dict[str, dict] = {"games": sub_folder_labels(sources["games"])}
        self.labels |= {f.name: labelled(f) for f in folders}
        sources["renders"] = Path(f"build/feel-{split}")
        self.labels["renders"] = render_feel_set(sources["renders"], split)
        self.data = {name: tmp / f"data-{name}" for name in sources}
        for name, source in sources.items():
            scanned_folder(source, self.data[name]).close()
        self.render_labels = {
            n: "positive" if v["mood"] == "major" else "negative" for n, v in self.labels["renders"].items()
        }

    def measured(self, name: str, engine: Engine) -> dict[str, float]:
        if name == "renders":
            got = evaluate_renders(engine, self.labels[name])
            return {
                "mood P@5": got["mood P@5"],
                "energy AUC": got["energy AUC"],
                "happy": got["P@5 happy"],
                "sad": got["P@5 sad"],
            }
        labels = self.labels[name]
        moods = [m for m in MOODS if m in labels.values()]
        got = evaluate(engine, labels, moods)["needledrop"]
        return {"mood P@5": float(np.mean([got[m] for m in moods])), "energy AUC": got["energy AUC"]} | {
            m: got[m] for m in moods
        }

    def valence_auc(self, name: str, engine: Engine) -> float:
        if name == "renders":
            moods = {Path(p).name: m for p, m in track_moods(engine).items()}
            labels = self.render_labels
            return above(
                [moods[n] for n, v in labels.items() if v == "positive" and n in moods],
                [moods[n] for n, v in labels.items() if v == "negative" and n in moods],
            )
        return ordering(engine, self.labels[name], {"happy"}, {"nostalgic", "tender"})

    def run(self, measure: Callable[[str, Engine], object]) -> dict[str, object]:
        out = {}
        for name in self.labels:
            engine = remeasured(self.data[name])
            out[name] = measure(name, engine)
            engine.close()
        return out


def choose(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        record = fitted_valence(args.fit, Path(tmp))
        sets = Sets(Path(tmp), "dev", [args.dev_folder])
        print("\nvalence AUC of the tracks' mood (happy above nostalgic and tender; renders: major above minor)")
        for name, candidate, share in [("shipped", None, 0.0)] + [("fit", record, s) for s in SHARES]:
            with candidate_mood(candidate, share):
                got = sets.run(sets.valence_auc)
            print(f"  {name:<8} s={share:<5}" + "".join(f" {k} {v:.3f}" for k, v in got.items()))
        print("\nmood P@5 and energy AUC on the dev sets (mean of the three sets' mood P@5)")
        results = []
        grid = [(None, 0.0, WEIGHTS[0])] + list(itertools.product([record], SHARES, WEIGHTS))
        for candidate, share, (ew, mw) in grid:
            with candidate_mood(candidate, share), feel_weights(ew, mw):
                got = sets.run(sets.measured)
            mean = float(np.mean([g["mood P@5"] for g in got.values()]))
            name = "shipped" if candidate is None else "fit"
            print(
                f"  {name:<8} s={share:<5} weights {ew:g}/{mw:g}: mean {mean:.3f}"
                + "".join(f" | {k} {g['mood P@5']:.2f} (energy {g['energy AUC']:.2f})" for k, g in got.items()),
                flush=True,
            )
            if candidate is not None:
                # Ties go to the weights nearer the shipped ones, then to the larger mode share.
                results.append((round(mean, 4), -WEIGHTS.index((ew, mw)), share))
    mean, negative_index, share = max(results)
    weights = WEIGHTS[-negative_index]
    print(f"\nchosen: s={share}, weights {weights[0]:g}/{weights[1]:g} (dev mean mood P@5 {mean:.3f})")
    record |= {"mode_share": share, "energy_weight": weights[0], "mood_weight": weights[1], "dev_mean_mood_p5": mean}
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


def test(args: argparse.Namespace) -> None:
    record = json.loads(args.candidate.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        sets = Sets(Path(tmp), "test", args.test_folder)
        rows = {}
        for name, candidate, weights in (
            ("shipped", None, (scoring.ENERGY_WEIGHT, scoring.MOOD_WEIGHT)),
            ("candidate", record, (record["energy_weight"], record["mood_weight"])),
        ):
            with candidate_mood(candidate, record["mode_share"]), feel_weights(*weights):
                rows[name] = sets.run(sets.measured)
            print(f"\n{name}")
            for set_name, got in rows[name].items():
                print(f"  {set_name:<8}" + "".join(f" {k} {v:.2f}" for k, v in got.items()))
    out = Path("bench-results") / "mood-fit-test.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


def failures(rows: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """What keeps the candidate out, by the rule written before the test sets were measured."""
    shipped, candidate = rows["shipped"], rows["candidate"]
    real = [name for name in shipped if not name.startswith("renders")]
    renders = next(name for name in shipped if name.startswith("renders"))
    gain = np.mean([candidate[n]["mood P@5"] - shipped[n]["mood P@5"] for n in real])
    out = [f"the real test sets' mean mood P@5 rises by {gain:+.3f}, not 0.03"] if gain < 0.03 else []
    for n in real:
        for measure, allowed in (("mood P@5", 0.02), ("energy AUC", 0.02)):
            if candidate[n][measure] < shipped[n][measure] - allowed:
                out.append(f"{n}'s {measure} falls by more than {allowed}")
    if candidate[renders]["mood P@5"] < shipped[renders]["mood P@5"] - 0.05:
        out.append("the renders' mood P@5 falls by more than 0.05")
    return out


def record(args: argparse.Namespace) -> None:
    """engine/mood_model.json from a candidate whose test run passed the rule."""
    candidate = json.loads(args.candidate.read_text())
    rows = json.loads(args.results.read_text())
    if failed := failures(rows):
        raise SystemExit("not recorded: " + "; ".join(failed))
    held_out = {
        name: {measure: [round(rows["shipped"][name][measure], 3), round(got[measure], 3)] for measure in got}
        for name, got in rows["candidate"].items()
    }
    out = Path(affect.__file__).with_name("mood_model.json")
    fitted = {
        # A new version makes every library measure its stored segments again (affect.VERSION).
        "version": json.loads(out.read_text())["version"] + 1 if out.exists() else 1,
        "tags": candidate["tags"],
        "bias": candidate["bias"],
        "mode_share": candidate["mode_share"],
        "fitted_on": candidate["fitted_on"],
        "chosen_on_dev": {"feel weights (energy, mood)": [candidate["energy_weight"], candidate["mood_weight"]]},
        "held_out": {"[before, after] on each test set": held_out},
    }
    out.write_text(json.dumps(fitted, indent=1) + "\n")
    print(
        f"wrote {out}; scoring.ENERGY_WEIGHT and MOOD_WEIGHT must be {candidate['energy_weight']:g} and "
        f"{candidate['mood_weight']:g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    fit_step = steps.add_parser("fit", help="fit on --fit, choose on the dev sets, write --out")
    fit_step.add_argument("--fit", type=Path, required=True, help="a folder with positive/ and negative/")
    fit_step.add_argument("--dev-folder", type=Path, required=True, help="a mood-labelled dev folder")
    fit_step.add_argument("--out", type=Path, required=True)
    test_step = steps.add_parser("test", help="the shipped mood and the candidate, once, on the test sets")
    test_step.add_argument("--candidate", type=Path, required=True)
    test_step.add_argument(
        "--test-folder", type=Path, action="append", required=True, help="a mood-labelled test folder (repeatable)"
    )
    record_step = steps.add_parser("record", help="write engine/mood_model.json if the test run passed the rule")
    record_step.add_argument("--candidate", type=Path, required=True)
    record_step.add_argument("--results", type=Path, default=Path("bench-results/mood-fit-test.json"))
    args = parser.parse_args()
    {"fit": choose, "test": test, "record": record}[args.step](args)


if __name__ == "__main__":
    main()
