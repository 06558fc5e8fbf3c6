"""The energy refitted with production music beside the games' dev split: chosen on dev, tried once on test.

The shipped energy (engine/energy_model.json, fit_energy.py) was fitted on game music alone; on production
music it orders energetic pieces above calm ones less well (docs/quality.md, *A fitted valence*). Here the
same fit is made on the games' dev split and a folder of production music (`energetic/`, `calm/`), the
folder's tracks together counting m times the games' together. `fit` chooses m and C by the mean of the two
sources' cross-validated AUCs and writes the candidate to `--out`; `test` measures the shipped energy and the
candidate, once, on the test sets make eval reads (fit_mood.py's); `record` writes the candidate to
engine/energy_model.json only if that run passed the rule written before it (`failures`).

    .venv/bin/python tests/bench/refit_energy.py fit --fit-folder DIR --out candidate.json
    .venv/bin/python tests/bench/refit_energy.py test --candidate candidate.json --test-folder DIR [...]
    .venv/bin/python tests/bench/refit_energy.py record --candidate candidate.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from unittest.mock import patch

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_energy import (  # noqa: E402
    CS,
    Scanned,
    _scanned,
    auc,
    cross_validated,
    fitted,
    folded,
    ready,
    scale_of,
    scanned_tracks,
)
from fit_mood import Sets  # noqa: E402

from engine import affect  # noqa: E402

SHARES = (0.5, 1.0)  # the folder's tracks together, as a share of the games' dev tracks together
RESULTS = Path("bench-results/energy-refit-test.json")


def folder_tracks(folder: Path, data: Path) -> Scanned:
    """The folder's tracks, scanned: `energetic` or `calm` by their sub-folder."""
    return _scanned(folder, data, lambda p: (p.parent.name, p.name))


def choose(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scans = [scanned_tracks("dev", Path(tmp)), folder_tracks(args.fit_folder, Path(tmp) / "folder")]
    mean, spread = scale_of(scans)
    games, folder = (ready(scan, mean, spread) for scan in scans)
    print(f"games dev: {games.high.sum()} energetic, {(~games.high).sum()} calm or tender; ", end="")
    print(f"{args.fit_folder.name}: {folder.high.sum()} energetic, {(~folder.high).sum()} calm")
    shipped = [auc(np.array(scan.stored, float), tracks.high) for scan, tracks in zip(scans, (games, folder))]
    print(f"  the stored energy (shipped): games dev {shipped[0]:.3f} (fitted on them), folder {shipped[1]:.3f}")
    cv = {}
    for share, c in itertools.product(SHARES, CS):
        cv[share, c] = tuple(
            np.mean([cross_validated(games, folder, share, c, seed, grouped=False) for seed in range(3)], axis=0)
        )
        print(f"  m={share:<4} C={c:<5} cross-validated AUC: games {cv[share, c][0]:.3f}, folder {cv[share, c][1]:.3f}")
    share, c = max(cv, key=lambda key: np.mean(cv[key]))
    model = fitted(games, folder, share, c)
    candidate = folded(model, mean, spread, scans[0].tag_names) | {
        "fitted_on": {
            "games dev tracks": len(games.x),
            f"{args.fit_folder.name} tracks": len(folder.x),
            "their share": share,
            "C": c,
            "cross-validated AUC": {"games": round(cv[share, c][0], 3), "folder": round(cv[share, c][1], 3)},
        }
    }
    print(f"chosen: m={share}, C={c}")
    args.out.write_text(json.dumps(candidate, indent=1) + "\n")


def test(args: argparse.Namespace) -> None:
    record = json.loads(args.candidate.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        sets = Sets(Path(tmp), "test", args.test_folder)
        rows = {}
        for name, candidate in (("shipped", None), ("candidate", record)):
            # engine/affect.py measuring energy by the candidate's fit, for remeasured()
            with patch.object(affect, "_ENERGY_FIT", candidate) if candidate else nullcontext():
                rows[name] = sets.run(sets.measured)
            print(f"\n{name}")
            for set_name, got in rows[name].items():
                print(f"  {set_name:<12}" + "".join(f" {k} {v:.2f}" for k, v in got.items()))
    failed = failures(rows)
    print("\n" + ("passes the rule" if not failed else "fails the rule: " + "; ".join(failed)))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows | {"candidate fit": record}, indent=2))


def failures(rows: dict) -> list[str]:
    """What keeps the candidate out, by the rule written before the test sets were measured."""
    shipped, candidate = rows["shipped"], rows["candidate"]
    real = [name for name in shipped if name != "renders"]
    gain = np.mean([candidate[n]["energy AUC"] - shipped[n]["energy AUC"] for n in real])
    out = [f"the real test sets' mean energy AUC rises by {gain:+.3f}, not 0.01"] if gain < 0.01 else []
    for n in real:
        for measure in ("energy AUC", "mood P@5"):
            if candidate[n][measure] < shipped[n][measure] - 0.02:
                out.append(f"{n}'s {measure} falls by more than 0.02")
    if candidate["renders"]["energy AUC"] < shipped["renders"]["energy AUC"] - 0.03:
        out.append("the renders' energy AUC falls by more than 0.03")
    return out


def record(args: argparse.Namespace) -> None:
    """engine/energy_model.json from a candidate whose test run passed the rule."""
    candidate = json.loads(args.candidate.read_text())
    rows = json.loads(RESULTS.read_text())
    if rows.pop("candidate fit") != candidate:
        raise SystemExit(f"{RESULTS} is another candidate's test run: run `test` with this one first")
    if failed := failures(rows):
        raise SystemExit("not recorded: " + "; ".join(failed))
    out = Path(affect.__file__).with_name("energy_model.json")
    shipped = json.loads(out.read_text())
    same = shipped["tags"] == candidate["tags"] and shipped["bias"] == candidate["bias"]
    fitted = {
        # A new version makes every library measure its stored segments again (affect.VERSION); the same fit
        # recorded again needs no new measurement.
        "version": shipped["version"] + (not same),
        "tags": candidate["tags"],
        "bias": candidate["bias"],
        "fitted_on": candidate["fitted_on"],
        "held_out": {
            "[before, after] on each test set": {
                name: {m: [round(rows["shipped"][name][m], 3), round(v, 3)] for m, v in got.items()}
                for name, got in rows["candidate"].items()
            }
        },
    }
    out.write_text(json.dumps(fitted, indent=1) + "\n")
    print(f"wrote {out} (version {fitted['version']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    fit_step = steps.add_parser("fit", help="fit on the games' dev split and --fit-folder, write --out")
    fit_step.add_argument("--fit-folder", type=Path, required=True, help="a folder with energetic/ and calm/")
    fit_step.add_argument("--out", type=Path, required=True)
    test_step = steps.add_parser("test", help="the shipped energy and the candidate, once, on the test sets")
    test_step.add_argument("--candidate", type=Path, required=True)
    test_step.add_argument(
        "--test-folder", type=Path, action="append", required=True, help="a mood-labelled test folder (repeatable)"
    )
    record_step = steps.add_parser("record", help="write engine/energy_model.json if the test run passed the rule")
    record_step.add_argument("--candidate", type=Path, required=True)
    args = parser.parse_args()
    {"fit": choose, "test": test, "record": record}[args.step](args)


if __name__ == "__main__":
    main()
