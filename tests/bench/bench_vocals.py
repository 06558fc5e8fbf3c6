"""Is instrumental music called sung? The calibration behind "vocals", "female vocals" and "no vocals".

A track is sung when its most sung segment's vocal score (musicnn's voice tags against its instrumental
tags, engine/library/analysis.py) reaches `filters.SUNG`. Measured on music known to have no voice:
the renders of bench_drums.py and bench_tempo.py (dev: their dev splits, where SUNG was chosen; test:
their test splits, other works and another SoundFont). With `--voice`, also on the test renders with
espeak-ng speech mixed over them, a stand-in for a voice (speech, not singing: the team has no sung
recordings it may use), to see how much of a voice the score notices.

    .venv/bin/python tests/bench/bench_vocals.py [--voice]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import paths  # noqa: E402
from engine.bundle import open_current_bundle  # noqa: E402
from engine.features import FeatureExtractor  # noqa: E402
from engine.library.analysis import vocal_score  # noqa: E402
from engine.media.audio import iter_audio  # noqa: E402
from engine.recommend.filters import SUNG  # noqa: E402

FOLDERS = {
    "dev": (Path("build/drums-dev"), Path("build/tempo-music-dev")),
    "test": (Path("build/drums-test"), Path("build/tempo-music")),
}
VOICED = Path("build/vocals-voice")
QUANTILES = (50, 90, 99, 100)
LINES = [
    "The river runs past the old mill and into the valley where the summer fair is held.",
    "We drove all night to see the sunrise over the harbour, and it was worth every mile.",
    "Nobody remembers who planted the orchard, but every autumn the whole village comes to pick.",
    "She said the letters were in the attic, under the blue coat, in a box that smelled of cedar.",
]


def vocal_peaks(paths_: list[Path], extractor: FeatureExtractor) -> dict[str, float]:
    """Per file, its most sung segment's vocal score, as the scan stores it (cached beside the files)."""
    out = {}
    for folder in sorted({p.parent for p in paths_}):
        cache_file = folder / "vocal_peaks.json"
        cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
        for path in [p for p in paths_ if p.parent == folder]:
            if path.name not in cache:
                pieces = iter_audio(path, extractor.pre.audio, chunk_samples=extractor.chunk_samples)
                music = extractor.music_chunks(pieces, {})
                names = extractor.tag_names
                cache[path.name] = max(
                    vocal_score(dict(zip(names, music.tags[s.patches].mean(axis=0).tolist()))) for s in music.segments()
                )
            out[str(path)] = cache[path.name]
        cache_file.write_text(json.dumps(cache))
    return out


def voiced(renders: list[Path], count: int) -> list[Path]:
    """`count` test renders with espeak-ng speech mixed over them, level with the music."""
    from training.bootstrap.music import decode_mono
    from training.bootstrap.render import write_opus

    if shutil.which("espeak-ng") is None:
        raise SystemExit("--voice needs espeak-ng (apt install espeak-ng)")
    VOICED.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    made = []
    for render in rng.sample(renders, count):
        out = VOICED / render.name
        if not out.is_file():
            music = decode_mono(render)
            with tempfile.TemporaryDirectory() as tmp:
                wav = Path(tmp) / "voice.wav"
                voice = rng.choice(["en+f3", "en+m3", "en+f2", "en+m1"])
                text = " ".join(rng.sample(LINES, len(LINES)))
                subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
                speech = decode_mono(wav)
            speech = np.resize(np.concatenate([speech, np.zeros(48_000)]), len(music))
            level = np.sqrt(np.mean(music**2) / (np.mean(speech**2) + 1e-12))
            mixed = music + speech * level
            write_opus(out, mixed / max(1.0, float(np.abs(mixed).max()) / 0.9) * 0.7071, 48_000)
        made.append(out)
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voice", action="store_true", help="also measure renders with speech over them")
    args = parser.parse_args()
    extractor = FeatureExtractor(open_current_bundle(paths.models_dir()))
    report: dict = {"SUNG": SUNG}
    for split, folders in FOLDERS.items():
        files = sorted(p for f in folders for p in f.glob("*.opus"))
        if not files:
            raise SystemExit(f"no renders in {folders}: run bench_drums.py and bench_tempo.py (both splits) first")
        peaks = np.array(list(vocal_peaks(files, extractor).values()))
        report[split] = {
            "instrumental files": len(files),
            "called sung": float((peaks >= SUNG).mean()),
            "vocal peak percentiles 50/90/99/max": [round(float(np.percentile(peaks, q)), 3) for q in QUANTILES],
        }
    if args.voice:
        test_files = sorted(p for f in FOLDERS["test"] for p in f.glob("*.opus"))
        peaks = np.array(list(vocal_peaks(voiced(test_files, 30), extractor).values()))
        report["test with speech over it"] = {
            "files": len(peaks),
            "called sung": float((peaks >= SUNG).mean()),
            "vocal peak percentiles 10/50/90": [round(float(np.percentile(peaks, q)), 3) for q in (10, 50, 90)],
        }
    print(json.dumps(report, indent=2))
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/vocals.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
