"""Fit the music's energy (engine/energy_model.json) on real recordings labelled by their own titles.

The energy of a segment is a logistic fit of the log of musicnn's tag strengths (every canonical tag the
scan stores per segment), made on the *dev* split of tests/bench/real_set.py: energetic tracks (battle,
combat, frantic, boss) against calm and tender ones (peace, sanctuary, love theme). Each segment carries
its track's label, weighted so that every track counts once. The regularisation is chosen by 5-fold
cross-validation over the dev tracks (three shuffles); the fit is then made on all of dev, and `--record`
writes it with the held-out figure: how well the tracks' mean energy orders the *test* split's energetic
tracks above its calm and tender ones (AUC), beside the energy it replaces (hand-chosen tags and
brightness, affect.py VERSION 5, while the scan still stores it), measured in the same run.

`--renders SHARE` also fits on the dev renders of the feel set (training/bootstrap/feel_set.py: each piece
made calm and energetic), together weighing SHARE of the real tracks, and reports how the fit orders the
dev renders (cross-validated) and the test renders. The shipped fit is of real recordings alone (README).

    .venv/bin/python tests/bench/fit_energy.py [--record] [--renders 0.1]      (scripts/bench-deps.sh)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

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


def scanned_tracks(split: str, tmp: Path) -> tuple[list[str], list[np.ndarray], list[float], list[str]]:
    """Per energy-labelled track: its label, its segments' tag strengths and its stored energy; and the tag
    names of the strengths' columns."""
    folder = materialise("mood", split, tmp / split)
    return _scanned(folder, tmp / f"data-{split}", lambda path: path.parent.name)


def rendered_tracks(split: str, tmp: Path) -> tuple[list[str], list[np.ndarray], list[float], list[str]]:
    """The same for the feel set's renders of a split (training/bootstrap/feel_set.py), each labelled
    energetic or calm by how it was made."""
    feel = render_feel_set(Path(f"build/feel-{split}"), split)
    by_name = {name: "energetic" if label["energy"] == "high" else "calm" for name, label in feel.items()}
    return _scanned(Path(f"build/feel-{split}"), tmp / f"renders-{split}", lambda path: by_name.get(path.name))


def _scanned(folder: Path, data: Path, label_of) -> tuple[list[str], list[np.ndarray], list[float], list[str]]:
    engine = Engine(data)
    engine.add_root(folder)
    engine.scan()
    connection = engine._library.catalog._connection()  # a bench may look at what the scan stored
    labels, segments, stored = [], [], []
    for track_id, path, energy in connection.execute("SELECT id, path, energy FROM tracks"):
        label = label_of(Path(path.decode() if isinstance(path, bytes) else path))
        if label not in HIGH | LOW:
            continue
        rows = connection.execute("SELECT tags FROM segments WHERE track_id = ? ORDER BY start", (track_id,))
        labels.append(label)
        segments.append(np.stack([probabilities_of_bytes(tags) for (tags,) in rows]))
        stored.append(energy)
    tags = TagIndex(engine.recommender.embedder.extractor.tag_names)
    engine.close()
    return labels, [tags.strengths(s) for s in segments], stored, tags.names


def auc(scores: np.ndarray, high: np.ndarray) -> float:
    pos, neg = scores[high], scores[~high]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def fit(features: list[np.ndarray], high: np.ndarray, c: float, weights: list[float] | None = None):
    """Every track counts as its weight (1 by default), however many segments it has."""
    weights = [1.0] * len(features) if weights is None else weights
    x = np.vstack(features)
    y = np.concatenate([np.full(len(f), h) for f, h in zip(features, high)])
    w = np.concatenate([np.full(len(f), weight / len(f)) for f, weight in zip(features, weights)])
    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=w)


def track_energy(model: LogisticRegression, features: list[np.ndarray]) -> np.ndarray:
    return np.array([np.tanh(model.decision_function(f) / 2).mean() for f in features])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write engine/energy_model.json")
    parser.add_argument(
        "--renders",
        type=float,
        default=0.0,
        help="also fit on the feel set's dev renders, together weighing this share of the real dev tracks",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dev_labels, dev_strengths, _, names = scanned_tracks("dev", Path(tmp))
        test_labels, test_strengths, test_stored, _ = scanned_tracks("test", Path(tmp))
        renders = {split: rendered_tracks(split, Path(tmp)) for split in ("dev", "test")}
    scale = np.log(np.vstack(dev_strengths) + affect.TAG_FLOOR)
    mean, spread = scale.mean(0), scale.std(0) + 1e-6

    def standard(strengths: list[np.ndarray]) -> list[np.ndarray]:
        return [(np.log(s + affect.TAG_FLOOR) - mean) / spread for s in strengths]

    dev_x, test_x = standard(dev_strengths), standard(test_strengths)
    dev_high = np.array([label in HIGH for label in dev_labels])
    test_high = np.array([label in HIGH for label in test_labels])
    render_x = {split: standard(r[1]) for split, r in renders.items()}
    render_high = {split: np.array([label in HIGH for label in r[0]]) for split, r in renders.items()}
    print(
        f"dev: {dev_high.sum()} energetic, {(~dev_high).sum()} calm or tender; test: {test_high.sum()}, "
        f"{(~test_high).sum()}; renders {len(render_x['dev'])} dev, {len(render_x['test'])} test "
        f"(weighing {args.renders:g} of the real dev tracks)"
    )

    def fitted(real: list[int], rendered: list[int], c: float) -> LogisticRegression:
        features = [dev_x[i] for i in real]
        high = list(dev_high[real])
        weights = [1.0] * len(real)
        if args.renders:
            features += [render_x["dev"][i] for i in rendered]
            high += list(render_high["dev"][rendered])
            # The renders together weigh `--renders` times the real tracks of the fit.
            weights += [args.renders * len(real) / len(rendered)] * len(rendered)
        return fit(features, np.array(high), c, weights)

    cv = {}
    for c in CS:
        runs = []
        for seed in range(3):
            real_scores, render_scores = np.zeros(len(dev_x)), np.zeros(len(render_x["dev"]))
            folds = zip(
                StratifiedKFold(5, shuffle=True, random_state=seed).split(dev_x, dev_high),
                StratifiedKFold(5, shuffle=True, random_state=seed).split(render_x["dev"], render_high["dev"]),
            )
            for (train, held), (render_train, render_held) in folds:
                model = fitted(list(train), list(render_train), c)
                real_scores[held] = track_energy(model, [dev_x[i] for i in held])
                render_scores[render_held] = track_energy(model, [render_x["dev"][i] for i in render_held])
            runs.append((auc(real_scores, dev_high), auc(render_scores, render_high["dev"])))
        cv[c] = tuple(np.mean(runs, axis=0))
        print(f"  C={c:<5} dev cross-validated AUC {cv[c][0]:.3f}, dev renders {cv[c][1]:.3f}")
    c = max(cv, key=lambda c: cv[c][0])
    model = fitted(list(range(len(dev_x))), list(range(len(render_x["dev"]))), c)
    held_out = auc(track_energy(model, test_x), test_high)
    rendered = auc(track_energy(model, render_x["test"]), render_high["test"])
    before = auc(np.array(test_stored, float), test_high)
    print(
        f"chosen C={c}; test AUC (track energy, energetic above calm and tender): {held_out:.3f}, "
        f"the stored energy (affect.py VERSION {affect.VERSION}) {before:.3f}; test renders {rendered:.3f}"
    )
    if not args.record:
        return
    # The standardisation folded into the weights: z = sum_i w_i * log(strength_i + floor) + bias.
    weights = model.coef_[0] / spread
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * mean / spread))
    record = {
        "version": 1,
        "tags": {name: round(float(w), 5) for name, w in zip(names, weights)},
        "bias": round(bias, 5),
        "fitted_on": {
            "split": "dev",
            "tracks": len(dev_x),
            "C": c,
            "cross-validated AUC": round(cv[c][0], 3),
            **({"renders": len(render_x["dev"]), "renders' share": args.renders} if args.renders else {}),
        },
        "held_out": {
            "split": "test",
            "tracks": len(test_x),
            "AUC": round(held_out, 3),
            f"AUC of the stored energy (affect.py VERSION {affect.VERSION})": round(before, 3),
            "AUC on the feel set's test renders": round(rendered, 3),
        },
    }
    out = Path(affect.__file__).with_name("energy_model.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
