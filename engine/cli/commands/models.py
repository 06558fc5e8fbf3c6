"""`needledrop models build|info`: build the model bundle and describe the installed one."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

from engine import paths
from engine.errors import NeedledropError
from engine.facade import Engine


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
        *([f"Listens on {ex['drum_network']}: the drum network"] if ex.get("drum_network") else []),
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
    info = Engine.model_details()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print_info(info)
    return 0
