"""Can a learned chooser pick the beat among the tempogram's peaks? An experiment, not what the scan runs.

The scan's tempo (engine/media/dsp.py `tempo`) is the peak of the onsets' tempogram under a log-normal prior
over tempo. On bench_tempo.py's sets the right tempo is nearly always one of the tempogram's peaks; the
prior picks the wrong one for slow legato music (read at the double) and for fast straight-eighth music
(read at the dotted quarter). This asks whether what the scan measures *around* each peak says which peak
is the notated beat, once the style cannot tell: relational cues only, each taken at the peak's period
(its salience and that at 1/3, 1/2, 2/3, 3/2, 2, 3 and 4 times the period, the onsets per beat, the
periodicity of the percussive hits, of the loudness's rises, of harmonic change in the whole range and in
the bass at the period and at 2 and 4 times it, and how much more onset falls on a grid of the period than
between its beats).

Training renders: the works the default model trained on (so none of bench_tempo's dev, test or OpenMSX
pieces), each arranged in a random bootstrap style at a tempo drawn log-uniformly from 45-180 quarter notes
a minute, independent of the style, and rendered with FluidR3 and sf_GMbank in turn (bench_tempo renders
with TimGM6mb). A logistic regression of the relational cues (C chosen on bench_tempo's dev split) then
scores each peak. Reported on every set: the shipped rule recomputed over the peaks, the chooser alone,
and the shipped rule plus the chooser's score at the weight the dev split likes best.

    .venv/bin/python tests/bench/tempo_chooser.py [--renders 450]
    (bench_tempo.py --split dev / test / openmsx render their sets first)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_tempo import OPENMSX, SPLITS, render_midi_folder, verdict  # noqa: E402
from eval_quality import TRAINING_DRAW  # noqa: E402

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.media import dsp  # noqa: E402

FOLDER = Path("build/tempo-chooser")
FONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/sf_GMbank.sf2")
TEMPI = (45.0, 180.0)
PEAKS = 8  # the tempogram's strongest peaks in the scan's range are the candidates
PRIOR_BPM, PRIOR_OCTAVES = dsp._TEMPO_PRIOR_BPM, dsp._TEMPO_PRIOR_OCTAVES


def render_training(count: int) -> dict[str, float]:
    """The training renders (reused when there) and their tempi, in `tempo.json` beside them."""
    from music21 import corpus

    from training.bootstrap.music import STYLES, _works, arrange, render

    truth_file = FOLDER / "tempo.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else {}
    FOLDER.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for i, (path, _) in enumerate(_works(random.Random(0), TRAINING_DRAW)):
        style = rng.choice(sorted(STYLES))
        bpm = math.exp(rng.uniform(*map(math.log, TEMPI)))
        name = f"{Path(path).stem}-{i}.opus"
        if len(truth) >= count or name in truth:
            continue
        try:
            score = corpus.parse(path)
            if hasattr(score, "scores"):
                score = score.scores[rng.randrange(len(score.scores))]
            midi, bpm, _ = arrange(score, dataclasses.replace(STYLES[style], tempo=(bpm, bpm)), rng)
            if midi.length < 20:
                continue
            render(midi, FONTS[i % len(FONTS)], FOLDER / name)
        except Exception as exc:  # noqa: BLE001 - a corpus file music21 cannot read is skipped
            print(f"skipping {path}: {exc}", file=sys.stderr)
            continue
        truth[name] = bpm
        truth_file.write_text(json.dumps(truth, indent=1))
    return truth


def evaluation_sets() -> dict[str, tuple[Path, dict[str, float]]]:
    """bench_tempo.py's three sets, as it rendered them (OpenMSX's rendered here if it has not)."""
    sets = {}
    for split, (folder, _) in SPLITS.items():
        if not (folder / "tempo.json").is_file():
            sys.exit(f"run tests/bench/bench_tempo.py --split {split} first")
        sets[split] = (folder, json.loads((folder / "tempo.json").read_text()))
    sets["openmsx"] = (OPENMSX[1], render_midi_folder(*OPENMSX))
    return sets


def _at(curve: np.ndarray, lag: float) -> float:
    i = int(lag)
    return float(curve[i] + (lag - i) * (curve[i + 1] - curve[i])) if 0 <= i < len(curve) - 1 else 0.0


def _periodicity(x: np.ndarray, fps: float) -> np.ndarray:
    """The tempogram of `x`, scaled to a peak of 1 (zeros for a constant)."""
    if np.ptp(x) <= 0:
        return np.zeros(len(x))
    curve = np.maximum(dsp._tempogram(np.asarray(x, np.float64), fps), 0)
    return curve / (curve[1:].max() + 1e-12)


def _rises(frames: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.maximum(np.diff(frames, axis=0), 0).reshape(len(frames) - 1, -1).sum(axis=1)])


def _on_grid(envelope: np.ndarray, lag: float) -> tuple[float, float]:
    """Onset strength on the best-placed grid of period `lag` over its mean, and between that grid's beats
    over on them."""
    best, between = 0.0, 0.0
    for phase in np.arange(0, lag, max(1.0, lag / 16)):
        on = envelope[np.round(np.arange(phase, len(envelope) - 1, lag)).astype(int)].mean()
        if on > best:
            off = np.round(np.arange(phase + lag / 2, len(envelope) - 1, lag)).astype(int)
            best, between = on, envelope[off].mean() if len(off) else 0.0
    return best / (envelope.mean() + 1e-12), between / (best + 1e-12)


def peaks(a: dsp.TrackAnalysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates: (bpm, the shipped rule's log score, relational cues) of the tempogram's strongest peaks."""
    fps, envelope = a.fps, np.asarray(a.envelope, np.float64)
    salience = np.maximum(dsp._tempogram(envelope, fps), 0)
    lo, hi = max(1, int(fps * 60 / dsp._TEMPO_RANGE[1])), min(len(salience) - 2, int(fps * 60 / dsp._TEMPO_RANGE[0]))
    lags = [k for k in range(lo, hi + 1) if salience[k] > 0 and salience[k] >= max(salience[k - 1], salience[k + 1])]
    lags = sorted(lags, key=lambda k: -salience[k])[:PEAKS]
    top = max((salience[k] for k in lags), default=1.0)
    hits = _periodicity(a.hits, fps)
    loudness = _periodicity(_rises(np.log(np.asarray(a.power) + 1e-10)), fps)
    harmony, bass = _periodicity(_rises(a.chroma), a.chroma_fps), _periodicity(_rises(a.bass), a.chroma_fps)
    rate = max(dsp.onset_rate(envelope, fps), 0.05)
    bpms, prior, cues = [], [], []
    for k in lags:
        a0, b0, c0 = salience[k - 1], salience[k], salience[k + 1]
        curvature = a0 - 2 * b0 + c0
        lag = k + (float(np.clip(0.5 * (a0 - c0) / curvature, -0.5, 0.5)) if curvature else 0.0)
        bpm = 60 * fps / lag
        chroma_lag = lag * a.chroma_fps / fps
        bpms.append(bpm)
        prior.append(math.log(salience[k] / top + 1e-9) - 0.5 * (math.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
        cues.append(
            [salience[k] / top]
            + [_at(salience, m * lag) / top for m in (1 / 3, 1 / 2, 2 / 3, 3 / 2, 2, 3, 4)]
            + [math.log2(rate * 60 / bpm), _at(hits, lag), _at(hits, 2 * lag), _at(loudness, lag)]
            + [_at(curve, m * chroma_lag) for curve in (harmony, bass) for m in (1, 2, 4)]
            + list(_on_grid(envelope, lag))
        )
    return np.array(bpms), np.array(prior), np.array(cues)


@dataclasses.dataclass
class Candidates:
    """Every track's peaks, stacked; `track` says whose, `right` whether within 4 % of the truth. `tracks`
    counts the tracks, also those with no peak at all (a drone), which no rule gets right."""

    tracks: int
    bpm: np.ndarray
    prior: np.ndarray
    cues: np.ndarray
    track: np.ndarray
    right: np.ndarray

    def chosen_right(self, score: np.ndarray) -> int:
        """How many tracks get their tempo right when each takes its best-scored peak."""
        return int(sum(self.right[self.track == t][np.argmax(score[self.track == t])] for t in np.unique(self.track)))

    @property
    def reachable(self) -> int:
        return int(sum(self.right[self.track == t].any() for t in np.unique(self.track)))


def candidates(folder: Path, truth: dict[str, float], extractor: FeatureExtractor) -> Candidates:
    rows = []
    for t, (name, true_bpm) in enumerate(sorted(truth.items())):
        bpm, prior, cues = peaks(extractor.analysis(folder / name))
        if not len(bpm):
            continue
        rows.append((bpm, prior, cues, np.full(len(bpm), t), [verdict(b, true_bpm) == "right" for b in bpm]))
    return Candidates(len(truth), *(np.concatenate([np.asarray(r[i]) for r in rows]) for i in range(5)))


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=450)
    args = parser.parse_args()
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    train = candidates(FOLDER, render_training(args.renders), extractor)
    sets = {split: candidates(folder, truth, extractor) for split, (folder, truth) in evaluation_sets().items()}
    sets["training"] = train
    dev = sets["dev"]

    def fitted(c: float):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced"))
        return model.fit(train.cues, train.right)

    c = max((0.01, 0.1, 1.0), key=lambda c: dev.chosen_right(fitted(c).decision_function(dev.cues)))
    model = fitted(c)
    learned = {split: model.decision_function(s.cues) for split, s in sets.items()}
    weight = max((0.1, 0.2, 0.3, 0.5, 1.0), key=lambda w: dev.chosen_right(dev.prior + w * learned["dev"]))
    print(f"training renders: {train.tracks}; relational cues' C {c}, weight {weight} (both on dev)")
    print(f"{'set':<10} {'tracks':>6} {'a peak right':>12} {'shipped rule':>12} {'chooser':>8} {'rule + chooser':>14}")
    for split, s in sets.items():
        tracks = s.tracks
        rule, alone = s.chosen_right(s.prior), s.chosen_right(learned[split])
        both = s.chosen_right(s.prior + weight * learned[split])
        print(f"{split:<10} {tracks:>6} {s.reachable:>12} {rule:>12} {alone:>8} {both:>14}")


if __name__ == "__main__":
    main()
