"""What the drum detector's sound-effects embedding costs a track, and how far bfloat16 and int8 move its q.

Per file: decoding at 44.1 kHz (engine.media.audio, the scan's downmix), the numpy mel
(engine.media.sfx_embedding) and the drum network: the float graph in ONNX Runtime float32, the int8 graph
(drum_sfx_int8, what CPUs without bfloat16 run) and, where the CPU computes bfloat16, the float graph in
OpenVINO bfloat16 (engine.bundle.openvino_cpu, as the scan runs musicnn); then q
(instruments.sfx_drum_probability) each way on a folder's files with the shipped detector's inputs
recorded beside them (inputs.json, tests/bench/bench_drums.py `measured`). No label is read.

    .venv/bin/python tests/bench/bench_drum_sfx.py --time FILE [FILE...] --folder DIR --count 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_library import float32_backbone  # noqa: E402

from engine import instruments, paths  # noqa: E402
from engine.bundle import open_current_bundle, openvino_cpu  # noqa: E402
from engine.media import sfx_embedding  # noqa: E402
from engine.media.audio import iter_audio  # noqa: E402
from engine.tags import TagIndex  # noqa: E402


def timed(embedder: sfx_embedding.SfxEmbedder, path: Path) -> tuple[np.ndarray, dict[str, float]]:
    times = {"decode": 0.0, "mel": 0.0}
    frames = sfx_embedding.MelFrames(embedder.config)
    pieces = iter_audio(path, embedder.decoding, chunk_samples=embedder.config.sample_rate * 10)
    while True:
        start = time.perf_counter()
        piece = next(pieces, None)
        times["decode"] += time.perf_counter() - start
        if piece is None:
            break
        start = time.perf_counter()
        frames.push(piece)
        times["mel"] += time.perf_counter() - start
    start = time.perf_counter()
    mel = frames.finish()
    windows = sfx_embedding.mel_windows(mel, embedder.config)
    times["mel"] += time.perf_counter() - start
    start = time.perf_counter()
    out = embedder.run(np.ascontiguousarray(windows, np.float32))
    times["graph"] = time.perf_counter() - start
    times["seconds of audio"] = len(mel) * embedder.config.hop_length / embedder.config.sample_rate
    return out, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=Path, nargs="*", default=[], help="files to time (3 runs each)")
    parser.add_argument("--folder", type=Path, help="files with inputs.json, for q in float32 and bfloat16")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    bundle = open_current_bundle(paths.models_dir())
    ways = {"float32": sfx_embedding.SfxEmbedder(bundle)}
    with float32_backbone():  # as a CPU without bfloat16 runs the drum network in the scan
        listener = sfx_embedding.SfxEmbedder(bundle, reduced=True)
    if listener.graph == sfx_embedding.INT8_ROLE:  # the bundle has it, and the CPU VNNI
        ways["int8"] = listener
    if openvino_cpu.available():
        ways["bfloat16"] = sfx_embedding.SfxEmbedder(bundle, reduced=True)
    for name, e in ways.items():
        print(f"{name}: {e.execution.describe()}, {e.graph}")
    for path in args.time:
        for name, e in ways.items():
            runs = [timed(e, path)[1] for _ in range(3)]
            best = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
            total = best["decode"] + best["mel"] + best["graph"]
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in best.items() if k != "seconds of audio")
            print(f"{path.name} ({best['seconds of audio']:.0f} s) {name}: {parts}; {total:.2f} s in all", flush=True)
    if args.folder:
        inputs = json.loads((args.folder / "inputs.json").read_text())
        tags = TagIndex(bundle.tag_labels)
        names = sorted(inputs)[:: max(1, len(inputs) // args.count)][: args.count]
        reduced = [way for way in ways if way != "float32"]
        moves, flips = {way: [] for way in reduced}, dict.fromkeys(reduced, 0)
        for n in names:
            q = {}
            for way, e in ways.items():
                pooled = sfx_embedding.pooled(e.embed_file(args.folder / n), instruments.SFX_SEGMENT)
                peaks = np.asarray(inputs[n]["peaks"], np.float32)
                q[way] = float(instruments.sfx_drum_probability(pooled, inputs[n]["hits"], peaks, tags))
            for way in reduced:
                moves[way].append(abs(q["float32"] - q[way]))
                flips[way] += bool(instruments.no_drums_heard(q["float32"])) != bool(instruments.no_drums_heard(q[way]))
            print(f"{n}: q " + ", ".join(f"{v:.4f} {way}" for way, v in q.items()), flush=True)
        for way in reduced:
            print(
                f"{len(names)} files: |q float32 - q {way}| median {np.median(moves[way]):.4f}, "
                f"max {max(moves[way]):.4f}; 'no drums heard' changes on {flips[way]}"
            )


if __name__ == "__main__":
    main()
