"""A graph run in bfloat16 by OpenVINO, on a CPU that computes bfloat16 in hardware.

The musicnn backbone is most of a scan's time, and its cost is its convolutions. On CPUs with AMX or
AVX-512 BF16, OpenVINO runs them in bfloat16 at 2.5-2.6 times ONNX Runtime's float32 speed, with features
at a cosine of at least 0.999 to the float graph's and tags within 0.02 (`tests/bench/bench_music_frontend.py`
measures both on held-out recordings). Elsewhere bfloat16 would be emulated, slower than float32, so this
is used only where OpenVINO reports the CPU computes it (`BF16` among its optimisation capabilities).

The session offers the part of ONNX Runtime's `InferenceSession` the backbones call (`run`,
`get_inputs`, `get_outputs`), so the code around it does not know which runtime it has.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PROVIDER = "OpenVINO CPU, bfloat16"


@dataclass(frozen=True)
class _Tensor:
    name: str  # what `get_inputs()`/`get_outputs()` items carry in ONNX Runtime, and all we read of them


def _import_runtime():
    """OpenVINO's runtime without its model converter, or None when it is not installed.

    `import openvino` also imports the converter (`openvino.tools.ovc`), whose telemetry sends a usage event
    to Google Analytics from a forked process unless the user has opted out. Needledrop never sends
    anything anywhere, and only needs the runtime: a None in `sys.modules` makes that optional import fail
    the way openvino expects when the converter is missing.
    """
    converter = "openvino.tools.ovc"
    blocked = converter not in sys.modules
    if blocked:
        sys.modules[converter] = None
    try:
        import openvino
    except ImportError:
        return None
    finally:
        if blocked and sys.modules.get(converter, 0) is None:
            del sys.modules[converter]
    return openvino


@cache
def _core():
    """OpenVINO's core, when it is installed and the CPU computes bfloat16; else None."""
    if os.environ.get("NEEDLEDROP_BF16", "auto").strip().lower() in {"0", "off", "no", "false"}:
        return None
    openvino = _import_runtime()
    if openvino is None:
        return None
    core = openvino.Core()
    try:
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError as exc:  # no CPU plugin: a broken install is no reason to fail a scan
        log.warning("OpenVINO has no usable CPU plugin (%s); the float32 graphs run instead", exc)
        return None
    return core if "BF16" in capabilities else None


def available() -> bool:
    """Whether graphs that allow it run in bfloat16 here (NEEDLEDROP_BF16=0 turns it off)."""
    return _core() is not None


def version() -> str:
    return _import_runtime().get_version().split("-")[0]


class BF16Session:
    """One compiled graph and its inference request, called one batch at a time like an ONNX session."""

    def __init__(self, model_path: Path, *, threads: int):
        core = _core()
        if core is None:
            raise RuntimeError("bfloat16 is not available on this machine (see openvino_cpu.available)")
        self.threads = threads
        self.compiled = core.compile_model(
            str(model_path),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": "bf16",
                "INFERENCE_NUM_THREADS": threads,
                "NUM_STREAMS": 1,
                # Without it OpenVINO schedules for throughput: 38 ms a patch instead of 9.
                "PERFORMANCE_HINT": "LATENCY",
                # Pinned, two scan workers' threads land on the same core and each runs at half speed.
                "ENABLE_CPU_PINNING": False,
            },
        )
        self.request = self.compiled.create_infer_request()
        self._inputs = [_Tensor(port.get_any_name()) for port in self.compiled.inputs]
        self._outputs = [_Tensor(port.get_any_name()) for port in self.compiled.outputs]

    def get_inputs(self) -> list[_Tensor]:
        return self._inputs

    def get_outputs(self) -> list[_Tensor]:
        return self._outputs

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(feeds)
        names = output_names or [t.name for t in self._outputs]
        # The request reuses its output buffers on the next call: hand out copies.
        return [np.array(results[self.compiled.output(name)], copy=True) for name in names]
