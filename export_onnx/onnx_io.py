"""Exporting modules to ONNX and proving the export matches PyTorch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from engine.bundle.manifest import TensorSpec

log = logging.getLogger(__name__)

OPSET = 18
_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.BOOL: "bool",
}


class ParityError(RuntimeError):
    """An exported graph disagrees with the PyTorch module it came from."""


def export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: Sequence[Mapping[int, torch.export.Dim]],
) -> None:
    """torch.onnx.export through torch.export (dynamo), as one self-contained file."""
    module.eval()
    # The exporter reports progress with print() and warns about harmless axis-name merges.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=tuple(dynamic_shapes),
            opset_version=OPSET,
            optimize=True,
        )
    program.save(str(path), external_data=False)


def name_output_axes(path: Path, axes: Mapping[str, Mapping[int, str]]) -> None:
    """Name output axes that follow an input's dynamic axis, where the exporter kept the example's size.
    The intermediate shapes it recorded go too (they are hints, and hold that size as well)."""
    model = onnx.load(str(path))
    del model.graph.value_info[:]
    for output in model.graph.output:
        for axis, name in axes.get(output.name, {}).items():
            output.type.tensor_type.shape.dim[axis].dim_param = name
    onnx.save(model, str(path))


def tensor_specs(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output names, dtypes and shapes (dynamic axes by name) as recorded in the graph."""
    graph = onnx.load(str(path), load_external_data=False).graph

    def spec(value: onnx.ValueInfoProto) -> TensorSpec:
        tensor = value.type.tensor_type
        shape = tuple(d.dim_param or d.dim_value for d in tensor.shape.dim)
        return TensorSpec(name=value.name, dtype=_ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type)), shape=shape)

    return tuple(spec(v) for v in graph.input), tuple(spec(v) for v in graph.output)


def check_parity(
    module: torch.nn.Module,
    path: Path,
    cases: Sequence[Mapping[str, np.ndarray]],
    *,
    tolerance: float,
) -> float:
    """Run module and graph on every case; return the largest absolute difference, or raise past tolerance."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output_names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for case in cases:
        with torch.no_grad():
            expected = module(*(torch.from_numpy(v) for v in case.values()))
        expected = expected if isinstance(expected, tuple) else (expected,)
        actual = session.run(output_names, dict(case))
        for name, e, a in zip(output_names, expected, actual):
            if e.shape != a.shape:
                raise ParityError(f"{path.name}:{name} has shape {a.shape}, PyTorch gives {tuple(e.shape)}")
            diff = float(np.max(np.abs(e.numpy() - a))) if a.size else 0.0
            worst = max(worst, diff)
            if not diff <= tolerance:
                shapes = {k: v.shape for k, v in case.items()}
                raise ParityError(
                    f"{path.name}:{name} differs from PyTorch by {diff:.2e} > {tolerance:.0e} for inputs {shapes}"
                )
    log.info("%s matches PyTorch: max abs diff %.2e over %d cases", path.name, worst, len(cases))
    return worst
