"""`python -m export_onnx build`: what `needledrop models build` runs (in its own process, with torch)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from engine import paths
from engine.errors import NeedledropError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export_onnx")
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build or refresh the model bundle")
    build_cmd.add_argument("--models-dir", type=Path, default=None)
    build_cmd.add_argument("--force", action="store_true", help="rebuild every graph")
    build_cmd.add_argument("--heads", type=Path, help="a training checkpoint whose heads go into the bundle")
    build_cmd.add_argument("--default-heads", action="store_true", help="use the committed default heads")
    args = parser.parse_args(argv)

    # Our own progress at INFO; the exporter's optimizer passes narrate every rewrite at INFO too.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in ("export_onnx", "engine"):
        logging.getLogger(name).setLevel(logging.INFO)
    from export_onnx.build import build  # torch is imported only once the arguments are fine

    start = time.perf_counter()
    try:
        bundle, changed = build(
            args.models_dir or paths.models_dir(),
            paths.cache_dir(),
            force=args.force,
            heads=args.heads,
            default_heads=args.default_heads,
        )
    except NeedledropError as exc:
        print(f"needledrop: {exc}", file=sys.stderr)
        return 1
    verb = "built" if changed else "already up to date:"
    print(f"bundle {verb} {bundle.id} at {bundle.path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
