"""ONNX Runtime sessions for the bundle's graphs.

CUDA is used when onnxruntime-gpu is installed and a GPU answers; otherwise the CPU. Which one a
session actually got is read back from the session and reported: ONNX Runtime itself falls back to the
CPU silently when CUDA fails to load, and we never want that to go unnoticed.

NEEDLEDROP_DEVICE=auto|cpu|cuda overrides the choice; `cuda` fails loudly when CUDA cannot be used.
On the CPU, a graph that allows it may run in bfloat16 through OpenVINO instead (`openvino_cpu`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from engine.bundle import openvino_cpu
from engine.cores import available_cores
from engine.errors import ExecutionProviderError

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


@dataclass(frozen=True)
class ExecutionInfo:
    """What a session runs on, for `models info`, the settings page and logs."""

    provider: str
    device: str  # "cpu" or "cuda"
    ort_package: str  # "onnxruntime" or "onnxruntime-gpu"
    ort_version: str
    intra_op_threads: int
    note: str = ""  # why a GPU was not used, when one might have been

    def describe(self) -> str:
        text = f"{self.device.upper()} ({self.provider}, {self.ort_package} {self.ort_version}, "
        text += f"{self.intra_op_threads} threads)"
        return f"{text}; {self.note}" if self.note else text


def _import_ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ExecutionProviderError(
            "onnxruntime is not installed: `pip install onnxruntime` (or, with an NVIDIA GPU, onnxruntime-gpu)"
        ) from exc
    return onnxruntime


@cache
def ort_package() -> str:
    """Which ONNX Runtime distribution is installed; both at once break each other, so refuse that."""
    installed = []
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.version(name)
            installed.append(name)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) > 1:
        raise ExecutionProviderError(
            "both onnxruntime and onnxruntime-gpu are installed; they overwrite each other's files. "
            "Uninstall both, then install exactly one: `pip uninstall -y onnxruntime onnxruntime-gpu && "
            "pip install onnxruntime-gpu` (or onnxruntime for the CPU alone)."
        )
    return installed[0] if installed else "onnxruntime"


@cache
def cuda_device_count() -> int:
    """GPUs the CUDA driver reports, asked directly so that no CUDA session is tried without one."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", ctypes.util.find_library("cuda")]
    for name in filter(None, names):
        try:
            driver = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0:
            return count.value
    return 0


def default_threads() -> int:
    return available_cores()


def _requested_device() -> str:
    device = os.environ.get("NEEDLEDROP_DEVICE", "auto").strip().lower()
    if device not in {"auto", "cpu", "cuda"}:
        raise ExecutionProviderError(f"NEEDLEDROP_DEVICE must be auto, cpu or cuda, not {device!r}")
    return device


def plan_providers() -> tuple[list[str], str]:
    """The providers to ask for, and a note explaining why CUDA is not among them when it could be."""
    ort = _import_ort()
    device = _requested_device()
    if device == "cpu":
        return [CPU], "CPU requested by NEEDLEDROP_DEVICE"
    if CUDA not in ort.get_available_providers():
        if device == "cuda":
            package = ort_package()
            fix = (
                "its CUDA libraries (CUDA, cuDNN) did not load: install the versions onnxruntime-gpu names"
                if package == "onnxruntime-gpu"
                else "replace it with onnxruntime-gpu (pip uninstall -y onnxruntime && pip install onnxruntime-gpu)"
            )
            raise ExecutionProviderError(
                f"NEEDLEDROP_DEVICE=cuda, but the installed {package} has no CUDA provider; {fix}"
            )
        return [CPU], ""
    if cuda_device_count() == 0:
        if device == "cuda":
            raise ExecutionProviderError("NEEDLEDROP_DEVICE=cuda, but the CUDA driver reports no GPU")
        return [CPU], "onnxruntime-gpu is installed but no CUDA GPU was found"
    return [CUDA, CPU], ""


def session_options(threads: int | None = None):
    """Settings for an app that shares the machine with a video editor and its own UI thread."""
    ort = _import_ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads would otherwise spin and hold a core at 100% between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def create_session(model_path: Path, *, threads: int | None = None, bf16: bool = False):
    """An InferenceSession on the best available device, plus an honest account of which one it got.

    With `bf16`, for a graph whose outputs are known to hold in bfloat16, a CPU that computes bfloat16 in
    hardware runs it through OpenVINO instead (`openvino_cpu`): a session with the same `run`.
    """
    ort = _import_ort()
    providers, note = plan_providers()
    if bf16 and providers == [CPU] and openvino_cpu.available():
        try:
            session = openvino_cpu.BF16Session(model_path, threads=threads or default_threads())
        except RuntimeError as exc:  # OpenVINO could not compile it: float32 is slower, never wrong
            note = f"OpenVINO could not compile it in bfloat16 ({exc}); float32 instead"
            log.warning("%s: %s", model_path.name, note)
        else:
            info = ExecutionInfo(
                openvino_cpu.PROVIDER, "cpu", "openvino", openvino_cpu.version(), session.threads, note
            )
            log.info("%s runs on %s", model_path.name, info.describe())
            return session, info
    options = session_options(threads)
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    got = session.get_providers()[0]
    if providers[0] == CUDA and got != CUDA:
        if _requested_device() == "cuda":
            raise ExecutionProviderError(
                f"CUDA could not be initialised for {model_path.name} (missing CUDA/cuDNN libraries?)"
            )
        note = "CUDA could not be initialised (missing CUDA/cuDNN libraries?), running on the CPU"
        log.warning("%s: %s", model_path.name, note)
    info = ExecutionInfo(
        provider=got,
        device="cuda" if got == CUDA else "cpu",
        ort_package=ort_package(),
        ort_version=ort.__version__,
        intra_op_threads=options.intra_op_num_threads,
        note=note,
    )
    log.info("%s runs on %s", model_path.name, info.describe())
    return session, info
