"""`needledrop models build|info`: build the model bundle and describe the installed one."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

import msgspec

from engine import paths
from engine.backbones import MusicBackbone
from engine.bundle import Bundle, create_session, open_current_bundle
from engine.errors import NeedledropError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="build or inspect the model bundle")
    models_sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    build = models_sub.add_parser("build", help="build the bundle, rebuilding only missing or stale graphs")
    build.add_argument("--force", action="store_true", help="rebuild every graph")
    build.add_argument("--heads", help="a training checkpoint whose trained heads go into the bundle")
    build.add_argument("--default-heads", action="store_true", help="replace trained heads by the default ones")
    build.set_defaults(handler=build_command)

    info = models_sub.add_parser("info", help="bundle id, files, dimensions, execution provider, licences")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=info_command)


def build_command(args: argparse.Namespace) -> int:
    # Export needs torch, which the engine never imports: run the exporter in its own process.
    missing = [m for m in ("torch", "onnxscript", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise NeedledropError(
            f"building models needs the `train` extra ({', '.join(missing)} missing): pip install 'needledrop[train]'"
        )
    cmd = [sys.executable, "-m", "export_onnx", "build", "--models-dir", str(paths.models_dir())]
    if args.force:
        cmd.append("--force")
    if args.heads:
        cmd += ["--heads", args.heads]
    if args.default_heads:
        cmd.append("--default-heads")
    return subprocess.run(cmd).returncode


def describe(bundle: Bundle) -> dict:
    """Everything `models info` reports, as plain data."""
    manifest = bundle.manifest
    # The smallest graph is enough to learn which device sessions really get.
    smallest = min(manifest.graphs, key=lambda role: bundle.graph_path(role).stat().st_size)
    _, execution = create_session(bundle.graph_path(smallest))
    # The scan's backbone may run elsewhere: in bfloat16 through OpenVINO, where the CPU computes it.
    scan = MusicBackbone(bundle).execution

    def tensors(specs):
        return [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in specs]

    return {
        "bundle_id": bundle.id,
        "path": str(bundle.path),
        "schema_version": manifest.schema_version,
        "created": manifest.created,
        "needledrop_version": manifest.needledrop_version,
        "embedding_dim": manifest.embedding_dim,
        "execution": {
            "provider": execution.provider,
            "device": execution.device,
            "onnxruntime": f"{execution.ort_package} {execution.ort_version}",
            "intra_op_threads": execution.intra_op_threads,
            "note": execution.note,
            "music_backbone": scan.describe(),
        },
        "graphs": {
            role: {
                "file": g.file,
                "size_bytes": bundle.graph_path(role).stat().st_size,
                "sha256": g.sha256,
                "inputs": tensors(g.inputs),
                "outputs": tensors(g.outputs),
                "source": g.source,
                "parity_max_abs_diff": g.parity_max_abs_diff,
            }
            for role, g in manifest.graphs.items()
        },
        "files": {
            name: {"file": f.file, "size_bytes": bundle.file_path(name).stat().st_size, "sha256": f.sha256}
            for name, f in manifest.files.items()
        },
        "labels": {name: len(values) for name, values in manifest.labels.items()},
        "preprocessing": msgspec.to_builtins(manifest.preprocessing),
        "licences": [{"component": x.component, "licence": x.licence, "source": x.source} for x in manifest.licences],
        "metrics": manifest.metrics,
    }


def _shape(t: dict) -> str:
    return f"{t['name']} {t['dtype']}[{', '.join(str(d) for d in t['shape'])}]"


def _mb(size: int) -> str:
    return f"{size / 1e6:6.1f} MB"


def print_info(info: dict) -> None:
    ex = info["execution"]
    pre = info["preprocessing"]
    audio, video, text = pre["audio"], pre["video"], pre["text"]
    lines = [
        f"Bundle     {info['bundle_id']}",
        f"Location   {info['path']}",
        f"Built      {info['created']} by Needledrop {info['needledrop_version']} "
        f"(manifest schema {info['schema_version']})",
        f"Runs on    {ex['device'].upper()} via {ex['provider']} ({ex['onnxruntime']}, "
        f"{ex['intra_op_threads']} threads)" + (f"; {ex['note']}" if ex["note"] else ""),
        f"Scans on   {ex['music_backbone']}: the music backbone",
        f"Embedding  {info['embedding_dim'] or 'none yet (backbones only, no trained heads)'}",
        f"Audio      {audio['sample_rate']} Hz mono ({audio['downmix']} downmix), {audio['n_mels']} mel bands, "
        f"patches of {audio['patch_samples'] / audio['sample_rate']:g} s, segments of "
        f"{audio['segment_seconds']:g} s every {audio['segment_hop_seconds']:g} s",
        f"Video      {video['frame_rate']:g} frame/s, {video['frame_size']}x{video['frame_size']} "
        f"({video['resize']}), at most {video['max_frames']} frames per clip",
        f"Text       at most {text['max_tokens']} tokens",
        "",
        "Graphs",
    ]
    for role, g in info["graphs"].items():
        ins = ", ".join(_shape(t) for t in g["inputs"])
        outs = ", ".join(_shape(t) for t in g["outputs"])
        lines.append(f"  {role:<16} {_mb(g['size_bytes'])}  {g['file']}")
        lines.append(f"  {'':<16}   in:   {ins}")
        lines.append(f"  {'':<16}   out:  {outs}")
        lines.append(f"  {'':<16}   from: {g['source']}")
    lines.append("Files")
    for name, f in info["files"].items():
        lines.append(f"  {name:<16} {_mb(f['size_bytes'])}  {f['file']}")
    lines.append("Labels")
    for name, count in info["labels"].items():
        lines.append(f"  {name:<16} {count} names")
    lines.append("Licences")
    for x in info["licences"]:
        lines.append(f"  {x['component']}: {x['licence']} ({x['source']})")
    print("\n".join(lines))


def info_command(args: argparse.Namespace) -> int:
    info = describe(open_current_bundle(paths.models_dir()))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print_info(info)
    return 0
