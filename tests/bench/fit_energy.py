"""Fit the music's energy (engine/energy_model.json) on real recordings labelled by their own titles.

The energy of a segment is a logistic fit of the log of musicnn's tag strengths (every canonical tag the
scan stores per segment), made on the *dev* split of tests/bench/real_set.py: energetic tracks (battle,
combat, frantic, boss) against calm and tender ones (peace, sanctuary, love theme). Each segment carries
its track's label, weighted so that every track counts once. The regularisation is chosen by 5-fold
cross-validation over the dev tracks (three shuffles); the fit is then made on all of dev, and `--record`
writes it with the held-out figure: how well the tracks' mean energy orders the *test* split's energetic
tracks above its calm and tender ones (AUC), beside the energy the scan stores now (the shipped fit, at
affect.py's VERSION), measured in the same run.

Every run also scans the feel set's renders (training/bootstrap/feel_set.py: each piece made calm and
energetic; rendered with FluidSynth on first use) and reports how the fit orders them: the dev renders
cross-validated (a piece's four versions held out together), the test renders held out. `--renders SHARE`
also fits on the dev renders, weighted so that together they count SHARE times as much as the real tracks
of the same fit (in every fold too). The shipped fit is refit_energy.py's, of the games' dev split and
production music (docs/quality.md, *Energy and mood*); `--record` would replace it with a fit of the games
alone.

    .venv/bin/python tests/bench/fit_energy.py [--record] [--renders 0.1]
    (scripts/bench-deps.sh installs the set)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_set import materialise  # noqa: E402

from engine import affect  # noqa: E402
from engine.facade import Engine  # noqa: E402
from engine.library.catalog import probabilities_of_bytes  # noqa: E402
from engine.tags import TagIndex  # noqa: E402
from training.bootstrap.feel_set import render_feel_set  # noqa: E402

HIGH, LOW = {"energetic"}, {"calm", "tender"}
CS = (0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass
class Scanned:
    """Energy-labelled tracks as the scan stored them, in the order of their paths."""

    labels: list[str]
    strengths: list[np.ndarray]  # per track, its segments' tag strengths
    stored: list[float]  # the track's energy as the scan measured it
    groups: list[str]  # what a fold holds out together: the track, or the piece a render was made from
    tag_names: list[str]


@dataclass
class Tracks:
    """Tracks ready to fit: standardised features, energetic or not, and their groups."""

    x: list[np.ndarray]
    high: np.ndarray
    groups: np.ndarray

    def __getitem__(self, rows) -> Tracks:
        return Tracks([self.x[i] for i in rows], self.high[rows], self.groups[rows])


def scanned_tracks(split: str, tmp: Path) -> Scanned:
    folder = materialise("mood", split, tmp / split)
    return _scanned(folder, tmp / f"data-{split}", lambda path: (path.parent.name, path.name))


def rendered_tracks(split: str, tmp: Path) -> Scanned:
    """The feel set's renders of a split, each labelled energetic or calm by how it was made."""
    folder = Path(f"build/feel-{split}")
    feel = render_feel_set(folder, split)

    def label_of(path: Path) -> tuple[str, str] | None:
        if path.name not in feel:
            return None
        made = feel[path.name]
        return ("energetic" if made["energy"] == "high" else "calm"), made["base"]

    return _scanned(folder, tmp / f"renders-{split}", label_of)


def _scanned(
    folder: Path, data: Path, label_of: Callable[[Path], tuple[str, str] | None], keep: set[str] = HIGH | LOW
) -> Scanned:
    engine = Engine(data)
    engine.add_root(folder)
    engine.scan()
    connection = engine._library.catalog._connection()  # a bench may look at what the scan stored
    out = Scanned([], [], [], [], [])
    # In the order of their paths: the order the workers finished in would change the folds from run to run.
    for track_id, path, energy in connection.execute("SELECT id, path, energy FROM tracks ORDER BY path"):
        labelled = label_of(Path(path.decode() if isinstance(path, bytes) else path))
        if labelled is None or labelled[0] not in keep:
            continue
        rows = connection.execute("SELECT tags FROM segments WHERE track_id = ? ORDER BY start", (track_id,))
        out.labels.append(labelled[0])
        out.groups.append(labelled[1])
        out.strengths.append(np.stack([probabilities_of_bytes(tags) for (tags,) in rows]))
        out.stored.append(energy)
    tags = TagIndex(engine.recommender.embedder.extractor.tag_names)
    engine.close()
    out.strengths = [tags.strengths(s) for s in out.strengths]
    out.tag_names = tags.names
    return out


def auc(scores: np.ndarray, high: np.ndarray) -> float:
    pos, neg = scores[high], scores[~high]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def fit(features: list[np.ndarray], high: np.ndarray, c: float, weights: list[float]) -> LogisticRegression:
    """Each track counts as its weight, however many segments it has."""
    x = np.vstack(features)
    y = np.concatenate([np.full(len(f), h) for f, h in zip(features, high)])
    w = np.concatenate([np.full(len(f), weight / len(f)) for f, weight in zip(features, weights)])
    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=w)


def fitted(real: Tracks, other: Tracks, share: float, c: float) -> LogisticRegression:
    """A fit of the real tracks, and of `other`'s (the renders, or another source's tracks: refit_energy.py)
    counting `share` times as much as them together.

    The other tracks' weight is set as a share of the real tracks', so that how much they count is chosen
    rather than following how many there are, and the share is the same in every cross-validation fold as
    in the final fit, so that the folds measure the fit that is made."""
    features, high, weights = list(real.x), list(real.high), [1.0] * len(real.x)
    if share:
        features += other.x
        high += list(other.high)
        weights += [share * len(real.x) / len(other.x)] * len(other.x)
    return fit(features, np.array(high), c, weights)


def cross_validated(
    real: Tracks, other: Tracks, share: float, c: float, seed: int, grouped: bool = True
) -> tuple[float, float]:
    """5-fold AUC over the real dev tracks, and over the other tracks, a group (a piece's versions) held out
    together where `grouped` (the renders; refit_energy.py's folder is folded by track, as it was when its fit
    was chosen)."""
    real_scores, other_scores = np.zeros(len(real.x)), np.zeros(len(other.x))
    other_folds = (
        StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(other.x, other.high, other.groups)
        if grouped
        else StratifiedKFold(5, shuffle=True, random_state=seed).split(other.x, other.high)
    )
    folds = zip(StratifiedKFold(5, shuffle=True, random_state=seed).split(real.x, real.high), other_folds)
    for (train, held), (other_train, other_held) in folds:
        model = fitted(real[train], other[other_train], share, c)
        real_scores[held] = track_energy(model, real[held].x)
        other_scores[other_held] = track_energy(model, other[other_held].x)
    return auc(real_scores, real.high), auc(other_scores, other.high)


def scale_of(scans: list[Scanned]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and spread of the log tag strengths over every segment of `scans` (the fit's
    standardisation)."""
    logs = np.log(np.vstack([s for scan in scans for s in scan.strengths]) + affect.TAG_FLOOR)
    return logs.mean(0), logs.std(0) + 1e-6


def standardised(scan: Scanned, mean: np.ndarray, spread: np.ndarray) -> list[np.ndarray]:
    """Each track's segments as a fit reads them: the log tag strengths on `scale_of`'s scale."""
    return [(np.log(s + affect.TAG_FLOOR) - mean) / spread for s in scan.strengths]


def ready(scan: Scanned, mean: np.ndarray, spread: np.ndarray) -> Tracks:
    """A scan's tracks standardised, energetic or not, with their groups."""
    x = standardised(scan, mean, spread)
    return Tracks(x, np.array([label in HIGH for label in scan.labels]), np.array(scan.groups))


def folded(model: LogisticRegression, mean: np.ndarray, spread: np.ndarray, names: list[str]) -> dict:
    """The fit with its standardisation folded into per-tag weights, as engine/affect.py reads a fit:
    z = sum_i w_i * log(strength_i + floor) + bias."""
    weights = model.coef_[0] / spread
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * mean / spread))
    return {"tags": {name: round(float(w), 5) for name, w in zip(names, weights)}, "bias": round(bias, 5)}


def track_energy(model: LogisticRegression, features: list[np.ndarray]) -> np.ndarray:
    return np.array([np.tanh(model.decision_function(f) / 2).mean() for f in features])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write engine/energy_model.json")
    parser.add_argument(
        "--renders",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="also fit on the feel set's dev renders, together counting SHARE times as much as the real tracks",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scans = {split: scanned_tracks(split, Path(tmp)) for split in ("dev", "test")}
        render_scans = {split: rendered_tracks(split, Path(tmp)) for split in ("dev", "test")}
    mean, spread = scale_of([scans["dev"]])
    dev, test = ready(scans["dev"], mean, spread), ready(scans["test"], mean, spread)
    renders_dev, renders_test = ready(render_scans["dev"], mean, spread), ready(render_scans["test"], mean, spread)
    print(
        f"dev: {dev.high.sum()} energetic, {(~dev.high).sum()} calm or tender; test: {test.high.sum()}, "
        f"{(~test.high).sum()}; renders: {len(renders_dev.x)} dev, {len(renders_test.x)} test "
        f"({f'fitted on, counting {args.renders:g} of the real tracks' if args.renders else 'not fitted on'})"
    )
    cv = {}
    for c in CS:
        cv[c] = tuple(np.mean([cross_validated(dev, renders_dev, args.renders, c, seed) for seed in range(3)], axis=0))
        print(f"  C={c:<5} dev cross-validated AUC {cv[c][0]:.3f}, dev renders {cv[c][1]:.3f}")
    chosen = max(cv, key=lambda c: cv[c][0])
    model = fitted(dev, renders_dev, args.renders, chosen)
    held_out = auc(track_energy(model, test.x), test.high)
    held_out_renders = auc(track_energy(model, renders_test.x), renders_test.high)
    before = auc(np.array(scans["test"].stored, float), test.high)
    print(
        f"chosen C={chosen}; test AUC (track energy, energetic above calm and tender): {held_out:.3f}, "
        f"the stored energy (affect.py VERSION {affect.VERSION}) {before:.3f}; test renders {held_out_renders:.3f}"
    )
    if not args.record:
        return
    fitted_on = {"split": "dev", "tracks": len(dev.x), "C": chosen, "cross-validated AUC": round(cv[chosen][0], 3)}
    if args.renders:
        fitted_on |= {"renders": len(renders_dev.x), "renders' share": args.renders}
    out = Path(affect.__file__).with_name("energy_model.json")
    record = {
        # A new version makes every library measure its stored segments again (affect.VERSION).
        "version": json.loads(out.read_text())["version"] + 1,
        **folded(model, mean, spread, scans["dev"].tag_names),
        "fitted_on": fitted_on,
        "held_out": {
            "split": "test",
            "tracks": len(test.x),
            "AUC": round(held_out, 3),
            f"AUC of the stored energy (affect.py VERSION {affect.VERSION})": round(before, 3),
            "AUC on the feel set's test renders": round(held_out_renders, 3),
        },
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
