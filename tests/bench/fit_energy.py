"""Fit the music's energy (engine/energy_model.json) on real recordings labelled by their own titles.

The energy of a segment is a logistic fit of the log of musicnn's tag strengths (every canonical tag the
scan stores per segment), made on the *dev* split of tests/bench/real_set.py: energetic tracks (battle,
combat, frantic, boss) against calm and tender ones (peace, sanctuary, love theme). Each segment carries
its track's label, weighted so that every track counts once. The regularisation is chosen by 5-fold
cross-validation over the dev tracks (three shuffles); the fit is then made on all of dev, and `--record`
writes it with the held-out figure: how well the tracks' mean energy orders the *test* split's energetic
tracks above its calm and tender ones (AUC), beside the energy it replaces (hand-chosen tags and
brightness, affect.py VERSION 5, while the scan still stores it), measured in the same run.

    .venv/bin/python tests/bench/fit_energy.py [--record]      (scripts/bench-deps.sh installs the set)
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

HIGH, LOW = {"energetic"}, {"calm", "tender"}
CS = (0.01, 0.03, 0.1, 0.3, 1.0)


def scanned_tracks(split: str, tmp: Path) -> tuple[list[str], list[np.ndarray], list[float], list[str]]:
    """Per energy-labelled track: its label, its segments' tag strengths and its stored energy; and the tag
    names of the strengths' columns."""
    folder = materialise("mood", split, tmp / split)
    engine = Engine(tmp / f"data-{split}")
    engine.add_root(folder)
    engine.scan()
    connection = engine._library.catalog._connection()  # a bench may look at what the scan stored
    labels, segments, stored = [], [], []
    for track_id, path, energy in connection.execute("SELECT id, path, energy FROM tracks"):
        label = Path(path.decode() if isinstance(path, bytes) else path).parent.name
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


def fit(features: list[np.ndarray], high: np.ndarray, c: float) -> LogisticRegression:
    x = np.vstack(features)
    y = np.concatenate([np.full(len(f), h) for f, h in zip(features, high)])
    weights = np.concatenate([np.full(len(f), 1.0 / len(f)) for f in features])
    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=weights)


def track_energy(model: LogisticRegression, features: list[np.ndarray]) -> np.ndarray:
    return np.array([np.tanh(model.decision_function(f) / 2).mean() for f in features])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write engine/energy_model.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dev_labels, dev_strengths, _, names = scanned_tracks("dev", Path(tmp))
        test_labels, test_strengths, test_stored, _ = scanned_tracks("test", Path(tmp))
    scale = np.log(np.vstack(dev_strengths) + affect.TAG_FLOOR)
    mean, spread = scale.mean(0), scale.std(0) + 1e-6

    def standard(strengths: list[np.ndarray]) -> list[np.ndarray]:
        return [(np.log(s + affect.TAG_FLOOR) - mean) / spread for s in strengths]

    dev_x, test_x = standard(dev_strengths), standard(test_strengths)
    dev_high = np.array([label in HIGH for label in dev_labels])
    test_high = np.array([label in HIGH for label in test_labels])
    print(
        f"dev: {dev_high.sum()} energetic, {(~dev_high).sum()} calm or tender; test: {test_high.sum()}, "
        f"{(~test_high).sum()}"
    )
    cv = {}
    for c in CS:
        runs = []
        for seed in range(3):
            scores = np.zeros(len(dev_x))
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(dev_x)), dev_high)
            for train, held in folds:
                model = fit([dev_x[i] for i in train], dev_high[train], c)
                scores[held] = track_energy(model, [dev_x[i] for i in held])
            runs.append(auc(scores, dev_high))
        cv[c] = float(np.mean(runs))
        print(f"  C={c:<5} dev cross-validated AUC {cv[c]:.3f}")
    c = max(cv, key=cv.get)
    model = fit(dev_x, dev_high, c)
    held_out = auc(track_energy(model, test_x), test_high)
    before = auc(np.array(test_stored, float), test_high)
    print(
        f"chosen C={c}; test AUC (track energy, energetic above calm and tender): {held_out:.3f}, "
        f"the stored energy (affect.py VERSION {affect.VERSION}) {before:.3f}"
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
        "fitted_on": {"split": "dev", "tracks": len(dev_x), "C": c, "cross-validated AUC": round(cv[c], 3)},
        "held_out": {
            "split": "test",
            "tracks": len(test_x),
            "AUC": round(held_out, 3),
            f"AUC of the stored energy (affect.py VERSION {affect.VERSION})": round(before, 3),
        },
    }
    out = Path(affect.__file__).with_name("energy_model.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
