"""The drum detector's network in int8, for CPUs with VNNI and without bfloat16 (engine/media/sfx_embedding.py
`graph_here` chooses it).

On such a CPU the float32 network costs the scan four fifths of the analysis again
(tests/bench/bench_library.py); in int8, on a CPU with VNNI, listening runs 1.64x as fast. The graph is the float
one (export_onnx/drum_sfx.py) quantised statically by ONNX Runtime: QDQ, weights int8 per output channel,
activations uint8 with their ranges (min to max) from real music, decoded and turned into log-mel windows by
the engine's own front end. Its first block (two convolutions at full resolution) stays in float32:
quantised, its input's quiet detail is lost and q moved by up to 0.15 on dev renders, flipping "no drums
heard" and "has drums" verdicts; without it, by at most 0.027 (../data/drums/RULE-7.md).

The calibration music is two Debian packages' game soundtracks (`asc-music`, `singularity-music`: rock,
electronic, orchestral and ambient; scripts/system-deps.sh installs them), never a set the detector was
fitted or measured on. Their file names and sizes are part of the graph's recipe, so other music rebuilds it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np

from engine.bundle.manifest import AudioConfig, DrumSfxConfig
from engine.errors import BundleError
from engine.media.sfx_embedding import file_windows

CALIBRATION = {  # Debian package: the folder of its music
    "asc-music": Path("/usr/share/games/asc/music"),
    "singularity-music": Path("/usr/share/games/singularity/music"),
}
FLOAT_CONVOLUTIONS = 2  # the first block's, left unquantised
# The largest |int8 - float32| embedding accepted on the calibration music. Embeddings reach about 6 on
# music; the graph chosen differs by 0.28 there and moves q by at most 0.027 (ONNX Runtime, dev and test
# renders), where quantising its first block too differs by 0.71 and flips verdicts.
TOLERANCE = 0.4
CHECK_EVERY = 8  # windows of the calibration music compared, one in this many
BATCH = 32


def calibration_files() -> list[Path]:
    """The calibration music, in a fixed order; a clear error where a package is not installed."""
    missing = [package for package, folder in CALIBRATION.items() if not folder.is_dir()]
    if missing:
        raise BundleError(
            f"the drum network's int8 graph is calibrated on Debian's {', '.join(missing)}: install "
            "them (scripts/system-deps.sh does) and build again"
        )
    return [f for folder in CALIBRATION.values() for f in sorted(folder.rglob("*")) if f.suffix in (".ogg", ".mp3")]


def recipe() -> dict:
    """What the int8 graph is made from besides the float graph: the calibration music and the method."""
    return {
        "calibration": [[f.name, f.stat().st_size] for f in calibration_files()],
        "method": "static QDQ, MinMax, per-channel int8 weights, uint8 activations",
        "float_convolutions": FLOAT_CONVOLUTIONS,
    }


def calibration_windows(config: DrumSfxConfig, audio: AudioConfig) -> np.ndarray:
    """(W, window_frames, n_mels) log-mel windows of the calibration music, as the scan computes them."""
    decoding = msgspec.structs.replace(audio, sample_rate=config.sample_rate)
    return np.concatenate([file_windows(f, config, decoding) for f in calibration_files()])


def quantize(source: Path, out: Path, windows: np.ndarray) -> float:
    """Write the int8 graph of the float graph `source` to `out`, calibrated on `windows`; return its largest
    |int8 - float32| embedding over a sample of them, raising past TOLERANCE."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from export_onnx.onnx_io import ParityError

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = iter(np.array_split(windows, max(1, len(windows) // BATCH)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"mel": np.ascontiguousarray(batch)}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))  # folds constants, infers shapes
        convolutions = [n.name for n in onnx.load(str(prepared)).graph.node if n.op_type == "Conv"]
        quantize_static(
            str(prepared),
            str(out),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=convolutions[:FLOAT_CONVOLUTIONS],
        )
    worst = _largest_difference(source, out, windows[::CHECK_EVERY])
    if not worst <= TOLERANCE:
        raise ParityError(f"{out.name} differs from {source.name} by {worst:.3f} > {TOLERANCE} on real music")
    return worst


def _largest_difference(a: Path, b: Path, windows: np.ndarray) -> float:
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (a, b)]
    worst = 0.0
    for batch in np.array_split(windows, max(1, -(-len(windows) // BATCH))):
        x, y = (s.run(None, {"mel": np.ascontiguousarray(batch)})[0] for s in sessions)
        worst = max(worst, float(np.max(np.abs(x - y))))
    return worst
