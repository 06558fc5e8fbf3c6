"""Ways to make the music front end faster, each measured against the float graph the scan runs now.

The scan's time goes to the musicnn backbone (one ONNX graph holding the MTT and MSD models). Each
candidate is timed per 3 s patch on one core, as a scan worker runs it, beside the float graph in the
same run, and its outputs are compared with the float graph's on held-out recordings:

- the scan's graph (streamlined: pooling first, filter banks at their rank) against the musicnn port
  exported as it is: time, and the largest difference in features and tags;

- bfloat16 through OpenVINO, where the CPU computes it (what the scan runs there): time, feature cosine,
  largest tag difference, top-5 tag agreement;
- int8, dynamic and static (QDQ, per-channel weights, calibrated on other recordings than the ones
  compared), the STFT and mel front end kept in float: time, feature cosine, top-5 tag agreement;
- one of the two musicnn models alone (the graph pruned to its outputs): what each costs;
- patch striding: every n-th 3 s patch analysed, the segment embedding made from those (the music head
  masks missing patches): the cosine with the full embedding, and how many of each segment's 10 nearest
  segments (full embeddings, other tracks) are still among its 10 nearest.

Calibration: wesnoth-1.16-music; comparison: naev-data (scripts/bench-deps.sh), none of them reserved.

    .venv/bin/python tests/bench/bench_music_frontend.py
"""

from __future__ import annotations

import glob
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from engine import paths
from engine.bundle import open_current_bundle, openvino_cpu
from engine.embedder import Embedder
from engine.features import MUSIC_FEATURES, MUSIC_TAGS, FeatureExtractor, MusicFeatures
from engine.media import dsp
from engine.media.audio import iter_audio
from export_onnx import music_backbone
from export_onnx.build import music_component
from export_onnx.onnx_io import export

CALIBRATION = "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"
HELD_OUT = "/usr/share/naev/dat/snd/music/*.ogg"
# What int8 kernels can use beyond AVX2, and what computes bfloat16, by /proc/cpuinfo flag.
CPU_FLAGS = {
    "avx_vnni": "AVX-VNNI",
    "avx512_vnni": "AVX-512 VNNI",
    "amx_int8": "AMX int8",
    "avx512_bf16": "AVX-512 BF16",
    "amx_bf16": "AMX bf16",
}
FRONT_END_OPS = {"Unsqueeze", "Pad", "Conv", "Slice", "Pow", "Add", "MatMul", "Mul", "Log", "Div", "Transpose"}


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # a scan worker's share
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run(path: str, patches: np.ndarray, *, bf16: bool = False) -> tuple[dict[str, np.ndarray], float]:
    """Outputs for every patch, one per call as the scan runs them, and milliseconds per patch."""
    s = openvino_cpu.BF16Session(Path(path), threads=1) if bf16 else session(path)
    names = [o.name for o in s.get_outputs()]
    s.run(names, {"wave": patches[:1]})
    began = time.perf_counter()
    outputs = [s.run(names, {"wave": patches[i : i + 1]}) for i in range(len(patches))]
    ms = 1000 * (time.perf_counter() - began) / len(patches)
    return {n: np.concatenate([o[k] for o in outputs]) for k, n in enumerate(names)}, ms


def patches_of(files: list[str], config, per_file: int | None = None) -> list[np.ndarray]:
    """(patches, samples) per file: consecutive 3 s patches, or `per_file` spread over the file."""
    out = []
    for f in files:
        wave = np.concatenate(list(iter_audio(f, config)))
        count = len(wave) // config.patch_samples
        take = np.arange(count) if per_file is None else np.linspace(0, count - 1, min(per_file, count)).astype(int)
        out.append(np.stack([wave[i * config.patch_samples : (i + 1) * config.patch_samples] for i in take]))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def top5(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(np.argsort(-x)[:5]) & set(np.argsort(-y)[:5])) / 5 for x, y in zip(a, b)]))


def quantised(source: str, folder: Path, calibration: np.ndarray) -> dict[str, str]:
    prepared = str(folder / "prepared.onnx")
    quant_pre_process(source, prepared, skip_symbolic_shape=True)
    graph = onnx.load(prepared)
    # The STFT, mel and log stay float: everything before the first batch norm.
    first_bn = next(i for i, n in enumerate(graph.graph.node) if n.op_type == "BatchNormalization")
    front = [n.name for n in graph.graph.node[:first_bn]]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"wave": calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.feeds, None)

    out = {"int8 dynamic": str(folder / "dynamic.onnx"), "int8 static": str(folder / "static.onnx")}
    quantize_dynamic(prepared, out["int8 dynamic"], weight_type=QuantType.QInt8, nodes_to_exclude=front)
    quantize_static(
        prepared,
        out["int8 static"],
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=front,
    )
    for model in ("mtt", "msd"):
        path = str(folder / f"{model}.onnx")
        onnx.utils.extract_model(source, path, ["wave"], [f"{model}_features", f"{model}_tags"])
        out[f"{model.upper()} alone"] = path
    return out


def faithful_graph(bundle, folder: Path) -> str:
    """The musicnn port exported as it is, without `Musicnn.streamline`."""
    audio = bundle.manifest.preprocessing.audio
    wheel = music_backbone.fetch_wheel(paths.cache_dir() / "wheels")
    module = music_backbone.load_pretrained(wheel, audio.sample_rate, audio.n_fft, audio.hop_length, audio.n_mels)
    _, example, inputs, outputs, dims, _ = music_component(bundle.manifest.preprocessing, paths.cache_dir()).make()
    path = folder / "faithful.onnx"
    export(module, example, path, input_names=inputs, output_names=outputs, dynamic_shapes=dims)
    return str(path)


def striding(bundle, config, held_out: list[np.ndarray], outputs: dict[str, np.ndarray]) -> list[str]:
    """Segment embeddings from every n-th patch against those from every patch."""
    extractor = FeatureExtractor(bundle, threads=1)
    embedder = Embedder(bundle, extractor, threads=1)
    features = np.concatenate([outputs[k] for k in MUSIC_FEATURES], axis=1)
    tags = np.concatenate([outputs[k] for k in MUSIC_TAGS], axis=1)
    edges = np.cumsum([0, *(len(p) for p in held_out)])
    full, strided, owner = [], {2: [], 4: []}, []
    for t, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        wave = held_out[t].reshape(-1)
        music = MusicFeatures(features[a:b], tags[a:b], dsp.analyse(wave, config.sample_rate), config)
        segments = music.segments()
        full.append(embedder.embed_segments(music, segments))
        owner += [t] * len(segments)
        for n in strided:
            kept = [s.__class__(s.start, s.end, slice(s.patches.start, s.patches.stop, n)) for s in segments]
            strided[n].append(embedder.embed_segments(music, kept))
    full, owner = np.concatenate(full), np.array(owner)
    lines = []
    for n, parts in strided.items():
        vectors = np.concatenate(parts)
        agree = []
        for i in range(len(full)):
            others = owner != owner[i]
            truth = set(np.flatnonzero(others)[np.argsort(-(full[others] @ full[i]))[:10]])
            found = set(np.flatnonzero(others)[np.argsort(-(vectors[others] @ vectors[i]))[:10]])
            agree.append(len(truth & found) / 10)
        c = cosine(full, vectors)
        lines.append(
            f"  1 patch in {n}: backbone {100 / n:.0f} % of the time; segment embedding cosine median "
            f"{np.median(c):.3f} (5th percentile {np.percentile(c, 5):.3f}); 10-nearest overlap {np.mean(agree):.2f}"
        )
    return lines


def cpu_instructions() -> str:
    """The CPU's integer dot-product and bfloat16 instructions, on which int8 and bfloat16 speed depend (read
    from Linux's cpuinfo)."""
    try:
        flags = next(
            set(line.partition(":")[2].split())
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return "CPU features unknown"
    found = [name for flag, name in CPU_FLAGS.items() if flag in flags]
    return f"CPU: {', '.join(found) if found else 'no VNNI, AMX or BF16'}"


def main() -> None:
    calibration_files = sorted(glob.glob(CALIBRATION))[:16]
    held_out_files = sorted(glob.glob(HELD_OUT))[:16]
    if not calibration_files or not held_out_files:
        sys.exit("install wesnoth-1.16-music and naev-data (scripts/bench-deps.sh)")
    bundle = open_current_bundle(paths.models_dir())
    config = bundle.manifest.preprocessing.audio
    source = str(bundle.graph_path("music_backbone"))
    calibration = np.concatenate(patches_of(calibration_files, config, per_file=8)).astype(np.float32)
    held_out = patches_of(held_out_files, config)
    compared = np.concatenate([p[:: max(1, len(p) // 6)][:6] for p in held_out]).astype(np.float32)
    print(f"{len(compared)} held-out patches from {len(held_out_files)} recordings; one core; {cpu_instructions()}")
    reference, float_ms = run(source, compared)
    print(f"  float (the scan's graph): {float_ms:.1f} ms per patch, {3000 / float_ms:.0f}x real time")
    if openvino_cpu.available():
        fast, ms = run(source, compared, bf16=True)
        line = f"  bfloat16 (OpenVINO, the scan's choice here): {ms:.1f} ms per patch ({float_ms / ms:.2f}x)"
        for model in ("mtt", "msd"):
            c = cosine(reference[f"{model}_features"], fast[f"{model}_features"])
            gap = np.abs(reference[f"{model}_tags"] - fast[f"{model}_tags"]).max()
            agreement = top5(reference[f"{model}_tags"], fast[f"{model}_tags"])
            line += f"; {model.upper()} feature cosine min {c.min():.4f}, tags within {gap:.3f}, top-5 {agreement:.2f}"
        print(line)
    else:
        print("  bfloat16: this CPU does not compute it (no AMX or AVX-512 BF16); the scan runs float32")
    with tempfile.TemporaryDirectory() as tmp:
        port, port_ms = run(faithful_graph(bundle, Path(tmp)), compared)
        worst = {
            kind: max(np.abs(port[k] - reference[k]).max() for k in port if k.endswith(kind))
            for kind in ("features", "tags")
        }
        print(
            f"  the musicnn port as it is: {port_ms:.1f} ms per patch; the scan's streamlined graph runs "
            f"{port_ms / float_ms:.2f}x its speed, features within {worst['features']:.1e}, "
            f"tags within {worst['tags']:.1e}"
        )
        for name, path in quantised(source, Path(tmp), calibration).items():
            out, ms = run(path, compared)
            line = f"  {name}: {ms:.1f} ms per patch ({float_ms / ms:.2f}x the float graph's speed)"
            for model in ("mtt", "msd"):
                if f"{model}_features" in out:
                    c = cosine(reference[f"{model}_features"], out[f"{model}_features"])
                    agreement = top5(reference[f"{model}_tags"], out[f"{model}_tags"])
                    line += f"; {model.upper()} feature cosine median {np.median(c):.4f}, top-5 tags {agreement:.2f}"
            print(line)
    everything = np.concatenate(held_out).astype(np.float32)
    outputs, _ = run(source, everything)
    print(f"patch striding, {len(held_out_files)} recordings, {len(everything)} patches:")
    for line in striding(bundle, config, held_out, outputs):
        print(line)


if __name__ == "__main__":
    main()
