"""`python -m training COMMAND`: features, train, eval, ablate, synth. Also runs under torchrun:
`torchrun --nproc_per_node 2 -m training train --config ... --data ... --out ...`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from engine import paths
from engine.errors import NeedledropError
from training.errors import TrainingError

# Raised for what the user gave (a file that is not there or not a file, a bad manifest, too few videos),
# reported as one line; anything else is a bug and keeps its traceback.
USER_ERRORS = (NeedledropError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _open_bundle(models_dir: str | None):
    from engine.bundle import open_current_bundle

    return open_current_bundle(Path(models_dir) if models_dir else paths.models_dir())


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _config(args):
    from training.viml.config import load_config, replace

    config = load_config(args.config)
    bad = [item for item in args.set or [] if "=" not in item]
    if bad:
        raise TrainingError(f"--set {bad[0]}: expected KEY=VALUE, e.g. model.fusion=add")
    overrides = dict(item.split("=", 1) for item in args.set or [])
    return replace(config, **{k: _parse_value(v) for k, v in overrides.items()}) if overrides else config


def features_command(args) -> int:
    from engine.features import FeatureExtractor
    from training.data import planted, sources
    from training.data.cache import FeatureCache
    from training.data.featureset import build_featureset
    from training.textsynth import synthesizers

    methods = [m for m in (args.synth or "").split(",") if m]
    if args.manifest:  # a bad manifest is reported before the bundle is opened
        pairs = sources.pairs_from_manifest(args.manifest)
    bundle = _open_bundle(args.models_dir)
    if args.planted:
        media = Path(args.media or Path(args.out) / "media")
        pairs = planted.generate(media, args.planted, seed=args.seed, coverage=args.coverage)
    elif args.videos:
        pairs = sources.pairs_from_music_videos(args.videos, bundle.manifest.preprocessing.audio.segment_seconds)
    if not pairs:
        raise TrainingError(f"no pairs found in {args.videos or args.manifest}")
    cache = FeatureCache(args.cache or paths.cache_dir() / "features", FeatureExtractor(bundle))
    data = build_featureset(pairs, cache, args.out, synthesizers(methods, endpoint=args.endpoint))
    print(f"{len(data)} pairs, text methods: {', '.join(data.text_methods) or 'none'} -> {data.root}")
    return 0


def train_command(args) -> int:
    from training.train import train_distributed

    metrics = train_distributed(_config(args), args.data, args.out, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(metrics, indent=2))
    return 0


def eval_command(args) -> int:
    from training.checkpoint import load_model, untrained_like
    from training.data.featureset import FeatureSet
    from training.evaluate import evaluate, format_table

    model, state = load_model(args.checkpoint)
    data = FeatureSet(args.data or state["featureset"])
    split = state["split"]
    train_idx, held = data.split(split["holdout_fraction"], split["seed"])
    name = Path(args.checkpoint).parent.name
    if args.untrained:
        model = untrained_like(model, data, train_idx, seed=split["seed"])
        name += " (untrained)"
    results = evaluate(model, data, held, state["text_method"])
    print(format_table({name: results}))
    return 0


def ablate_command(args) -> int:
    from training.ablation import run_ablation

    table = run_ablation(_config(args), args.data, Path(args.out), progress=not args.quiet)
    print(table)
    return 0


def synth_command(args) -> int:
    from engine.features import FeatureExtractor
    from training.textsynth import summarize, synthesizers

    extractor = FeatureExtractor(_open_bundle(args.models_dir))
    summaries = []
    for path in args.music:
        music = extractor.music_file(path, args.start, args.start + extractor.pre.audio.segment_seconds)
        summaries.append(summarize(music, music.segments()[0], extractor.tag_names))
    for method, synthesize in synthesizers(args.method.split(","), endpoint=args.endpoint).items():
        for path, summary, text in zip(args.music, summaries, synthesize(summaries)):
            print(json.dumps({"music": path, "method": method, "text": text, "input": summary}, indent=None))
    return 0


def bootstrap_command(args) -> int:
    from engine.features import FeatureExtractor
    from training.bootstrap.corpus import build_media, make_pairs
    from training.data.cache import FeatureCache

    out = Path(args.out)
    build_media(
        out, renders=args.renders, loops=args.loops, feel_bases=args.feel_bases, clips=args.clips, seed=args.seed
    )
    cache = FeatureCache(args.cache or paths.cache_dir() / "features", FeatureExtractor(_open_bundle(args.models_dir)))
    manifest = make_pairs(out, cache, seed=args.seed, heldout=args.heldout, per_clip=args.per_clip)
    print(f"pairs manifest: {manifest}")
    return 0


def release_command(args) -> int:
    from training.checkpoint import release

    size = release(args.checkpoint, args.out)
    print(f"{args.out}: {size / 1e6:.1f} MB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--models-dir", help="where the model bundle is (default: the user's models folder)")
    sub = parser.add_subparsers(dest="command", required=True)

    f = sub.add_parser("features", help="compute (or reuse) base features and texts for a set of pairs")
    source = f.add_mutually_exclusive_group(required=True)
    source.add_argument("--videos", help="a folder of music videos: each video's soundtrack is its music")
    source.add_argument(
        "--manifest", help="CSV or JSONL: video, video_in, video_out, music, music_in, music_out[, text]"
    )
    source.add_argument("--planted", type=int, metavar="N", help="generate N planted-correspondence pairs")
    f.add_argument("--out", required=True, help="feature set folder to write")
    f.add_argument("--media", help="with --planted: where to write the generated media (default OUT/media)")
    f.add_argument("--coverage", type=float, default=0.9, help="with --planted: chance each attribute is in the text")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--synth", default="tags,data2text", help="text synthesis methods: tags, data2text, prompt2text")
    f.add_argument("--endpoint", help="OpenAI-compatible URL for prompt2text instead of the local SmolLM2")
    f.add_argument("--cache", help="feature cache folder (default: the user cache)")
    f.set_defaults(handler=features_command)

    for name, handler, text in (
        ("train", train_command, "train one experiment (resumes if OUT has a checkpoint)"),
        ("ablate", ablate_command, "train the ablation variants and write a markdown table"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="experiment JSON (training/configs/)")
        p.add_argument("--data", required=True, help="feature set folder")
        p.add_argument("--out", required=True, help="run folder")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. model.fusion=add")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(handler=handler)

    e = sub.add_parser("eval", help="held-out retrieval metrics of a checkpoint")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", help="feature set (default: the one it was trained on)")
    e.add_argument("--untrained", action="store_true", help="the same architecture before training, as a baseline")
    e.set_defaults(handler=eval_command)

    b = sub.add_parser("bootstrap", help="build the offline bootstrap corpus and its affect-paired manifest")
    b.add_argument("--out", required=True)
    b.add_argument("--renders", type=int, default=260, help="music21 works to arrange and render")
    b.add_argument("--loops", type=int, default=24, help="loop tracks from sonic-pi samples")
    b.add_argument("--feel-bases", type=int, default=16, help="pieces rendered calm/energetic x major/minor")
    b.add_argument("--clips", type=int, default=600, help="generated video clips")
    b.add_argument("--per-clip", type=int, default=3, help="music segments paired with each training clip")
    b.add_argument("--heldout", type=float, default=0.15, help="fraction of clips and of tracks held out")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--cache", help="feature cache folder (default: the user cache)")
    b.set_defaults(handler=bootstrap_command)

    r = sub.add_parser("release", help="strip a checkpoint to what export needs (weights, config, metrics)")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(handler=release_command)

    s = sub.add_parser("synth", help="show synthesised descriptions of music files next to their tags")
    s.add_argument("music", nargs="+")
    s.add_argument("--start", type=float, default=0.0, help="segment start in seconds")
    s.add_argument("--method", default="tags,data2text,prompt2text")
    s.add_argument("--endpoint", help="OpenAI-compatible URL for prompt2text")
    s.set_defaults(handler=synth_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("training").setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        print(f"training: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
